"""playbooks/lab-secure.yaml: in-transit encryption and an AUTH token, end to end.

Through the CLI on the persistent simulated account (as `ops run --dry-run` does), with
each token source (generate, env:NAME, ssm:/name): PING answers +PONG over TLS with the
token, the demo reports hits, teardown deletes the group, the SecureString ops made and the
inline policies, and leaves the user's own parameter alone. The leak test looks for a known
token everywhere ops writes: stdout/stderr (text and JSON), the .ops/ records, timelines,
`ops report`, `ops status` and the SSM command text the simulator recorded. The simulated
account's own internals (.ops/dry-run/account: the fake ElastiCache's store and moto) may
hold the token, as AWS does; they are searched only for the SSM commands.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness import make_runner

from ops.aws import Aws
from ops.cli import cli
from ops.clock import VirtualClock
from ops.engine.playbook import load_playbook
from ops.engine.runner import teardown
from ops.errors import StepFailed
from ops.paths import sim_home
from ops.sim.world import SimWorld

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "lab-secure.yaml"
LAB = "elasticache-lab-secure"
TOKEN = "Known-T0ken-for-the-leak-test-0123456789"


def invoke(*args, env=None):
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by itself
        runner = CliRunner()
    result = runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    return result, result.stdout, result.stderr


def files_outside_the_account(root: Path):
    account = sim_home(root)
    for path in (root / ".ops").rglob("*"):
        if path.is_file() and account not in path.parents:
            yield path


def recorded_ssm_commands(root: Path) -> str:
    store = json.loads((sim_home(root) / "store.json").read_text())
    return json.dumps(store.get("ssm", {}).get("commands", {}))


def assert_secret_nowhere(root: Path, token: str, *texts):
    for text in texts:
        assert token not in text
    checked = list(files_outside_the_account(root))
    assert any("state" in p.parts for p in checked) and any(
        "runs" in p.parts or "timelines" in p.parts or p.suffix == ".json" for p in checked
    )
    for path in checked:
        assert token not in path.read_text(errors="replace"), path


def assert_secure_run(out: str):
    assert "(TLS) -> +PONG" in out
    assert "cache hits / misses:  51 / 1" in out
    assert "nothing from this run is left in the account." in out


def user_parameter(root: Path, name: str, value: str) -> None:
    """A SecureString of the user's in the (persistent) simulated account, made before the run."""
    with SimWorld(VirtualClock(), home=sim_home(root)) as world:
        world.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")


def test_generate_keep_then_teardown_leaks_nothing(workdir):
    result, out, err = invoke("run", PLAYBOOK, "--dry-run", "--keep")
    assert result.exit_code == 0, out + err
    assert "(TLS) -> +PONG" in out and "cache hits / misses:  51 / 1" in out
    state = json.loads((workdir / f".ops/dry-run/state/{LAB}.json").read_text())
    [parameter] = [r for r in state["resources"] if r["kind"] == "ssm-parameter"]
    assert parameter["id"] == f"/ops/{LAB}/{state['run_id']}/cache/auth-token" and parameter["ours"]
    with SimWorld(VirtualClock(), home=sim_home(workdir)) as world:
        found = world.client("ssm").get_parameter(Name=parameter["id"], WithDecryption=True)["Parameter"]
        token = found["Value"]
        assert found["Type"] == "SecureString" and len(token) >= 16
        group = world.session().client("elasticache").describe_replication_groups()["ReplicationGroups"][0]
        assert group["TransitEncryptionEnabled"] and group["AuthTokenEnabled"]
        tags = world.client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId=parameter["id"])
        assert {"Key": "ops:lab", "Value": LAB} in tags["TagList"]
    status, status_out, status_err = invoke("status", "--dry-run")
    report, report_out, report_err = invoke("report")
    assert "ssm-parameter" in status_out
    commands = recorded_ssm_commands(workdir)
    assert parameter["id"] in commands  # the host reads it by name ...
    torn, torn_out, torn_err = invoke("teardown", LAB, "--dry-run", "--output", "json")
    assert torn.exit_code == 0, torn_out + torn_err
    deleted = [json.loads(line) for line in torn_out.splitlines() if '"resource_deleted"' in line]
    assert ("ssm-parameter", parameter["id"]) in {(e["kind"], e["id"]) for e in deleted}
    order = [e["kind"] for e in deleted]
    assert order.index("replication-group") < order.index("ssm-parameter")  # the token outlives the group
    kinds = set(order)
    assert {"ssm-parameter", "replication-group", "role-inline-policy"} <= kinds
    inline = [e for e in deleted if e["kind"] == "role-inline-policy"]
    assert len(inline) == 3  # the PING's token grant, the demo's and the lesson's table + token grants
    # ... but never the token: not in any output, record, timeline, report, or SSM command
    assert_secret_nowhere(
        workdir, token, out, err, status_out, status_err, report_out, report_err, torn_out, torn_err, commands
    )
    assert not sim_home(workdir).exists()  # nothing left: the account ended by itself


