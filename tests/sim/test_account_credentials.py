"""A kept dry run's simulated account answers only ops (issue 12).

After `ops run playbooks/lab-secure.yaml --dry-run --keep` with the AUTH token from the
user's environment, the account's server stays up on a loopback port. Any other local
client (the suite's own `testing` keys, made-up keys, the right key id with a wrong secret,
no signature at all, moto's /moto-api/, a replayed or altered request) is refused as AWS
refuses it, gates included; ops itself, from new processes, still reads and tears down
the lab; and every file and folder under .ops/ is the owner's only.
"""

import http.client
import json
import os
import secrets
import socket
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import ops_forkserver
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from ops.cli import cli
from ops.paths import sim_home
from ops.sim.account_keys import SIGNED_URL_HEADER
from ops.sim.local_redis import local_redis_kind
from ops.sim.world import SimWorld

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "lab-secure.yaml"
LAB = "elasticache-lab-secure"
TOKEN = "Users-0wn-token-from-the-environment-42"
REGION = "us-east-1"


def ops_in_new_process(root: Path, *args) -> subprocess.CompletedProcess:
    """The ops CLI as the user runs it: another process, in `root`, with fake AWS settings
    (a module fixture cannot use the suite's per-test environment) and the user's token."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(root / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-keys"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        "LAB_REDIS_TOKEN": TOKEN,
    }
    return ops_forkserver.run(args, cwd=root, env=env, timeout=300)  # forked warm when it can be


KEEP_RUN = ("run", PLAYBOOK, "--dry-run", "--keep", "--var", "auth_token=env:LAB_REDIS_TOKEN")


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """One kept lab for the tests that only knock on its door: its folder."""
    root = tmp_path_factory.mktemp("kept")
    try:
        result = ops_in_new_process(root, *KEEP_RUN)
        assert result.returncode == 0, result.stdout + result.stderr
        yield root
    finally:
        SimWorld.destroy(sim_home(root))


def server_port(root: Path) -> int:
    return json.loads((sim_home(root) / "server.json").read_text())["port"]


def account_keys(root: Path) -> dict:
    return json.loads((sim_home(root) / "credentials.json").read_text())


def token_parameter(root: Path) -> str:
    record = json.loads((root / f".ops/dry-run/state/{LAB}.json").read_text())
    [parameter] = [r["id"] for r in record["resources"] if r["kind"] == "ssm-parameter"]
    return parameter


def client(root: Path, service: str, key_id: str, secret: str):
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{server_port(root)}",
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(proxies={}, retries={"max_attempts": 1}),
    )


def error_of(call) -> tuple:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def made_up_key_id() -> str:
    return "AKIA" + secrets.token_hex(8).upper()


STRANGERS = {
    "the suite's testing keys": (lambda keys: ("testing", "testing"), "key"),
    "a made-up key": (lambda keys: (made_up_key_id(), secrets.token_urlsafe(30)), "key"),
    "the right key id, a wrong secret": (lambda keys: (keys["access_key_id"], secrets.token_urlsafe(30)), "signature"),
}
# what AWS answers each service, for an unknown key and for a wrong signature
REFUSED = {
    "ssm": {"key": ("UnrecognizedClientException", 400), "signature": ("InvalidSignatureException", 400)},
    "ec2": {"key": ("AuthFailure", 401), "signature": ("AuthFailure", 401)},
    "s3": {"key": ("InvalidAccessKeyId", 403), "signature": ("SignatureDoesNotMatch", 403)},
}


@pytest.mark.parametrize("stranger", sorted(STRANGERS))
def test_strangers_are_refused_as_aws_refuses_them(kept, stranger):
    make, kind = STRANGERS[stranger]
    key_id, secret = make(account_keys(kept))
    parameter = token_parameter(kept)
    ssm, ec2, s3 = (client(kept, service, key_id, secret) for service in ("ssm", "ec2", "s3"))
    assert error_of(lambda: ssm.get_parameter(Name=parameter, WithDecryption=True)) == REFUSED["ssm"][kind]
    assert error_of(lambda: ec2.describe_instances()) == REFUSED["ec2"][kind]
    assert error_of(lambda: s3.list_buckets()) == REFUSED["s3"][kind]


def test_the_accounts_own_keys_are_answered(kept):
    """The same calls with the keys ops made: the refusals above are about the keys alone."""
    keys = account_keys(kept)
    assert os.stat(sim_home(kept) / "credentials.json").st_mode & 0o777 == 0o600
    ssm = client(kept, "ssm", keys["access_key_id"], keys["secret_access_key"])
    assert ssm.get_parameter(Name=token_parameter(kept), WithDecryption=True)["Parameter"]["Value"] == TOKEN
    assert client(kept, "ec2", keys["access_key_id"], keys["secret_access_key"]).describe_instances()["Reservations"]
    client(kept, "s3", keys["access_key_id"], keys["secret_access_key"]).list_buckets()


def raw(root: Path, method: str, path: str, body: bytes = b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server_port(root), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_unsigned_requests_and_motos_own_api_are_refused(kept):
    status, body = raw(
        kept,
        "POST",
        "/",
        json.dumps({"Name": token_parameter(kept), "WithDecryption": True}).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter"},
    )
    assert (status, json.loads(body)["__type"]) == (400, "MissingAuthenticationTokenException")
    for path in ("/moto-api/data.json", "/moto-api/reset"):  # its state dump holds the token
        status, body = raw(kept, "GET" if path.endswith(".json") else "POST", path)
        assert status == 403 and b"AccessDenied" in body and TOKEN.encode() not in body


def signed_ssm_call(keys: dict, body: dict, monkeypatch, signed_at=None) -> tuple:
    """An SSM GetParameter signed with the account's keys as a sim session signs it: the
    method, headers and body to send."""
    if signed_at is not None:
        monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: signed_at)
    url = f"https://ssm.{REGION}.amazonaws.com/"
    request = AWSRequest(
        method="POST",
        url=url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter"},
    )
    SigV4Auth(Credentials(keys["access_key_id"], keys["secret_access_key"]), "ssm", REGION).add_auth(request)
    return {**dict(request.headers.items()), SIGNED_URL_HEADER: url}


def test_a_replayed_or_altered_request_is_refused(kept, monkeypatch):
    keys, parameter = account_keys(kept), token_parameter(kept)
    asked = {"Name": parameter, "WithDecryption": True}
    status, body = raw(kept, "POST", "/", json.dumps(asked).encode(), signed_ssm_call(keys, asked, monkeypatch))
    assert status == 200 and json.loads(body)["Parameter"]["Value"] == TOKEN  # as signed: answered

    other = {"Name": "/ops/another", "WithDecryption": True}
    status, body = raw(kept, "POST", "/", json.dumps(other).encode(), signed_ssm_call(keys, asked, monkeypatch))
    assert (status, json.loads(body)["__type"]) == (400, "InvalidSignatureException")

    long_ago = datetime.now(timezone.utc) - timedelta(minutes=20)
    status, body = raw(
        kept, "POST", "/", json.dumps(asked).encode(), signed_ssm_call(keys, asked, monkeypatch, signed_at=long_ago)
    )
    assert (status, json.loads(body)["__type"]) == (400, "InvalidSignatureException")
    assert "Signature expired" in json.loads(body)["message"]


def test_an_account_whose_keys_are_gone_is_out_of_reach_and_says_what_to_do(kept):
    keys = sim_home(kept) / "credentials.json"
    aside = keys.with_name("credentials.aside")
    keys.rename(aside)
    try:
        torn = ops_in_new_process(kept, "teardown", LAB, "--dry-run")
    finally:
        aside.rename(keys)
    assert torn.returncode == 1, torn.stdout + torn.stderr
    assert "ops sim reset" in torn.stderr and "Traceback" not in torn.stderr and "internal error" not in torn.stderr
    assert "credentials.json" in torn.stderr
    assert ops_in_new_process(kept, "status", "--dry-run").stdout.count("ssm-parameter") == 1  # nothing was touched


def gate_ports(root: Path) -> dict:
    clusters = json.loads((sim_home(root) / "store.json").read_text())["elasticache"]["clusters"]
    return {cluster_id: c["endpoint"]["Port"] for cluster_id, c in clusters.items() if c.get("endpoint")}


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_gate_control_paths_refuse_a_caller_without_the_secret(kept):
    gates = gate_ports(kept)
    assert gates and all(listening(port) for port in gates.values())
    wrong = {"access_key_id": account_keys(kept)["access_key_id"], "secret_access_key": "not-the-secret"}
    for cluster_id in gates:
        body = json.dumps({"key": cluster_id}).encode()
        url = f"http://127.0.0.1:{server_port(kept)}/_ops/gate"
        forged = AWSRequest(method="DELETE", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(wrong["access_key_id"], wrong["secret_access_key"]), "ops", REGION).add_auth(forged)
        for headers in ({"Content-Type": "application/json"}, dict(forged.headers.items())):
            status, answer = raw(kept, "DELETE", "/_ops/gate", body, headers)
            assert status == 403 and b"__type" in answer
    opened = json.dumps({"key": "intruder", "target_port": 22, "group_ids": [], "port": 22, "region": REGION})
    status, _ = raw(kept, "PUT", "/_ops/gate", opened.encode(), {"Content-Type": "application/json"})
    assert status == 403
    status, _ = raw(kept, "GET", "/_ops/ping")
    assert status == 403
    assert all(listening(port) for port in gates.values())  # every gate still open


def modes_under(root: Path) -> dict:
    """Every file and folder under root/.ops and its permission bits (not symbolic links':
    Linux ignores those, a link's target has its own)."""
    found = {}
    for folder, _folders, files in os.walk(root / ".ops"):
        found[folder] = stat.S_IMODE(os.stat(folder).st_mode)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                found[path] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def assert_private(root: Path) -> None:
    """Folders 0700; files the owner's alone (0600, or 0700 for a program, such as the
    simulated host's lesson venv has)."""
    modes = modes_under(root)
    loose = {
        path: oct(mode)
        for path, mode in modes.items()
        if (mode != 0o700 if os.path.isdir(path) else mode not in (0o600, 0o700))
    }
    assert not loose, loose


def invoke(*args, env=None):
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by itself
        runner = CliRunner()
    result = runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    return result, result.stdout, result.stderr


@pytest.mark.managed_policies  # the lab attaches AmazonSSMManagedInstanceCore
def test_ops_still_works_from_new_processes_and_keeps_every_file_private(workdir):
    result, out, err = invoke(*KEEP_RUN, env={"LAB_REDIS_TOKEN": TOKEN})
    assert result.exit_code == 0, out + err
    home = sim_home(workdir)
    kinds = {p.relative_to(home).parts[0] for p in home.rglob("*")}
    assert {
        "credentials.json",
        "server.json",
        "server.log",
        "server.lock",
        "store.json",
        "tls",
        "instances",
        *(["redis"] if local_redis_kind() == "redis-server" else []),  # a fakeredis writes no file
    } <= kinds  # the walk below sees the server's, Redis's and the hosts' files
    assert_private(workdir)

    status = ops_in_new_process(workdir, "status", "--dry-run")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "replication-group" in status.stdout and "ssm-parameter" in status.stdout
    assert_private(workdir)

    torn = ops_in_new_process(workdir, "teardown", LAB, "--dry-run")
    assert torn.returncode == 0, torn.stdout + torn.stderr
    assert "nothing from this run is left in the account." in torn.stdout
    assert not home.exists()  # the account ended with the lab
    assert_private(workdir)
