"""A warm start for simulator servers: one process that has imported moto forks each new one.

    python -m ops.sim.forkserver --socket PATH [--parent PID]

A simulator server (server.py) spends about three seconds of CPU importing moto's backends
and parsing their service models before it answers its first EC2 call. One dry run pays it
once; a test suite or a benchmark that opens hundreds of accounts pays it hundreds of times.
With OPS_SIM_FORKSERVER=PATH in the environment, SimServer asks this process instead of
starting `python -m ops.sim.server`: it forks a child that already has every import done,
and the child becomes that same server (server.main), in HOME, in a session of its own,
with the asker's environment, its output going to HOME's server log.

It forks from a single thread and keeps no moto backend when it forks (the server's apps are
made on a throwaway account, then dropped: moto_setup.preload), so every child starts from
an empty account. It ends when the process that started it ends.
"""

import argparse
import contextlib
import gc
import json
import os
import signal
import socket
import sys
from typing import Iterator

from .warmstart import network_namespace

_POLL_SECONDS = 1.0  # how often the idle loop checks that its starter still runs


def _serve(listener: socket.socket, starter: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    listener.settimeout(_POLL_SECONDS)
    while os.getppid() == starter:
        try:
            connection, _ = listener.accept()
        except socket.timeout:
            continue
        with connection:
            try:
                _answer(listener, connection)
            except (OSError, ValueError, KeyError):
                continue  # an asker that left (killed while it waited) or asked nothing readable


def _answer(listener: socket.socket, connection: socket.socket) -> None:
    """One asker's request: fork it a server, and say its pid. If the asker is gone by then
    (the answer cannot be sent), the server runs anyway, as a cold one its starter never
    heard from would: it records itself in its home, where the next process finds it."""
    connection.settimeout(30)
    request = json.loads(connection.makefile("rb").readline())
    if request["network"] != network_namespace():
        connection.sendall(json.dumps({"pid": None}).encode() + b"\n")
        return
    pid = os.fork()
    if pid == 0:
        listener.close()
        connection.close()
        _become_server(request)
    connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _become_server(request: dict) -> None:
    """In the child: detach as Popen(start_new_session=True) would, then run server.main."""
    status = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _reseed()
        os.setsid()
        os.chdir(request["home"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        from .server import main

        main(request["argv"])
        status = 0
    finally:
        sys.stderr.flush()
        os._exit(status)


def _reseed() -> None:
    """A fork shares its parent's random state: without this, every account would get the same
    "random" instance, group and rule ids, in the same order."""
    import random

    from moto.moto_api._internal import mock_random

    random.seed()
    mock_random.seed()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.sim.forkserver")
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on")
    parser.add_argument(
        "--parent", type=int, help="the process whose end ends this one (default: the one that started it)"
    )
    args = parser.parse_args(argv)
    starter = args.parent or os.getppid()  # (given: no window in which its starter's end goes unseen)

    from . import moto_setup, server  # noqa: F401  (imported here so that every child has them)

    moto_setup.preload()
    # What preload made stays as it is in every child: frozen, the children's collector skips
    # it. Unfrozen, a child's first full collection walks all of moto and botocore's models
    # (a new account's IAM backend, a few thousand objects, set one off: 0.3 s of CPU).
    gc.collect()
    gc.freeze()
    with private_listener(args.socket) as listener:
        _serve(listener, starter)


@contextlib.contextmanager
def private_listener(path: str) -> Iterator[socket.socket]:
    """A Unix socket at `path` that only this user may connect to, listening; says "ready" on
    stdout, which is what the one who started the forkserver waits for."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        os.chmod(path, 0o600)
        listener.listen(16)
        print("ready", flush=True)
        yield listener


if __name__ == "__main__":
    main()
