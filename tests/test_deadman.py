"""The dead man's switch (issue 17), through the CLI: a lab cannot outlive its time, even
when the ops that made it is gone. The simulated account runs its schedules on its clock."""

import json
import os
import signal
from pathlib import Path

import ops_forkserver
from click.testing import CliRunner

from ops.cli import cli

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
LAB = str(PLAYBOOKS / "lab.yaml")
BILLABLE = ("cache-cluster", "cloud9-environment", "dynamodb-table", "ec2-instance")
TABLE_LAB = """\
name: switch-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
      seed: false
"""


def ops_killed_at(cwd, point, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "OPS_CRASH_AT"}
    env["OPS_CRASH_AT"] = point
    return ops_forkserver.run(args, cwd=cwd, env=env, timeout=300)


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def tagged(kinds=None, status=False):
    """What `ops sweep --dry-run` finds in the simulated account, as (kind, id) pairs (or
    (kind, status))."""
    doc = json.loads(invoke("sweep", "--dry-run", "--output", "json").output.splitlines()[0])
    return [
        (r["kind"], r["status"] if status else r["id"]) for r in doc["resources"] if kinds is None or r["kind"] in kinds
    ]


def test_a_killed_kept_lab_is_deleted_by_the_account_itself_then_swept(tmp_path, monkeypatch):
    killed = ops_killed_at(
        tmp_path, "step_finished:redis", "run", LAB, "--dry-run", "--keep", "--ttl", "30m", "--var", "demo_reads=5"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-800:]
    monkeypatch.chdir(tmp_path)
    before = invoke("status", "--dry-run").output
    assert "expires" in before and "(in 2" in before, before  # about 23 minutes left of 30
    assert "switch armed (3 schedule(s)" in before, before  # the environment, the cluster, the table
    # the environment's own instance (tagged too) goes with the environment
    assert {kind for kind, _ in tagged(BILLABLE)} == set(BILLABLE)

    advanced = invoke("sim", "advance", "31m").output
    assert advanced.count("ran ") == 3, advanced  # elasticache:deleteCacheCluster, cloud9:..., dynamodb:...
    # the account deleted what bills, with no ops there. The environment's stack could not
    # delete its security group (the lab's ingress rule still names it: DependencyViolation,
    # as in AWS), so the environment stays DELETE_FAILED: free, its instance terminated.
    assert tagged(BILLABLE, status=True) == [("cloud9-environment", "DELETE_FAILED")]
    after = invoke("status", "--dry-run").output
    assert "EXPIRED" in after and "switch ran; still there: cloud9-environment" in after, after

    preview = invoke("sweep", "--expired", "--dry-run").output
    assert "expired" in preview and "add --yes" in preview
    assert invoke("sweep", "--expired", "--dry-run", "--yes").exit_code == 0
    assert tagged() == []  # the free leftovers (rule, roles, group) are gone too
    assert not (tmp_path / ".ops/dry-run/account").exists()  # and with nothing left, the account


def test_extend_moves_the_record_the_tag_and_the_schedules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.yaml").write_text(TABLE_LAB)
    assert invoke("run", "lab.yaml", "--dry-run", "--keep", "--ttl", "30m").exit_code == 0
    record = json.loads(next((tmp_path / ".ops/dry-run/state").glob("*.json")).read_text())
    moved = invoke("extend", "switch-lab", "--by", "2h", "--dry-run")
    # the table, the schedule group and the switch's role carry ops's tags
    assert moved.exit_code == 0 and "1 schedule(s) moved, 3 resource(s) re-tagged" in moved.output, moved.output
    extended = json.loads(next((tmp_path / ".ops/dry-run/state").glob("*.json")).read_text())
    assert extended["expires_at"] == record["expires_at"] + 7200
    assert "in 2h" in invoke("status", "--dry-run").output
    advanced = invoke("sim", "advance", "1h").output
    assert "ran" not in advanced and tagged(("dynamodb-table",)), advanced  # its old time passed: nothing ran
    # with its record lost, ops sweep --expired goes by the tags alone: they moved too
    records = tmp_path / ".ops/dry-run/state"
    (records / "kept").mkdir()
    for path in records.glob("*.json"):
        path.rename(records / "kept" / path.name)
    assert "no expired labs" in invoke("sweep", "--expired", "--dry-run").output
    for path in (records / "kept").glob("*.json"):
        path.rename(records / path.name)
    advanced = invoke("sim", "advance", "2h").output
    assert "dynamodb:deleteTable" in advanced and not tagged(("dynamodb-table",)), advanced
    assert invoke("extend", "switch-lab", "--dry-run").exit_code == 2  # needs --by or --until


def test_a_normal_teardown_leaves_no_schedule_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.yaml").write_text(TABLE_LAB)
    done = invoke("run", "lab.yaml", "--dry-run", "--ttl", "1h", "--output", "json")
    assert done.exit_code == 0, done.output
    events = [json.loads(line) for line in done.output.splitlines()]
    armed = [e for e in events if e["event"] == "step_created" and e.get("verb") == "armed"]
    deleted = {(e["kind"], e["id"]) for e in events if e["event"] == "resource_deleted"}
    assert len(armed) == 1 and (armed[0]["kind"], armed[0]["id"]) in deleted
    assert {k for k, _ in deleted} >= {"schedule-group", "iam-role:switch", "role-inline-policy:switch"}
    assert events[-1]["left"] == [] and events[-1]["checked_account"] is True  # nothing of the run is left


def test_ttl_none_arms_nothing_and_the_plan_warns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.yaml").write_text(TABLE_LAB)
    plan = invoke("plan", "lab.yaml", "--dry-run", "--ttl", "none").output
    assert "[warning] no expiry (--ttl none)" in plan, plan
    armed = invoke("plan", "lab.yaml", "--dry-run", "--ttl", "2h").output
    assert "deletes dynamodb-table" in armed and "(free)" in armed, armed
    done = invoke("run", "lab.yaml", "--dry-run", "--ttl", "none", "--output", "json")
    events = [json.loads(line) for line in done.output.splitlines()]
    assert not [e for e in events if e["event"] == "step_created" and e["kind"] != "dynamodb-table"]
    assert invoke("run", "lab.yaml", "--dry-run", "--ttl", "soon").exit_code == 2


def test_schedule_names_fit_schedulers_rules_and_stay_distinct():
    import re

    from ops.model import Resource
    from ops.steps.deadman import schedule_name

    def named(resource_id):
        return schedule_name(Resource("s", "t", "cache-cluster", resource_id, "us-east-1", True, "created", {}))

    short, long_a, long_b = named("ops-lab-r1"), named("x" * 80 + "a"), named("x" * 80 + "b")
    assert short == "cache-cluster-ops-lab-r1"
    assert all(re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", name) for name in (short, long_a, long_b))
    assert long_a != long_b  # a digest of the whole tells them apart
