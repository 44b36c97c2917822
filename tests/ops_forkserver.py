"""Warm ops processes for the tests: one process that has imported the ops CLI forks each
`python -m ops.cli ARGV` that a test starts.

    python tests/ops_forkserver.py --socket PATH      (conftest.py's session fixture: launch())

A cold `python -m ops.cli run ... --dry-run` spends about a second of CPU importing click,
boto3, botocore, redis and ops and parsing the service models before its first AWS call;
tests/test_crash_points.py alone starts 35 such processes. With OPS_TEST_CLI_FORKSERVER=PATH
in the environment, start() and run() ask this process instead. It forks a child that has
all that done already, and the child becomes `python -m ops.cli ARGV`: in the test's folder,
with the test's environment and nothing else (os.environ is replaced whole), with the
standard input, output and error the test gave (their descriptors are passed over the
socket), with the signal handlers a new interpreter has, running ops/cli.py as __main__ and
leaving as the interpreter would (non-daemon threads joined, atexit run, streams flushed).

The test is not the child's parent, so the connection that asked for the fork stays open:
the forkserver reaps the child and writes its exit status there (minus the signal number
when a signal ended it, as subprocess reports it), and start() hands back a WarmProcess,
which does what tests use of subprocess.Popen. When the forkserver is not there, or will
not fork for this caller (another network namespace: ops's account server would listen on
a loopback the caller cannot reach), start() starts ops cold, as before.

What a forked ops shares with a new interpreter, and what it does not: the forkserver forks
from its only thread (it reaps in that thread too); it imports only what a lab's dry run
imports itself (not moto, whose import adds a handler to every botocore session: the dry
run's account server is a process of its own, forked warm by ops/sim/forkserver.py through
OPS_SIM_FORKSERVER in the test's environment); it keeps no boto3 session or client (the
service models are parsed into ops.sim.sessions' shared loader by clients made and dropped
before the first fork); ops reads OPS_CRASH_AT and records its pid when it runs, not at
import. What stays the forkserver's is what an interpreter settles as it starts: the hash
seed (one for all its children), the PYTHON* variables' effects, and sys.path (but for its
first entry, the working folder as with -m), so a child finds the same ops as its parent.
"""

import argparse
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

from ops.sim.forkserver import private_listener
from ops.sim.warmstart import network_namespace

ENV_VAR = "OPS_TEST_CLI_FORKSERVER"
_POLL_SECONDS = 1.0  # how often the idle loop checks that its starter still runs

# What `ops run playbooks/lab.yaml --dry-run` and `ops teardown` import, most of it lazily
# (ops/cli.py imports a command's modules when the command runs), and the services whose
# models they parse.
_MODULES = (
    "ops.cli",
    "ops.commands.config",
    "ops.commands.lab",
    "ops.commands.dryrun_account",
    "ops.commands.status",
    "ops.engine.target",
    "ops.sim.world",
    "ops.sim.server",
    "ops.sim.hostcli",
    "tenacity",
    "ops.demo.run",
    "ops.crashpoints",
)
_SERVICES = ("cloud9", "dynamodb", "ec2", "elasticache", "iam", "s3", "scheduler", "ssm", "sts")


# --- the forkserver ---------------------------------------------------------------------------


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python tests/ops_forkserver.py")
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on")
    parser.add_argument(
        "--parent", type=int, help="the process whose end ends this one (default: the one that started it)"
    )
    args = parser.parse_args(argv)
    starter = args.parent or os.getppid()  # (given: no window in which its starter's end goes unseen)
    _warm()
    with private_listener(args.socket) as listener:
        _serve(listener, starter)


def _warm() -> None:
    import importlib

    for name in _MODULES:
        importlib.import_module(name)
    from ops.aws import DRY_RUN_DEFAULT_REGION
    from ops.sim.sessions import isolated_session
    from ops.steps import registry

    registry()  # every step type's module
    session = isolated_session(DRY_RUN_DEFAULT_REGION)
    for service in _SERVICES:  # each client parses its models into the shared loader, as ops's would
        client = session.client(service)
        client.can_paginate(next(iter(client.meta.method_to_api_mapping)))  # its paginators
        client.waiter_names  # and its waiters  # noqa: B018
        client.exceptions  # and its exception classes  # noqa: B018
    del session, client
    from ops.permissions import partition_of

    partition_of(DRY_RUN_DEFAULT_REGION)  # botocore's endpoint data, in the shared loader
    from moto.core.utils import get_service_model  # imported by the dry run's wire.py already

    for service in _SERVICES:  # what wire.py serializes the simulator's own answers with
        get_service_model(service)
    # Each child runs ops/cli.py afresh as __main__, as `python -m ops.cli` does, where
    # ops.cli is never imported (runpy would warn that it was).
    import ops

    del sys.modules["ops.cli"], ops.cli
    gc.collect()
    gc.freeze()  # what is here now stays shared with the children: their collector skips it


