"""Security groups for the simulated endpoints: a loopback gate in front of each local Redis.

On AWS a cache node is reachable from an instance only if one of the node's security
groups admits the instance on the node's port (6379 by default): a rule naming one of the
instance's groups, or a CIDR holding its private address. Without that, packets are
dropped and the client times out. The lab's ingress step exists for exactly this.

Here SSM commands all run on this machine, so the gate tells them apart by process: each
command runs in its own process group, registered with the gate's `Attribution`; for an
incoming connection the gate finds the client socket's owner through /proc. A connection
from a command is judged against the rules moto holds at that moment; a refused one is
accepted at TCP level but never answered (as with dropped packets, reads time out).
Connections from any other process on this machine (a test, the operator's shell) pass:
they stand for access from inside the VPC. Where /proc is unavailable, everything passes.

A persistent account's gates run in its server process, not in the ops process whose
commands connect, so there the registrations are files (SharedAttribution).

A cluster with in-transit encryption gets a gate that speaks TLS (it terminates it, with the
world's certificate, see tls.py) and, with an AUTH token, answers like a Redis with
`requirepass`: until a client has sent AUTH with the token (or HELLO ... AUTH), every
command gets `-NOAUTH Authentication required.`, a wrong token `-WRONGPASS ...`. The check
is here rather than in the Redis behind the gate because fakeredis, the fallback, does not
enforce `requirepass`; one check serves both. A plain-text client of a TLS gate fails its
handshake and is disconnected, as with ElastiCache.
"""

import hmac
import ipaddress
import os
import select
import socket
import socketserver
import ssl
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .ec2 import instance_groups
from .local_redis import LOOPBACK

_HOLD_SECONDS = 30


