"""The lab without Cloud9: playbooks/lab-ec2.yaml (EC2 client host, Redis cluster) and
playbooks/lab-valkey.yaml (EC2 client host, Valkey replication group), rehearsed end to end
through the CLI; their IAM policy covers every call; their plan has no Cloud9 in it."""

import fnmatch
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness import (
    ON_THE_HOST,
    VINEYARD,
    allowed_actions,
    calls_of_a_run_and_teardown,
    statements_allowing,
    touched_resources,
)

from ops.cli import cli
from ops.commands.iam_policy import Scope, policy_for
from ops.engine.playbook import load_playbook

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "lab-ec2.yaml": ("elasticache-lab-ec2", "cache-cluster"),
    "lab-valkey.yaml": ("elasticache-lab-valkey", "replication-group"),
    "lab-secure.yaml": ("elasticache-lab-secure", "replication-group"),
}


def demo_lines(output):
    return [line.split("| ", 1)[1] for line in output.splitlines() if " demo " in line and "| " in line]


@pytest.mark.parametrize("playbook", sorted(VARIANTS))
def test_the_lab_rehearses_on_an_ec2_host_and_leaves_nothing(workdir, playbook):
    lab, cache_kind = VARIANTS[playbook]
    result = CliRunner().invoke(cli, ["run", str(ROOT / "playbooks" / playbook), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PING 127.0.0.1:" in out and "-> +PONG" in out
    lines = demo_lines(out)
    first, second = lines.index("Using uncached result!"), lines.index("Using cached result!")
    assert first < second
    assert lines[first + 1 : first + 7] == VINEYARD and lines[second + 1 : second + 7] == VINEYARD
    assert any("cache hits / misses:  51 / 1" in line for line in lines)
    assert "lab completed and torn down" in out
    assert out.rstrip().endswith("nothing from this run is left in the account.")
    assert "cloud9" not in out.lower()

    state = json.loads((workdir / f".ops/dry-run/state/{lab}.json").read_text())
    assert {r["status"] for r in state["resources"]} == {"deleted"}
    kinds = {r["kind"] for r in state["resources"]}
    assert {
        "ec2-instance",
        "security-group",
        "iam-role",
        "instance-profile",
        "role-policy:AmazonSSMManagedInstanceCore",
        cache_kind,
        "ingress-rule",
        "dynamodb-table",
    } <= kinds
    # The demo's table policy went on the host's own role, not on a shared one.
    role = next(r["id"] for r in state["resources"] if r["kind"] == "iam-role")
    assert role == f"ops-{lab}-{state['run_id']}-host"
    assert any(r["kind"] == "role-inline-policy" and r["id"].startswith(role + "/") for r in state["resources"])


@pytest.mark.parametrize("playbook", sorted(VARIANTS))
def test_the_iam_policy_allows_every_call_of_a_run_and_its_teardown(tmp_path, monkeypatch, playbook):
    loaded = load_playbook(ROOT / "playbooks" / playbook)
    detail = []
    calls, left, (role_arn, region) = calls_of_a_run_and_teardown(
        loaded,
        tmp_path,
        monkeypatch,
        detail=detail,
        inspect=lambda world, runner: (
            world.client("iam").get_role(RoleName=runner.outputs["host"]["role_name"])["Role"]["Arn"],
            world.region,
        ),
    )
    assert left == []
    account = role_arn.split(":")[4]
    scope = Scope(region=region, account=account)
    policy = policy_for(loaded, scope=scope)
    allowed = allowed_actions(policy)
    assert {"ec2:RunInstances", "ssm:GetParameter", "ssm:DescribeInstanceInformation"} <= calls
    assert calls - allowed - ON_THE_HOST == set()  # the demo's reads run on the host, with its role
    # each call is allowed on the resource it touched (cluster, group, table, role, parameter, ...)
    missed = [
        (action, arn)
        for action, arn in touched_resources(detail, scope.partition, account)
        if action not in ON_THE_HOST
        and not any(
            fnmatch.fnmatchcase(arn, pattern)
            for s in statements_allowing(policy, action)
            for pattern in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        )
    ]
    assert missed == []
    # iam:PassRole is limited to client-host roles, passed to EC2: the host's per-run role is one of
    # them (the other PassRole statement passes the dead man's switch's role to the Scheduler alone)
    [pass_role] = [
        s
        for s in statements_allowing(policy, "iam:PassRole")
        if s.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService") == "ec2.amazonaws.com"
    ]
    assert fnmatch.fnmatchcase(role_arn, pass_role["Resource"]), role_arn
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


@pytest.mark.parametrize(
    "playbook, cache",
    [
        ("lab-ec2.yaml", "cache cluster"),
        ("lab-valkey.yaml", "replication group"),
        ("lab-secure.yaml", "replication group"),
    ],
)
def test_the_plan_shows_the_host_as_billable_and_needs_no_cloud9(workdir, playbook, cache):
    result = CliRunner().invoke(cli, ["plan", str(ROOT / "playbooks" / playbook), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "+ create  EC2 instance ops-elasticache-lab-" in out and "t3.micro, latest Amazon Linux 2023 (ami-" in out
    assert "no inbound rules" in out and f"+ create  {cache} ops-lab-<run id>" in out
    assert "about $0.027/hour" in out  # cache.t3.micro + t3.micro
    assert "Cloud9" not in out and "Ready to run." in out