def _serve(listener: socket.socket, starter: int) -> None:
    waiting: Dict[int, socket.socket] = {}  # a running child's pid: the connection that asked for it
    wake, woken = os.pipe()  # SIGCHLD writes to `woken`, so that select() returns
    os.set_blocking(wake, False)
    os.set_blocking(woken, False)
    signal.signal(signal.SIGCHLD, _on_child)
    signal.set_wakeup_fd(woken)
    while os.getppid() == starter:
        ready, _, _ = select.select([listener, wake], [], [], _POLL_SECONDS)
        if wake in ready:
            while True:
                try:
                    os.read(wake, 512)
                except BlockingIOError:
                    break
        _report_ended(waiting)
        if listener in ready:
            _answer(listener, waiting, [wake, woken])


def _on_child(_signum, _frame) -> None:
    """Nothing: the wakeup descriptor does the work."""


def _answer(listener: socket.socket, waiting: Dict[int, socket.socket], pipe: List[int]) -> None:
    connection, _ = listener.accept()
    fds: List[int] = []
    try:
        connection.settimeout(30)
        _, fds, _, _ = socket.recv_fds(connection, 1, 3)
        request = json.loads(_Lines(connection).next(30))
        if len(fds) != 3 or request["network"] != network_namespace():
            connection.sendall(_line({"pid": None}))
            connection.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_ops(request, fds, sockets=[listener, connection, *waiting.values()], pipe=pipe)
        waiting[pid] = connection
        connection.sendall(_line({"pid": pid}))
    except (OSError, ValueError, KeyError, TypeError):
        if connection not in waiting.values():
            connection.close()
    finally:
        for fd in fds:
            os.close(fd)