@pytest.mark.parametrize("output", ["text", "json"])
def test_env_source_end_to_end_leaks_nothing(workdir, output):
    env = {"LAB_REDIS_TOKEN": TOKEN}
    result, out, err = invoke(
        "run", PLAYBOOK, "--dry-run", "--var", "auth_token=env:LAB_REDIS_TOKEN", "--output", output, "--keep", env=env
    )
    assert result.exit_code == 0, out + err
    if output == "json":
        events = [json.loads(line) for line in out.splitlines()]
        texts = " ".join(e.get("text", "") for e in events if e["event"] == "step_output")
        assert "(TLS) -> +PONG" in texts and "cache hits / misses:  51 / 1" in texts
        finished = [e for e in events if e["event"] == "step_finished" and e["step"] == "cache"][0]
        assert finished["outputs"]["tls"] is True
        assert finished["outputs"]["auth_token_parameter"].endswith("/cache/auth-token")
    else:
        assert "(TLS) -> +PONG" in out
    with SimWorld(VirtualClock(), home=sim_home(workdir)) as world:  # the copy ops made holds the same token
        [name] = [
            p["Name"]
            for p in world.client("ssm").describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/ops/"]}]
            )["Parameters"]
        ]
        assert world.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == TOKEN
    commands = recorded_ssm_commands(workdir)
    report, report_out, _ = invoke("report", "--output", output)
    torn, torn_out, torn_err = invoke("teardown", LAB, "--dry-run", "--output", output)
    assert torn.exit_code == 0, torn_out + torn_err
    assert_secret_nowhere(workdir, TOKEN, out, err, report_out, torn_out, torn_err, commands)
    assert not sim_home(workdir).exists()


def test_missing_env_variable_is_bad_input_before_anything(workdir):
    result, out, err = invoke("run", PLAYBOOK, "--dry-run", "--var", "auth_token=env:NO_SUCH_TOKEN_VAR")
    assert result.exit_code == 2 and "NO_SUCH_TOKEN_VAR, which is not set" in err
    assert not (workdir / ".ops").exists()


def test_env_token_breaking_aws_rules_is_refused_without_echo(workdir):
    bad = "has spaces, so AWS refuses it"
    result, out, err = invoke("run", PLAYBOOK, "--dry-run", "--var", "auth_token=env:BAD_TOKEN", env={"BAD_TOKEN": bad})
    assert result.exit_code == 2 and "does not follow AWS's rules" in err and bad not in out + err
    assert not (workdir / ".ops").exists()


def test_ssm_source_uses_the_users_parameter(workdir):
    user_parameter(workdir, "/team/redis-token", TOKEN)
    result, out, err = invoke(
        "run", PLAYBOOK, "--dry-run", "--var", "auth_token=ssm:/team/redis-token", "--output", "json"
    )
    assert result.exit_code == 0, out + err
    events = [json.loads(line) for line in out.splitlines()]
    texts = " ".join(e.get("text", "") for e in events if e["event"] == "step_output")
    assert "(TLS) -> +PONG" in texts and "cache hits / misses:  51 / 1" in texts
    used = [e for e in events if e["event"] == "step_created" and e["kind"] == "ssm-parameter"]
    assert used == [{**used[0], "id": "/team/redis-token", "ours": False, "verb": "adopted"}]
    assert not [e for e in events if e["event"].startswith("resource_delet") and e["kind"] == "ssm-parameter"]
    assert TOKEN not in out + err


