"""Every command that talks to AWS, pointed at an endpoint that cannot be reached or that
refuses the credentials: one paragraph naming the endpoint (or the refused call) and what to
do, the exit code docs/commands.md gives, fast, and never "internal error" or a traceback.

Real mode (no --dry-run) throughout: AWS_ENDPOINT_URL points at a loopback port nothing
listens on, or at a tiny loopback server that answers every request with an AWS error. The
labs that status, teardown and sweep --expired look at are made first by a real run against
the moto emulator (conftest's `emulator`), then the endpoint goes away.
"""

import json
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from harness import move_calendar

from ops.cli import cli

PLAYBOOK = """\
name: far-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: far-${{ run.id }}
"""
CACHE_PLAYBOOK = """\
name: far-cache
steps:
  - name: redis
    type: elasticache.cluster
    with:
      cluster_id: far-${{ run.id }}
      node_type: cache.t3.micro
"""
STATE = "s3://ops-records-test/team"
BOUND = 20.0  # seconds: generous, but well under the 22 s a single call took before


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def closed_endpoint(monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    return url


@pytest.fixture(scope="module")
def kept_lab(tmp_path_factory, quick_switch_config):
    """The .ops folder of a lab kept up (--keep) by a real run against the emulator, its TTL
    passed (the dead man's switch's waits short, as conftest's `emulator` makes them)."""
    from moto.server import ThreadedMotoServer

    folder = tmp_path_factory.mktemp("kept")
    (folder / "lab.yaml").write_text(PLAYBOOK)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "OPS_CONFIG": str(quick_switch_config),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            result = CliRunner().invoke(cli, ["run", "lab.yaml", "--keep", "--ttl", "1s", "--yes"])
        finally:
            server.stop()
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def with_kept_lab(kept_lab, workdir, monkeypatch):
    move_calendar(monkeypatch, 2)  # the --ttl has passed: sweep --expired wants it gone
    shutil.copytree(kept_lab / ".ops", workdir / ".ops")
    shutil.copy(kept_lab / "lab.yaml", workdir / "lab.yaml")
    return workdir


def invoke(args):
    started = time.monotonic()
    result = CliRunner().invoke(cli, args)
    return result, time.monotonic() - started


def assert_explained(result, seconds, code, *named):
    text = result.output  # stdout and stderr
    shown = f"exit {result.exit_code} after {seconds:.1f}s:\n{text}"
    assert result.exit_code == code, shown
    assert "internal error" not in text and "Traceback" not in text, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    for part in named:
        assert part in text, shown
    assert seconds < BOUND, shown


NEEDS_NO_RECORD = [
    ["plan", "lab.yaml"],
    ["sweep"],
    ["sweep", "--yes", "--older-than", "1m"],
    ["run", "lab.yaml", "--yes"],
    ["status", "--state", STATE],
    ["unlock", "far-lab", "--yes", "--state", STATE],
    ["state", "pull", "far-lab", "--state", STATE],
]


@pytest.mark.parametrize("args", NEEDS_NO_RECORD, ids=" ".join)
def test_a_command_says_the_endpoint_cannot_be_reached(args, closed_endpoint, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    result, seconds = invoke(args)
    assert_explained(result, seconds, 1, closed_endpoint.split("//")[1])
    if "--state" in args:
        assert "S3 could not be reached" in result.output and "Check the network" in result.output
    else:
        assert f"could not reach AWS at {closed_endpoint}/: [Errno 111] Connection refused." in result.output
        assert f"AWS_ENDPOINT_URL={closed_endpoint} sends every call there" in result.output


def test_run_stops_before_anything_is_recorded(closed_endpoint, workdir):
    """Its first question (is the node type offered?) finds no endpoint: no step starts."""
    (workdir / "cache.yaml").write_text(CACHE_PLAYBOOK)
    result, seconds = invoke(["run", "cache.yaml", "--yes", "--output", "json"])
    assert_explained(result, seconds, 1)
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()] == ["error"]
    error = json.loads(result.stdout)
    assert error["exit_code"] == 1 and error["message"].startswith(f"could not reach AWS at {closed_endpoint}/")
    assert not (workdir / ".ops/state").exists() or not list((workdir / ".ops/state").iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["teardown", "lab.yaml"],
        ["sweep", "--expired", "--yes"],
        ["state", "push", "far-lab", "--state", STATE],
    ],
    ids=" ".join,
)
def test_a_command_on_a_recorded_lab_says_the_endpoint_cannot_be_reached(args, with_kept_lab, closed_endpoint):
    result, seconds = invoke(args)
    assert_explained(result, seconds, 1, closed_endpoint.split("//")[1])
    if args[0] in ("teardown", "sweep"):  # the record keeps the table for the next try
        assert "teardown incomplete" in result.output and "dynamodb-table far-" in result.output
        record = json.loads((with_kept_lab / ".ops/state/far-lab.json").read_text())
        # the table and its dead man's switch, all still recorded as created
        assert {r["status"] for r in record["resources"]} == {"created"}
        assert "dynamodb-table" in {r["kind"] for r in record["resources"]}