def _report_ended(waiting: Dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = waiting.pop(pid, None)
        if connection is None:
            continue
        with connection:
            try:
                connection.sendall(_line({"status": os.waitstatus_to_exitcode(status)}))
            except OSError:
                pass  # the test stopped listening


def _become_ops(request: dict, fds: List[int], sockets: List[socket.socket], pipe: List[int]) -> None:
    """In the child: be `python -m ops.cli ARGV` in CWD with ENV on the given stdio, then exit."""
    status = 1
    try:
        signal.set_wakeup_fd(-1)
        for handled in signal.valid_signals():  # the forkserver's own handlers (SIGCHLD) go
            if callable(signal.getsignal(handled)) and signal.getsignal(handled) is not signal.default_int_handler:
                signal.signal(handled, signal.SIG_DFL)
        for held in sockets:
            held.close()
        for fd in pipe:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()  # where `python -m` looks first
        import tempfile

        tempfile.tempdir = None  # found again from this environment's TMPDIR on first use
        sys.stdout.reconfigure(line_buffering=sys.stdout.isatty())  # as a new interpreter decides it
        status = _run_as_main(request["argv"])
    except BaseException:  # noqa: B036 - anything at all: the child must not return into the forkserver's loop
        import traceback

        traceback.print_exc()
    finally:
        os._exit(status)


def _run_as_main(argv: List[str]) -> int:
    """`python -m ops.cli ARGV` from here on: its exit status, as the interpreter would make it."""
    import runpy

    sys.argv = ["-m", *argv]  # runpy puts ops/cli.py's path first, as -m does
    interrupted = False
    try:
        runpy.run_module("ops.cli", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as leaving:
        status = _exit_status(leaving.code)
    except BaseException as error:  # noqa: B036 - as the interpreter: print it, status 1
        interrupted = isinstance(error, KeyboardInterrupt)
        sys.excepthook(type(error), error, error.__traceback__)
        status = 1
    status = _finalize(status)
    if interrupted:  # an uncaught KeyboardInterrupt ends the interpreter by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return status


def _exit_status(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _finalize(status: int) -> int:
    """The interpreter's exit: wait for non-daemon threads, run the atexit functions, flush
    the standard streams (120 when stdout cannot take what is left)."""
    import atexit

    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except Exception as error:  # noqa: BLE001 - as the interpreter, which reports it and exits 120
        print(f"Exception ignored in: {sys.stdout!r}\n{type(error).__name__}: {error}", file=sys.stderr)
        status = 120
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    return status


# --- the test's side ------------------------------------------------------------------------------


def launch(socket_path: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """Start a forkserver on `socket_path` and wait until it answers (None env: this process's);
    it ends when the caller terminates it or ends."""
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--socket", socket_path, "--parent", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,  # a Ctrl-C to the test run does not end it before its session ends
    )
    assert process.stdout is not None
    if process.stdout.readline() != b"ready\n":
        process.kill()
        process.wait()
        process.stdout.close()
        raise RuntimeError("the ops forkserver did not start")
    return process


def command(argv) -> List[str]:
    return [sys.executable, "-m", "ops.cli", *map(str, argv)]


def start(
    argv,
    *,
    cwd,
    env: Dict[str, str],
    stdin=None,
    stdout=None,
    stderr=None,
    text: bool = False,
):
    """`python -m ops.cli ARGV` in `cwd` with exactly `env` (stdin, stdout, stderr, text as
    subprocess.Popen takes them): forked by the forkserver that ENV_VAR names when it answers
    (a WarmProcess), else started cold (a subprocess.Popen)."""
    path = os.environ.get(ENV_VAR)
    process = _forked(path, argv, cwd, env, (stdin, stdout, stderr), text) if path else None
    if process is not None:
        return process
    return subprocess.Popen(command(argv), cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text)


def run(argv, *, cwd, env: Dict[str, str], timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """subprocess.run(capture_output=True, text=True) of `python -m ops.cli ARGV`, warm when it can be."""
    with start(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


class WarmProcess:
    """An ops process forked by the forkserver: pid, poll, wait, communicate, send_signal,
    terminate, kill, stdout and stderr, and use in a with-block, as subprocess.Popen has them.
    Its exit status comes over the connection that asked for it."""

    def __init__(self, args, pid: int, lines: "_Lines", stdout, stderr):
        self.args = args
        self.pid = pid
        self.stdin = None
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: Optional[int] = None
        self._lines = lines
        self._readers: Optional[List[_Reader]] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self._status(0)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None:
            self._status(timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        return self.returncode

    def _status(self, timeout: Optional[float]) -> None:
        try:
            answer = self._lines.next(timeout)
        except TimeoutError:
            return
        if answer is None:
            raise RuntimeError(f"the ops forkserver ended before ops (pid {self.pid}) did: its exit status is lost")
        self.returncode = json.loads(answer)["status"]
        self._lines.close()

    def communicate(self, input=None, timeout: Optional[float] = None):
        if input is not None:
            raise ValueError("a WarmProcess's stdin is not a pipe")
        if self._readers is None:
            self._readers = [_Reader(stream) for stream in (self.stdout, self.stderr)]
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        out, err = (reader.data for reader in self._readers)
        return out, err

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: never signal a pid that may have been reused
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self) -> "WarmProcess":
        return self

    def __exit__(self, *exc) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


class _Reader(threading.Thread):
    """Reads one of the child's pipes to its end (communicate reads both at once)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.data = None
        if stream is not None:
            self.start()

    def run(self) -> None:
        with self.stream:
            self.data = self.stream.read()

    def join(self, timeout: Optional[float] = None) -> None:
        if self.stream is not None:
            super().join(timeout)


class _Lines:
    """JSON lines from a socket, one at a time: next() is a line, or None at its end."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.buffer = b""

    def next(self, timeout: Optional[float]) -> Optional[bytes]:
        """Raises TimeoutError if no whole line came within `timeout` (0: only what is there)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            self.connection.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
            try:
                chunk = self.connection.recv(4096)
            except BlockingIOError:
                raise TimeoutError from None
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def close(self) -> None:
        self.connection.close()


def _forked(path: str, argv, cwd, env: Dict[str, str], stdio, text: bool) -> Optional[WarmProcess]:
    """Ask the forkserver at `path` for ops: None if it cannot start one."""
    given: List[int] = []  # the descriptors the child gets, as it will have them
    theirs: List[int] = []  # those made here for it: closed here once passed
    ours: Dict[int, int] = {}  # the read ends of its stdout and stderr pipes
    connection = None
    try:
        for target, spec in enumerate(stdio):
            if spec == subprocess.PIPE and target > 0:
                ours[target], fd = os.pipe()
                theirs.append(fd)
            elif spec == subprocess.DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR)
                theirs.append(fd)
            elif spec == subprocess.STDOUT and target == 2:
                fd = given[1]
            elif spec is None:
                fd = target  # this process's own
            elif isinstance(spec, int) and spec >= 0:
                fd = spec
            elif hasattr(spec, "fileno"):
                fd = spec.fileno()
            else:
                return None  # (a stdin pipe) not needed by any test: cold
            given.append(fd)
        request = {"argv": [str(a) for a in argv], "cwd": str(cwd), "env": env, "network": network_namespace()}
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(30)
        connection.connect(path)
        socket.send_fds(connection, [b"\0"], given)
        connection.sendall(_line(request))
        lines = _Lines(connection)
        answer = lines.next(30)
        pid = json.loads(answer)["pid"] if answer is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        pid = None
    finally:
        for fd in theirs:
            os.close(fd)
    if pid is None:
        if connection is not None:
            connection.close()
        for fd in ours.values():
            os.close(fd)
        return None
    streams = [os.fdopen(ours[target], "r" if text else "rb") if target in ours else None for target in (1, 2)]
    return WarmProcess(command(argv), pid, lines, *streams)


def _line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


if __name__ == "__main__":
    main()