class Attribution:
    """Which simulated instance a local process group stands for."""

    def __init__(self):
        self._groups: Dict[int, str] = {}
        self._lock = threading.Lock()

    def add(self, pgid: int, instance_id: str) -> None:
        with self._lock:
            self._groups[pgid] = instance_id

    def remove(self, pgid: int) -> None:
        with self._lock:
            self._groups.pop(pgid, None)

    def groups(self) -> Dict[int, str]:
        with self._lock:
            return dict(self._groups)

    def instance_for(self, client_port: int, server_port: int) -> Optional[str]:
        groups = self.groups()
        if not groups or not os.path.isdir("/proc"):
            return None
        inode = _socket_inode(client_port, server_port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                instance_id = groups.get(os.getpgid(int(entry)))
                if instance_id and any(
                    os.readlink(f"/proc/{entry}/fd/{fd}") == target for fd in os.listdir(f"/proc/{entry}/fd")
                ):
                    return instance_id
            except OSError:
                continue
        return None


class SharedAttribution(Attribution):
    """The same, kept as one file per process group in `directory`, so that a gate in
    another process (the persistent simulator's server) sees it. Entries of process groups
    that are gone (their ops process was killed mid-command) are dropped when read."""

    def __init__(self, directory: Path):
        self._dir = directory

    def add(self, pgid: int, instance_id: str) -> None:
        self._dir.mkdir(mode=0o700, exist_ok=True)
        temporary = self._dir / f".{pgid}"
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(instance_id)
        temporary.replace(self._dir / str(pgid))

    def remove(self, pgid: int) -> None:
        (self._dir / str(pgid)).unlink(missing_ok=True)

    def groups(self) -> Dict[int, str]:
        found = {}
        for entry in self._dir.glob("[0-9]*") if self._dir.is_dir() else ():
            try:
                os.killpg(int(entry.name), 0)
                found[int(entry.name)] = entry.read_text()
            except ProcessLookupError:
                entry.unlink(missing_ok=True)
            except OSError:
                continue
        return found


def _socket_inode(local_port: int, remote_port: int) -> Optional[str]:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if (
                        int(fields[1].rsplit(":", 1)[1], 16) == local_port
                        and int(fields[2].rsplit(":", 1)[1], 16) == remote_port
                    ):
                        return fields[9]
        except OSError:
            continue
    return None


def admits(ec2, group_ids, instance_id: str, port: int) -> bool:
    """Whether any of `group_ids` lets `instance_id` in on TCP `port`, per moto's EC2."""
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    if instance["State"]["Name"] != "running":
        return False
    sources = instance_groups(instance)
    address = ipaddress.ip_address(instance.get("PrivateIpAddress", "0.0.0.0"))
    for group in ec2.describe_security_groups(GroupIds=list(group_ids))["SecurityGroups"]:
        for rule in group.get("IpPermissions", []):
            if rule["IpProtocol"] not in ("tcp", "-1", "6"):
                continue
            if rule["IpProtocol"] != "-1" and not rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
                continue
            if any(pair.get("GroupId") in sources for pair in rule.get("UserIdGroupPairs", [])):
                return True
            if any(address in ipaddress.ip_network(r["CidrIp"]) for r in rule.get("IpRanges", [])):
                return True
    return False


class Gate:
    """A loopback listener forwarding to `target_port` when `allow(instance_id)` says so
    (instance_id None: a connection from outside any simulated instance)."""

    def __init__(
        self,
        target_port: int,
        attribution: Attribution,
        allow: Callable[[str], bool],
        tls: Optional[ssl.SSLContext] = None,
        password: Optional[str] = None,
        inline_commands: bool = False,
    ):
        """inline_commands: the Redis behind reads RESP arrays only (fakeredis), so the gate
        turns a client's inline commands (`PING\r\n`, as from nc) into arrays, which any
        Redis, ElastiCache's included, accepts."""
        gate = self
        self._tls = tls
        self._password = password
        self._inline_commands = inline_commands

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                gate._handle(self.request, self.client_address[1])

        self._target = target_port
        self._attribution = attribution
        self._allow = allow
        self._server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler, bind_and_activate=True)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]  # IPv4: (host, port)
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"ops-sim-gate:{self.port}",
        ).start()

    def _handle(self, client: socket.socket, client_port: int) -> None:
        instance_id = self._attribution.instance_for(client_port, self.port)
        if instance_id is not None and not self._admitted(instance_id):
            select.select([client], [], [], _HOLD_SECONDS)  # dropped: answer nothing
            return
        if self._tls is not None:
            client.settimeout(_HANDSHAKE_SECONDS)
            try:
                client = self._tls.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):
                return  # not TLS, or it gave up: ElastiCache closes such connections too
            client.settimeout(None)
        leftover: Optional[bytes] = b""
        if self._password is not None:
            try:
                leftover = authenticate(client, self._password)
            except (OSError, ValueError):
                return
            if leftover is None:
                return
        with socket.create_connection((LOOPBACK, self._target)) as upstream:
            try:
                _pump(client, upstream, leftover or b"", as_arrays=self._inline_commands)
            except ValueError:  # not Redis's protocol: a Redis closes such a connection too
                return

    def _admitted(self, instance_id: str) -> bool:
        try:
            return self._allow(instance_id)
        except Exception:  # noqa: BLE001 - the instance or a group vanished meanwhile: nothing gets through
            return False

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_HANDSHAKE_SECONDS = 10
NOAUTH = b"-NOAUTH Authentication required.\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"


def _pump(client: socket.socket, upstream: socket.socket, pending: bytes = b"", as_arrays: bool = False) -> None:
    """Pass bytes both ways until either side closes; `pending`: what the client sent
    already. as_arrays: the client's commands go on as RESP arrays (see Gate). One thread
    does both ways, so a TLS socket is never read and written at once."""
    unparsed = b""

    def to_upstream(data: bytes) -> None:
        nonlocal unparsed
        if as_arrays:
            commands, unparsed = _complete_commands(unparsed + data)
            data = b"".join(_encode(words) for words in commands if words)
        if data:
            upstream.sendall(data)

    to_upstream(pending)
    while True:
        readable, _, _ = select.select([client, upstream], [], [])
        for sock in readable:
            try:
                data = sock.recv(65536)
                # a TLS socket may hold decrypted bytes select() cannot see
                while data and isinstance(sock, ssl.SSLSocket) and sock.pending():
                    data += sock.recv(sock.pending())
            except (ssl.SSLError, ConnectionResetError):
                return
            if not data:
                return
            if sock is client:
                to_upstream(data)
            else:
                client.sendall(data)


