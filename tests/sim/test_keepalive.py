"""The persistent account's server keeps each connection open for the client's next request
(ops/sim/keepalive.py): calls share one connection, answers carry their length (HEAD and
error answers too), a client that asks to close is answered and closed, and a request the
server fails on closes its connection."""

import http.client
import json
import threading

import pytest
from werkzeug.serving import make_server

from ops.clock import VirtualClock
from ops.sim.account_keys import signed_headers
from ops.sim.keepalive import KeepAliveHandler
from ops.sim.local_redis import LOOPBACK
from ops.sim.world import SimWorld


@pytest.fixture
def world(tmp_path):
    world = SimWorld(VirtualClock(), home=tmp_path / "account").start()
    yield world
    world.stop()
    SimWorld.destroy(tmp_path / "account")


def ping(world, connection: http.client.HTTPConnection, headers=None):
    url = f"http://{LOOPBACK}:{world.server.port}/_ops/ping"
    signed = signed_headers(
        world.server.keys, "GET", url, b"{}", {"Content-Type": "application/json", **(headers or {})}
    )
    connection.request("GET", "/_ops/ping", body=b"{}", headers=signed)
    response = connection.getresponse()
    return response, response.read()


def test_requests_share_one_connection_and_each_answer_says_its_length(world):
    connection = http.client.HTTPConnection(LOOPBACK, world.server.port, timeout=10)
    try:
        first, body = ping(world, connection)
        sock = connection.sock
        assert first.status == 200 and json.loads(body) == {"pid": world.server.pid}
        assert first.getheader("Content-Length") == str(len(body)) and not first.will_close
        connection.request("GET", "/_ops/ping")  # unsigned: refused, on the same connection
        refused = connection.getresponse()
        assert refused.status == 403 and refused.read() and not refused.will_close
        again, _ = ping(world, connection)
        assert again.status == 200 and connection.sock is sock  # never reconnected
    finally:
        connection.close()


def test_a_client_that_asks_to_close_is_answered_and_closed(world):
    connection = http.client.HTTPConnection(LOOPBACK, world.server.port, timeout=10)
    try:
        response, body = ping(world, connection, {"Connection": "close"})
        assert response.status == 200 and json.loads(body)["pid"] == world.server.pid
        assert response.will_close and response.getheader("Connection") == "close"
    finally:
        connection.close()


def test_calls_through_the_sdk_reuse_the_connection_and_head_answers_have_no_body(world):
    session = world.session()
    s3, ec2 = session.client("s3"), session.client("ec2")
    s3.create_bucket(Bucket="kept-open")
    s3.put_object(Bucket="kept-open", Key="k", Body=b"x" * 5000)
    head = s3.head_object(Bucket="kept-open", Key="k")
    assert head["ContentLength"] == 5000
    for _ in range(5):
        assert ec2.describe_vpcs()["Vpcs"]
        assert s3.get_object(Bucket="kept-open", Key="k")["Body"].read() == b"x" * 5000
    manager = world.transport._http._manager
    pools = [manager.pools[key] for key in manager.pools.keys()]
    assert len(pools) == 1 and pools[0].num_connections == 1  # 15 calls, one connection


@pytest.fixture
def echo_server():
    """The handler in a server of its own, with an application that echoes the body it was
    given, or fails when asked to."""

    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        if body == b"fail":
            raise RuntimeError("failed as asked")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "keep-alive")])
        return [b"got ", body]

    server = make_server(LOOPBACK, 0, app, threaded=True, request_handler=KeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_chunked_body_is_read_whole_and_the_next_request_follows_on_the_connection(echo_server):
    connection = http.client.HTTPConnection(LOOPBACK, echo_server.server_port, timeout=10)
    try:
        connection.request("POST", "/", body=iter([b"one ", b"two"]), encode_chunked=True)
        first = connection.getresponse()
        assert first.read() == b"got one two" and first.getheader("Connection") is None
        sock = connection.sock
        connection.request("POST", "/", body=b"three")
        assert connection.getresponse().read() == b"got three" and connection.sock is sock
    finally:
        connection.close()


def test_a_request_the_application_fails_on_is_answered_500_and_closes_the_connection(echo_server, capfd):
    connection = http.client.HTTPConnection(LOOPBACK, echo_server.server_port, timeout=10)
    try:
        connection.request("POST", "/", body=b"fail")
        failed = connection.getresponse()
        assert failed.status == 500 and failed.will_close and failed.read() == b"error"
    finally:
        connection.close()
    assert "RuntimeError: failed as asked" in capfd.readouterr().err
