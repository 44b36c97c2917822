"""The gate in front of a fakeredis (the fallback without redis-server) passes a client's
commands on as RESP arrays, whatever form they come in and however the bytes are cut."""

import socket

import pytest

from ops.sim.local_redis import LOOPBACK, start_local_redis
from ops.sim.network import Attribution, Gate

# inline, then an array whose value holds CR LF, then inline again
SENT = b"SET k v\r\n*3\r\n$3\r\nSET\r\n$4\r\nkey2\r\n$6\r\na\r\nb\r\n\r\n*2\r\n$3\r\nGET\r\n$4\r\nkey2\r\nPING\r\n"
ANSWERED = b"+OK\r\n+OK\r\n$6\r\na\r\nb\r\n\r\n+PONG\r\n"


@pytest.fixture
def gate():
    redis = start_local_redis(prefer="fakeredis")
    gate = Gate(redis.port, Attribution(), lambda instance_id: True, inline_commands=True)
    yield gate
    gate.stop()
    redis.stop()


@pytest.mark.parametrize("piece", [len(SENT), 7, 1])
def test_commands_reach_fakeredis_whole_however_the_bytes_are_cut(gate, piece):
    with socket.create_connection((LOOPBACK, gate.port), timeout=5) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for at in range(0, len(SENT), piece):
            client.sendall(SENT[at : at + piece])
        answered = b""
        while len(answered) < len(ANSWERED):
            data = client.recv(4096)
            assert data, answered
            answered += data
    assert answered == ANSWERED


def test_what_is_not_redis_protocol_closes_the_connection(gate):
    with socket.create_connection((LOOPBACK, gate.port), timeout=5) as client:
        client.sendall(b"*x\r\n")
        assert client.recv(64) == b""
