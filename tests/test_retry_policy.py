"""One retry layer (issue 14): botocore's standard retry mode retries throttling, 5xx answers
and dropped connections, inside its loop, sleeping on the run's clock; nothing retries on top
of it. The simulator's faults happen on its network, so these tests see what AWS would cause."""

import socket
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ops.aws import ATTEMPTS, Aws
from ops.clock import VirtualClock
from ops.sim.faults import FaultPlan
from ops.sim.world import SimWorld


def attempts_at(world, service: str, operation: str) -> int:
    """How many requests for service.operation reached the simulated network."""
    return world.injector.state["calls"].get(f"{service}.{operation}", 0)


def first_failing(kind: str, service: str, operation: str, failures: int, **shares) -> FaultPlan:
    """A plan whose first `failures` attempts at service.operation draw `kind`, and the next none."""
    for seed in range(10_000):
        plan = FaultPlan(seed=seed, services={service}, **shares)
        draws = [plan.draw(service, operation, n) for n in range(failures + 1)]
        if draws == [kind] * failures + [None]:
            return plan
    raise AssertionError("no such seed")


@pytest.fixture
def no_real_sleep(monkeypatch):
    """botocore's own sleep between attempts must never wait: the run's clock does."""
    import time
    import types

    import botocore.endpoint

    slept = []
    watched = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    watched.sleep = slept.append
    monkeypatch.setattr(botocore.endpoint, "time", watched)
    yield slept
    assert all(seconds == 0 for seconds in slept), slept


def test_a_call_always_throttled_is_tried_exactly_attempts_times(world, no_real_sleep):
    """The issue's case: botocore's tries times ops's own tries made up to 18 calls for one
    operation; now one call is ATTEMPTS requests, then the throttle is the caller's."""
    world.faults = FaultPlan(seed=0, throttle=1.0, services={"elasticache"})
    aws = Aws(world.session(), world.region, world.clock, dry_run=True)
    elasticache = aws.client("elasticache")
    with pytest.raises(ClientError) as refused:
        aws.call(elasticache.describe_cache_clusters)
    assert refused.value.response["Error"]["Code"] == "Throttling"
    assert attempts_at(world, "elasticache", "DescribeCacheClusters") == ATTEMPTS
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == ATTEMPTS - 1


@pytest.mark.parametrize(
    "kind, service, operation",
    [
        ("throttle", "ec2", "DescribeVpcs"),  # moto's answer, EC2's own throttling code and status
        ("server_error", "cloud9", "ListEnvironments"),  # a fake's answer, a JSON protocol's 500
        ("dropped", "elasticache", "DescribeCacheClusters"),  # a fake's answer, a dropped connection
    ],
)
def test_transient_failures_are_absorbed_on_the_run_clock(world, no_real_sleep, kind, service, operation):
    plan = first_failing(kind, service, operation, 3, **{kind: 0.6})
    world.faults = plan
    aws = Aws(world.session(), world.region, world.clock, dry_run=True)
    client = aws.client(service)
    started = world.clock.now()
    method = {"DescribeVpcs": "describe_vpcs", "ListEnvironments": "list_environments"}.get(
        operation, "describe_cache_clusters"
    )
    answer = aws.call(getattr(client, method))
    assert answer["ResponseMetadata"]["RetryAttempts"] == 3
    assert attempts_at(world, service, operation) == 4
    assert world.clock.now() > started  # the backoff was slept, on the virtual clock


def test_a_persistent_account_answers_a_re_sent_request(tmp_path, no_real_sleep):
    """A retry re-sends the same prepared request: routing it to the account's server must
    leave it as it was (the first attempt here is dropped, the second goes through)."""
    home = tmp_path / "account"
    plan = first_failing("dropped", "ec2", "CreateSecurityGroup", 1, dropped=0.5)
    try:
        with SimWorld(VirtualClock(), home=home, faults=plan) as world:
            aws = Aws(world.session(), world.region, world.clock, dry_run=True)
            ec2 = aws.client("ec2")
            answer = aws.call(ec2.create_security_group, GroupName="lab", Description="x")
            assert answer["ResponseMetadata"]["RetryAttempts"] == 1
            groups = world.client("ec2").describe_security_groups()["SecurityGroups"]
            assert sorted(g["GroupName"] for g in groups) == ["default", "lab"]
    finally:
        SimWorld.destroy(home)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("patient, tries", [(False, 2), (True, 4)])
