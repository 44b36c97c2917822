"""The persistent simulated account's server: moto on loopback, plus the endpoints' gates.

    python -m ops.sim.server --home HOME [--managed-policies]

runs, detached from whichever ops process started it, in HOME: moto's server (EC2, IAM,
DynamoDB, STS, SSM's non-faked calls) on a free 127.0.0.1 port, announced in
HOME/server.json once it listens. It also hosts the loopback gates in front of the
clusters' Redis servers (see network.py), so an endpoint keeps its port and its security
group checks between ops processes; gates are opened and closed through /_ops/ paths
beside moto's API, and judge connections against this server's own EC2 state.

`SimServer.find_or_start(home)` is the ops side: the running server for HOME, or a new one.
Its state lives only in memory: when the server process ends, the account's EC2, IAM and
DynamoDB resources end with it.

Each new server gets keys of its own (HOME/credentials.json) and answers only requests
signed with them, /_ops/ calls included (account_keys.py). Everything it and the Redis it
starts write in HOME is the owner's only (umask 077).

A server whose account was discarded ends itself: once HOME/server.json no longer names it
(HOME removed, by `ops sim reset` or by hand, or a new server announced there), nothing
could find it again to end it, and it would run until the machine stops. When HOME was
removed it ends the Redis servers still running inside it first, for the same reason.
"""

import argparse
import dataclasses
import fcntl
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, Optional

from botocore.config import Config

from . import warmstart
from .account_keys import AccountKeys, make_keys, read_keys, refusal, signed_headers
from .local_redis import LOOPBACK, LocalRedis, start_local_redis
from .network import Gate, SharedAttribution, admits
from .processes import alive, belongs_to, end_processes_left_in_removed_folder, keep, terminate
from .sessions import isolated_session

SERVER_FILE, SERVER_LOCK, SERVER_LOG = "server.json", "server.lock", "server.log"
_START_SECONDS = 60
_CHECK_SECONDS = 1.0  # how often the server checks that its account still names it, busy or idle