def _complete_commands(buffer: bytes) -> Tuple[List[List[bytes]], bytes]:
    """The whole Redis commands at the start of `buffer` (RESP arrays, or inline: `PING\\r\\n`),
    each as its words, and what follows them. ValueError: not a Redis command."""
    commands: List[List[bytes]] = []
    while True:
        parsed = _one_command(buffer)
        if parsed is None:
            if len(buffer) > _MAX_COMMAND:
                raise ValueError("command too long")
            return commands, buffer
        words, buffer = parsed
        commands.append(words)


def _one_command(buffer: bytes) -> Optional[Tuple[List[bytes], bytes]]:
    """The first command in `buffer` and what follows it, or None if it is not all there."""
    line_end = buffer.find(b"\r\n")
    if line_end < 0:
        return None
    line, rest = buffer[:line_end], buffer[line_end + 2 :]
    if not line.startswith(b"*"):
        return line.split(), rest
    words = []
    for _ in range(int(line[1:])):
        size_end = rest.find(b"\r\n")
        if size_end < 0:
            return None
        size = int(rest[1:size_end])
        start = size_end + 2
        if len(rest) < start + size + 2:
            return None
        words.append(rest[start : start + size])
        rest = rest[start + size + 2 :]
    return words, rest


_MAX_COMMAND = 1 << 20


class _Commands:
    """Redis commands read off a socket, one at a time (see _complete_commands)."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.buffer = b""

    def next(self) -> List[bytes]:
        """The next command's words. EOFError: the client went away first."""
        while True:
            parsed = _one_command(self.buffer)
            if parsed is not None:
                words, self.buffer = parsed
                return words
            if len(self.buffer) > _MAX_COMMAND:
                raise ValueError("command too long")
            data = self._sock.recv(65536)
            if not data:
                raise EOFError
            self.buffer += data


def authenticate(client: socket.socket, password: str) -> Optional[bytes]:
    """Answer a client until it has authenticated, as Redis with `requirepass` does.

    Returns what the client sent after its AUTH (to pass on to the Redis), or None when it
    went away first. HELLO ... AUTH user pass is passed on without its AUTH part."""
    commands = _Commands(client)
    expected = password.encode()
    while True:
        try:
            words = commands.next()
        except EOFError:
            return None
        if not words:
            continue
        name = words[0].upper()
        if name == b"QUIT":
            client.sendall(b"+OK\r\n")
            return None
        if name == b"AUTH":
            if len(words) not in (2, 3):
                client.sendall(b"-ERR wrong number of arguments for 'auth' command\r\n")
                continue
            if _matches(words[1:], expected):
                client.sendall(b"+OK\r\n")
                return commands.buffer
            client.sendall(WRONGPASS)
            continue
        if name == b"HELLO":
            upper = [w.upper() for w in words]
            if b"AUTH" not in upper:
                client.sendall(
                    b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                    b"HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                    b"select the RESP protocol version at the same time\r\n"
                )
                continue
            at = upper.index(b"AUTH")
            if not _matches(words[at + 1 : at + 3], expected):
                client.sendall(WRONGPASS)
                continue
            rest = words[:at] + words[at + 3 :]
            return _encode(rest) + commands.buffer
        client.sendall(NOAUTH)


def _matches(credentials, expected: bytes) -> bool:
    """AUTH password, or AUTH default password (the only user a token-protected node has)."""
    if len(credentials) == 2 and credentials[0] != b"default":
        return False
    return bool(credentials) and hmac.compare_digest(credentials[-1], expected)


def _encode(words) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