def test_an_endpoint_that_never_answered_gets_few_tries(monkeypatch, no_real_sleep, patient, tries):
    """Connection refused before anything ever answered is a network or AWS_ENDPOINT_URL
    problem, not a blip: plan/status/doctor give up after 2 tries, run and teardown after 4,
    not ATTEMPTS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    aws = Aws(session, "us-east-1", VirtualClock(), patient=patient)
    sts = aws.client("sts")
    sent = []
    sts.meta.events.register("before-send", lambda **_: sent.append(1))
    with pytest.raises(EndpointConnectionError):
        aws.call(sts.get_caller_identity)
    assert len(sent) == tries


def test_a_step_out_of_retries_says_so_and_what_to_do(tmp_path):
    """Every attempt at CreateTable throttled: the table step fails saying AWS kept throttling
    after ATTEMPTS tries, and to wait and re-run (the run resumes), not 'fix the cause'."""
    from harness import rehearse_faults

    from ops.engine.playbook import load_playbook
    from ops.errors import StepFailed

    lab = load_playbook(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")

    class ThrottleCreateTable(FaultPlan):
        def draw(self, service, operation, n):
            return "throttle" if operation == "CreateTable" else None

    code, events = rehearse_faults(tmp_path, lab, ThrottleCreateTable(seed=0))
    assert isinstance(code, StepFailed) and code.step == "table"
    assert f"AWS kept answering ThrottlingException (Rate exceeded) after {ATTEMPTS} tries" in str(code)
    assert code.hint.startswith("Wait a minute and re-run: the run resumes where it stopped.")
    assert events[-1]["left"] == []


@pytest.fixture
def always_500(monkeypatch):
    """An endpoint on loopback that answers every request 500, counting them."""
    import http.server
    import threading

    requests = []

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            requests.append(self.path)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield requests
    server.shutdown()


def tries_of_one_call(**open_args) -> int:
    from ops.engine.target import open_target

    with open_target(False, "us-east-1", None, **open_args) as aws:
        sts = aws.client("sts")
        sent = []
        sts.meta.events.register("before-send", lambda **_: sent.append(1))
        with pytest.raises(ClientError):
            aws.call(sts.get_caller_identity)
    return len(sent)


def test_aws_max_attempts_and_the_profiles_max_attempts_are_honoured(always_500, monkeypatch, tmp_path, no_real_sleep):
    """As the AWS CLI and SDKs do: AWS_MAX_ATTEMPTS, else the profile's max_attempts, else
    ops's own ATTEMPTS (botocore's default of 3 is too few for a lab's throttled APIs)."""
    from ops.clock import WallClock

    monkeypatch.setattr(WallClock, "sleep", lambda self, seconds: None)  # the backoff between tries
    assert tries_of_one_call() == ATTEMPTS
    config = tmp_path / "config"
    config.write_text("[default]\nmax_attempts = 3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert tries_of_one_call() == 3
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # the environment wins over the profile
    assert tries_of_one_call() == 2
    assert len(always_500) == ATTEMPTS + 3 + 2


@pytest.mark.parametrize("value", ["many", "0", "-1"])
def test_a_max_attempts_that_is_no_number_of_tries_is_bad_input(always_500, monkeypatch, value):
    from click.testing import CliRunner

    from ops.cli import cli

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", value)
    result = CliRunner().invoke(cli, ["sweep", "--region", "us-east-1"])
    assert result.exit_code == 2, result.output
    assert f"max_attempts {value} (" in result.output and "1 or more" in result.output
    assert "Traceback" not in result.output and always_500 == []  # refused before any call