def test_missing_or_plain_ssm_parameter_is_bad_input(workdir):
    user_parameter(workdir, "/team/plain", TOKEN.replace("T0ken", "plain"))
    with SimWorld(VirtualClock(), home=sim_home(workdir)) as world:
        world.client("ssm").put_parameter(Name="/team/plain", Value="x" * 20, Type="String", Overwrite=True)
    for source, phrase in (("ssm:/team/none", "does not exist"), ("ssm:/team/plain", "not a SecureString")):
        result, out, err = invoke("run", PLAYBOOK, "--dry-run", "--var", f"auth_token={source}")
        assert result.exit_code == 2 and phrase in err, err
        assert not (workdir / ".ops" / "dry-run" / "state").exists()


def _in_process(tmp_path, playbook, prepare):
    """Run a playbook in an in-process world (the public API), then tear down: (runner, error, world leftovers)."""
    with SimWorld(VirtualClock()) as world:
        prepare(world)
        aws = Aws(world.session(), world.region, world.clock, dry_run=True)
        aws.world = world
        runner = make_runner(playbook, aws, tmp_path)
        error = None
        try:
            runner.apply()
        except StepFailed as exc:
            error = exc
        left = teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, playbook.name)
        names = [
            p["Name"]
            for prefix in ("/ops/", "/team/")
            for p in world.client("ssm").describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}]
            )["Parameters"]
        ]
        policies = world.client("iam").list_roles()["Roles"]
        return runner, error, left, names, policies


def test_teardown_keeps_the_users_parameter(tmp_path):
    playbook = load_playbook(PLAYBOOK, {"auth_token": "ssm:/team/redis-token"})
    runner, error, left, names, roles = _in_process(
        tmp_path,
        playbook,
        lambda w: w.client("ssm").put_parameter(Name="/team/redis-token", Value=TOKEN, Type="SecureString"),
    )
    assert error is None and left == []
    assert names == ["/team/redis-token"] and roles == []  # the user's stays; ops's role is gone


def test_a_wrong_token_fails_the_ping_clearly_and_teardown_still_cleans(tmp_path):
    text = PLAYBOOK.read_text().replace(
        "      auth_token_parameter: ${{ steps.cache.outputs.auth_token_parameter }}\n      role_name",
        "      auth_token_parameter: /team/other-token\n      role_name",
        1,
    )
    wrong = tmp_path / "lab-wrong.yaml"
    wrong.write_text(text)
    playbook = load_playbook(wrong)
    runner, error, left, names, roles = _in_process(
        tmp_path,
        playbook,
        lambda w: w.client("ssm").put_parameter(Name="/team/other-token", Value=TOKEN, Type="SecureString"),
    )
    assert error is not None and error.step == "ping"
    assert "refused the AUTH token from /team/other-token (-WRONGPASS)" in str(error)
    assert left == [] and names == ["/team/other-token"] and roles == []


def test_a_wrong_token_exits_1_through_the_cli(workdir):
    user_parameter(workdir, "/team/other-token", TOKEN)
    text = PLAYBOOK.read_text().replace(
        "      auth_token_parameter: ${{ steps.cache.outputs.auth_token_parameter }}\n      role_name",
        "      auth_token_parameter: /team/other-token\n      role_name",
        1,
    )
    (workdir / "lab-wrong.yaml").write_text(text)
    result, out, err = invoke("run", "lab-wrong.yaml", "--dry-run", "--teardown-on-failure")
    assert result.exit_code == 1
    assert "-> -NOAUTH" in out and "refused the AUTH token" in out + err
    assert "FAILED, then torn down" in out and "nothing from this run is left in the account." in out
