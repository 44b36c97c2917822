"""A throwaway Redis on loopback: a real redis-server when one is on PATH, else fakeredis.

The dry run serves each simulated ElastiCache endpoint with one of these, so PING and the
demo talk the real Redis protocol over a real socket. fakeredis's TCP server is the embedded
fallback for machines without redis-server.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from .processes import keep

LOOPBACK = "127.0.0.1"
PIDFILE = "redis.pid"


@dataclass
class LocalRedis:
    host: str
    port: int
    kind: str  # "redis-server" or "fakeredis"
    pid: Optional[int] = None
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def stop(self) -> None:
        self._stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")  # an array: fakeredis refuses inline commands
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis_server(binary: str, port: int, detach: bool, workdir: Optional[str]) -> LocalRedis:
    workdir = workdir or tempfile.mkdtemp(prefix="ops-redis-")
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
        "--pidfile",
        os.path.join(workdir, PIDFILE),
        "--protected-mode",
        "yes",
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=detach,
        umask=0o077,
    )  # its pid file (and anything else it writes) is the owner's only
    if detach:
        keep(proc)
    deadline = time.monotonic() + 10
    while not answers_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"redis-server did not start on {LOOPBACK}:{port}")
        time.sleep(0.02)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    return LocalRedis(LOOPBACK, port, "redis-server", proc.pid, stop)


def _start_fakeredis(port: int) -> LocalRedis:
    from fakeredis import TcpFakeServer

    server = TcpFakeServer((LOOPBACK, port))
    thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"fakeredis:{port}")
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return LocalRedis(LOOPBACK, port, "fakeredis", None, stop)


def local_redis_kind(prefer: Optional[str] = None) -> str:
    """What start_local_redis(prefer) starts: "redis-server" if it is on PATH, else
    "fakeredis" (the env var OPS_LOCAL_REDIS can force either)."""
    prefer = prefer or os.environ.get("OPS_LOCAL_REDIS") or None
    if prefer == "fakeredis":
        return "fakeredis"
    if shutil.which("redis-server"):
        return "redis-server"
    if prefer == "redis-server":
        raise RuntimeError("redis-server is not on PATH (install it, e.g. apt-get install redis-server)")
    return "fakeredis"


def start_local_redis(
    prefer: Optional[str] = None, detach: bool = False, port: Optional[int] = None, workdir: Optional[str] = None
) -> LocalRedis:
    """Start a Redis on loopback, on `port` or a free one, of local_redis_kind(prefer).

    detach: put redis-server in its own session so it outlives this process (for a
    simulated account shared between processes; the account's server hosts a fakeredis
    instead, see server.py); fakeredis runs in this process whatever detach says.
    workdir: redis-server's directory (it runs there and writes its pid to PIDFILE in it),
    a fresh temporary one if not given; it is removed by stop().
    """
    port = port or _free_port()
    if local_redis_kind(prefer) == "redis-server":
        return _start_redis_server(shutil.which("redis-server") or "redis-server", port, detach, workdir)
    return _start_fakeredis(port)