class SimServerError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class SimServer:
    home: Path
    pid: int
    port: int
    id: str  # tells this server's life apart from an earlier one's on the same home
    keys: Optional[AccountKeys] = dataclasses.field(default=None, repr=False)  # what it answers to

    @classmethod
    def find_or_start(cls, home: Path, managed_policies: bool) -> "SimServer":
        """The server already running for `home`, or a new detached one (one at a time:
        concurrent callers wait on HOME/server.lock)."""
        with os.fdopen(_private_file(home / SERVER_LOCK, os.O_RDWR), "r+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return cls.find(home) or cls._start(home, managed_policies)

    @classmethod
    def find(cls, home: Path) -> Optional["SimServer"]:
        try:
            server = cls(home=home, **json.loads((home / SERVER_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not (alive(server.pid) and belongs_to(server.pid, home)):
            return None
        try:
            server = dataclasses.replace(server, keys=read_keys(home))
        except (OSError, ValueError, KeyError) as e:
            raise SimServerError(
                f"the keys of the simulator server for {home} (pid {server.pid}) are unreadable: "
                f"{e}; see {home / SERVER_LOG}"
            ) from e
        try:
            server.call("GET", "/_ops/ping")
        except (OSError, SimServerError) as e:  # starting a second one would lose the account
            raise SimServerError(
                f"the simulator server for {home} (pid {server.pid}) does not answer: {e}; see {home / SERVER_LOG}"
            ) from e
        return server

    @classmethod
    def _start(cls, home: Path, managed_policies: bool) -> "SimServer":
        (home / SERVER_FILE).unlink(missing_ok=True)
        make_keys(home)  # a new server, a new account: keys of its own
        argv = ["--home", str(home)] + (["--managed-policies"] if managed_policies else [])
        # it runs in home, so ops must be importable from where this process found it
        source = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
        warm = os.environ.get(warmstart.ENV_VAR)
        with os.fdopen(_private_file(home / SERVER_LOG, os.O_WRONLY | os.O_APPEND), "ab") as log:
            pid = warmstart.fork_server(warm, home, argv, env, home / SERVER_LOG) if warm else None
            if pid is None:
                process = subprocess.Popen(
                    [sys.executable, "-m", "ops.sim.server", *argv],
                    cwd=home,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
                keep(process)
                pid = process.pid
        deadline = time.monotonic() + _START_SECONDS
        while True:
            server = cls.find(home)
            if server is not None and server.pid == pid:
                return server
            if not alive(pid) or time.monotonic() > deadline:
                terminate(pid)
                raise SimServerError(f"the simulator server did not start; see {home / SERVER_LOG}")
            time.sleep(0.02)

    def call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        """One request, signed with the account's keys, to the server's own /_ops/ API (no
        proxy, loopback only)."""
        if self.keys is None:  # find() reads them before the first call
            raise SimServerError(f"the simulator server for {self.home} was called without its keys")
        data = json.dumps(body or {}).encode()
        headers = signed_headers(
            self.keys, method, f"http://{LOOPBACK}:{self.port}{path}", data, {"Content-Type": "application/json"}
        )
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise SimServerError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload)

    def open_gate(
        self,
        key: str,
        target_port: int,
        group_ids,
        port: int,
        region: str,
        tls: Optional[dict] = None,
        password: Optional[str] = None,
        inline_commands: bool = False,
    ) -> int:
        """A gate (or the one already open under `key`) in front of `target_port`: its port.
        tls: {cert, key} file paths for a TLS gate; password: the AUTH token it requires;
        inline_commands: see Gate."""
        return self.call(
            "PUT",
            "/_ops/gate",
            {
                "key": key,
                "target_port": target_port,
                "group_ids": list(group_ids),
                "port": port,
                "region": region,
                "tls": tls,
                "password": password,
                "inline_commands": inline_commands,
            },
        )["port"]

    def close_gate(self, key: str) -> None:
        self.call("DELETE", "/_ops/gate", {"key": key})

    def start_fakeredis(self, key: str, port: Optional[int]) -> int:
        """A fakeredis (or the one already running under `key`) hosted by this server, so
        that, like a detached redis-server, it and its data outlive the ops process: its
        port (`port` if it is free)."""
        return self.call("PUT", "/_ops/fakeredis", {"key": key, "port": port})["port"]

    def stop_fakeredis(self, key: str) -> None:
        self.call("DELETE", "/_ops/fakeredis", {"key": key})


def _private_file(path: Path, flags: int) -> int:
    """A descriptor of `path`, created if need be, readable by the owner only."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return fd


# the server process


class _Gates:
    """The gates this server hosts, by key (a cluster id)."""

    def __init__(self, home: Path, keys: AccountKeys):
        self.attribution = SharedAttribution(home / "attribution")
        self.keys = keys
        self.port: Optional[int] = None  # this server's, for the EC2 lookups behind each admission
        self._gates: Dict[str, Gate] = {}
        self._lock = threading.Lock()

    def open(
        self,
        key: str,
        target_port: int,
        group_ids,
        port: int,
        region: str,
        tls: Optional[dict] = None,
        password: Optional[str] = None,
        inline_commands: bool = False,
    ) -> int:
        from .tls import server_context

        with self._lock:
            if key not in self._gates:
                ec2 = isolated_session(region, keys=self.keys).client(
                    "ec2", endpoint_url=f"http://{LOOPBACK}:{self.port}", config=Config(proxies={})
                )
                self._gates[key] = Gate(
                    target_port,
                    self.attribution,
                    lambda instance_id: admits(ec2, group_ids, instance_id, port),
                    tls=server_context(tls["cert"], tls["key"]) if tls else None,
                    password=password,
                    inline_commands=inline_commands,
                )
            return self._gates[key].port

    def close(self, key: str) -> None:
        with self._lock:
            gate = self._gates.pop(key, None)
        if gate is not None:
            gate.stop()


class _FakeRedises:
    """The fakeredis servers this server hosts for a machine without redis-server, by key
    (a cluster id)."""

    def __init__(self):
        self._servers: Dict[str, LocalRedis] = {}
        self._lock = threading.Lock()

    def start(self, key: str, port: Optional[int]) -> int:
        with self._lock:
            if key not in self._servers:
                try:
                    self._servers[key] = start_local_redis(prefer="fakeredis", port=port)
                except OSError:  # that port is taken now: the endpoint's gate follows the new one
                    self._servers[key] = start_local_redis(prefer="fakeredis")
            return self._servers[key].port

    def stop(self, key: str) -> None:
        with self._lock:
            redis = self._servers.pop(key, None)
        if redis is not None:
            redis.stop()


class _App:
    """WSGI: requests signed with the account's keys only; then /_ops/ for the simulator,
    everything else to moto."""

    def __init__(self, moto_app, gates: _Gates, keys: AccountKeys, request_lock):
        self.moto_app = moto_app
        self.gates = gates
        self.fakeredises = _FakeRedises()
        self.keys = keys
        self.request_lock = request_lock  # moto_setup.REQUEST_LOCK: requests are atomic, as AWS's are

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        data = _read_body(environ)
        refused = refusal(self.keys, environ, data)
        if refused is not None:
            status, headers, payload = refused
            start_response(status, headers)
            return [payload]
        if not path.startswith("/_ops/"):
            with self.request_lock:
                return self.moto_app(environ, start_response)
        body = json.loads(data or b"{}")
        if (method, path) == ("GET", "/_ops/ping"):
            result = {"pid": os.getpid()}
        elif (method, path) == ("PUT", "/_ops/gate"):
            result = {"port": self.gates.open(**body)}
        elif (method, path) == ("DELETE", "/_ops/gate"):
            self.gates.close(body["key"])
            result = {}
        elif (method, path) == ("PUT", "/_ops/fakeredis"):
            result = {"port": self.fakeredises.start(body["key"], body["port"])}
        elif (method, path) == ("DELETE", "/_ops/fakeredis"):
            self.fakeredises.stop(body["key"])
            result = {}
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"unknown /_ops/ call"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(result).encode()]


def _read_body(environ) -> bytes:
    """The request's body (to check its signature), left readable for moto: the server's
    handler (keepalive.py) has read it whole into a stream it can rewind."""
    stream = environ["wsgi.input"]
    body = stream.read()
    stream.seek(0)
    return body


def _announce(home: Path, port: int) -> str:
    """Listening: say where, and under an id of this server's own (see SimServer.id)."""
    temporary, server_id = home / f".{SERVER_FILE}", uuid.uuid4().hex
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(json.dumps({"pid": os.getpid(), "port": port, "id": server_id}))
    temporary.replace(home / SERVER_FILE)
    return server_id


def _still_announced(server_id: str) -> bool:
    """Does HOME/server.json name this server? (Read from the working directory, HOME
    itself: a HOME moved elsewhere is still this account, a removed one reads as nothing.)"""
    try:
        announced = json.loads(Path(SERVER_FILE).read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # unreadable for now (out of file descriptors, say): not a reason to end
    return not isinstance(announced, dict) or announced.get("id") == server_id


def _serve_while_announced(server, server_id: str) -> None:
    """serve_forever, until HOME/server.json stops naming this server: checked every
    _CHECK_SECONDS or so, busy or idle (socketserver's loop turns at every connection, and
    reading the file at each turn was 0.6% of the test suite's CPU)."""
    next_check = time.monotonic()

    def check() -> None:
        nonlocal next_check
        if time.monotonic() < next_check:
            return
        next_check = time.monotonic() + _CHECK_SECONDS
        if not _still_announced(server_id):
            end_processes_left_in_removed_folder()  # a removed HOME's Redis servers
            _exit_now()

    server.service_actions = check  # socketserver calls it at every turn of serve_forever
    server.serve_forever(poll_interval=_CHECK_SECONDS)


def _exit_now(*_) -> None:
    """On SIGTERM: nothing to save (the state was only ever in memory), so skip the
    interpreter's slow teardown of moto."""
    sys.stderr.flush()
    os._exit(0)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.sim.server")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument(
        "--managed-policies", action="store_true", help="load the AWS managed IAM policies, as a real account has them"
    )
    args = parser.parse_args(argv)
    os.umask(0o077)  # what this process and its children write in HOME is the owner's only
    keys = read_keys(args.home)

    from moto.core.config import default_user_config
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.serving import make_server

    from . import moto_setup
    from .keepalive import KeepAliveHandler

    default_user_config["iam"].update(moto_setup.configure(args.managed_policies)["iam"])
    requests = logging.getLogger("werkzeug")
    requests.setLevel(logging.WARNING)  # the log is for errors, not every request
    requests.addHandler(logging.StreamHandler())  # else werkzeug adds its own, importing colorama on the way
    gates = _Gates(args.home, keys)
    app = _App(DomainDispatcherApplication(moto_setup.backend_app), gates, keys, moto_setup.REQUEST_LOCK)
    server = make_server(LOOPBACK, 0, app, threaded=True, request_handler=KeepAliveHandler)
    gates.port = server.server_port
    os.environ["MOTO_PORT"] = str(server.server_port)  # moto builds some URLs from it
    signal.signal(signal.SIGTERM, _exit_now)
    _serve_while_announced(server, _announce(args.home, server.server_port))


if __name__ == "__main__":
    main()
