"""The guard that keeps the suite on loopback must itself work."""

import socket

import pytest
from conftest import NetworkBlocked


def test_guard_refuses_non_loopback_and_records_it(loopback_only):
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    assert loopback_only == [("192.0.2.1", 443)]
    loopback_only.clear()  # this test made the attempt on purpose


def test_guard_refuses_names_that_need_dns(loopback_only):
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("elasticache.us-east-1.amazonaws.com", 443))
    loopback_only.clear()


def test_guard_allows_loopback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