def test_doctor_reports_the_endpoint_as_its_first_problem(closed_endpoint, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    result, seconds = invoke(["doctor", "lab.yaml", "--output", "json"])
    assert_explained(result, seconds, 1)
    report = json.loads(result.stdout)
    assert report["ready"] is False
    assert report["findings"] == [{"level": "problem", "text": report["verdict"].split("Fix first: ")[1]}]
    assert report["findings"][0]["text"].startswith(f"could not reach AWS at {closed_endpoint}/")


def test_commands_that_need_no_aws_work_without_it(closed_endpoint, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    for args in (["validate", "lab.yaml"], ["iam-policy", "lab.yaml", "--state", STATE], ["steps"], ["schema"]):
        result, seconds = invoke(args)
        assert result.exit_code == 0 and seconds < BOUND, (args, result.output)


def test_an_endpoint_that_never_accepts_is_given_up_within_seconds(monkeypatch, workdir):
    """A listener whose queue is full drops new connections: the connect timeout, not a refusal."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        queued.append(sock)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    try:
        result, seconds = invoke(["plan", "lab.yaml"])
    finally:
        for sock in queued + [listener]:
            sock.close()
    assert_explained(result, seconds, 1, f"could not reach AWS at http://127.0.0.1:{port}/")
    assert "timed out" in result.output


class RefusingAws(BaseHTTPRequestHandler):
    """Answers every AWS request with one error, in the request's protocol."""

    code = "InvalidClientTokenId"
    message = "The security token included in the request is invalid."

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Amz-Target"):  # JSON protocol (DynamoDB, Cloud9...)
            code = {"InvalidClientTokenId": "UnrecognizedClientException"}.get(self.code, self.code + "Exception")
            body, kind = json.dumps({"__type": f"com.amazon.coral#{code}", "message": self.message}), "json"
        else:  # query protocol (STS, IAM, ElastiCache)
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{self.code}</Code><Message>{self.message}"
                "</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
            )
            kind = "xml"
        data = body.encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/x-amz-json-1.0" if kind == "json" else "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_endpoint(monkeypatch, request):
    handler = type("Handler", (RefusingAws,), {"code": request.param[0], "message": request.param[1]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    yield request.param[0]
    server.shutdown()
    server.server_close()


REFUSALS = [
    ("InvalidClientTokenId", "The security token included in the request is invalid."),
    ("AccessDenied", "User: arn:aws:iam::123456789012:user/dev is not authorized to perform this action"),
]


@pytest.mark.parametrize("refusing_endpoint", REFUSALS, indirect=True, ids=lambda p: p[0])
def test_plan_says_aws_refused_the_credentials(refusing_endpoint, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    result, seconds = invoke(["plan", "lab.yaml"])
    assert_explained(result, seconds, 2, f"({refusing_endpoint}: ", "GetCallerIdentity")
    if refusing_endpoint == "AccessDenied":
        assert "ops: error: AWS denied GetCallerIdentity to these credentials" in result.output
        assert "ops iam-policy PLAYBOOK" in result.output
    else:
        assert "ops: error: AWS refused the credentials when ops called GetCallerIdentity" in result.output
        assert "aws sts get-caller-identity" in result.output


@pytest.mark.parametrize("refusing_endpoint", REFUSALS, indirect=True, ids=lambda p: p[0])
def test_status_says_aws_refused_the_credentials(refusing_endpoint, with_kept_lab):
    result, seconds = invoke(["status"])
    # the first recorded resource is the dead man's switch's role (made before any step): IAM's codes
    expected = {"InvalidClientTokenId": "(InvalidClientTokenId: ", "AccessDenied": "(AccessDenied: "}
    assert_explained(result, seconds, 2, expected[refusing_endpoint], "GetRole")


EXPIRED = ("ExpiredToken", "The security token included in the request is expired")


@pytest.mark.parametrize("refusing_endpoint", [EXPIRED], indirect=True, ids=lambda p: p[0])
def test_doctor_says_the_session_expired(refusing_endpoint, workdir):
    result, seconds = invoke(["doctor"])
    assert_explained(
        result,
        seconds,
        1,
        "[problem] AWS refused the credentials when ops called GetCallerIdentity "
        "(ExpiredToken: The security token included in the request is expired). "
        "Your session expired: log in again",
    )


def test_debug_shows_the_traceback_behind_the_paragraph(closed_endpoint, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    result, _ = invoke(["plan", "lab.yaml", "--debug"])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "botocore.exceptions.EndpointConnectionError" in result.output
    assert result.output.rstrip().endswith("start what should answer on it, or unset it to reach AWS.")


def test_the_demo_says_dynamodb_cannot_be_reached(closed_endpoint, workdir):
    """The demo runs on the lab host, without the rest of ops: its own paragraph, the same exit code."""
    redis_url = f"redis://127.0.0.1:{closed_port()}"
    result, seconds = invoke(["demo", "cache-aside", "--redis-url", redis_url, "--table", "reviews"])
    assert_explained(
        result,
        seconds,
        1,
        f"DynamoDB could not be reached in the default region (Could not connect to "
        f'the endpoint URL: "{closed_endpoint}/")',
        "Check the host's network",
    )
