"""The whole lab, rehearsed: `ops run playbooks/lab.yaml --dry-run` through the CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness import VINEYARD

from ops.cli import cli

ROOT = Path(__file__).resolve().parent.parent
LAB = str(ROOT / "playbooks" / "lab.yaml")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def demo_lines(output):
    return [line.split("| ", 1)[1] for line in output.splitlines() if " demo " in line and "| " in line]


def test_the_lab_rehearses_end_to_end_and_leaves_nothing(workdir):
    result = run("run", LAB, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PING 127.0.0.1:" in out and "-> +PONG" in out
    lines = demo_lines(out)
    first, second = lines.index("Using uncached result!"), lines.index("Using cached result!")
    assert lines[first + 1 : first + 7] == VINEYARD
    assert lines[second + 1 : second + 7] == VINEYARD
    assert first < second
    assert any("cache hits / misses:" in line for line in lines)
    assert any(line.strip().startswith("cached read") and "p50" in line for line in lines)
    assert "lab completed and torn down" in out
    assert "nothing from this run is left in the account." in out
    state = json.loads((workdir / ".ops/dry-run/state/elasticache-lab.json").read_text())
    assert state["dry_run"] is True
    assert {r["status"] for r in state["resources"]} == {"deleted"}
    kinds = {r["kind"] for r in state["resources"]}
    assert {"cloud9-environment", "cache-cluster", "ingress-rule", "dynamodb-table"} <= kinds
    [timeline] = (workdir / ".ops/dry-run/runs/elasticache-lab").glob("*.json")
    assert timeline.stem == state["run_id"] and oct(timeline.stat().st_mode)[-3:] == "600"
    events = json.loads(timeline.read_text())["events"]
    assert {e["step"] for e in events if e["event"] == "step_started"} == {
        "cloud9",
        "redis",
        "ingress",
        "ping",
        "table",
        "demo",
        "workspace",
    }
    assert events[-1]["event"] == "run_finished"


def test_json_events_cover_every_step_and_every_delete(workdir):
    result = run("run", LAB, "--dry-run", "--output", "json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    finished = [e["step"] for e in events if e["event"] == "step_finished"]
    assert sorted(finished) == ["cloud9", "demo", "ingress", "ping", "redis", "table", "workspace"]
    created = {e["id"] for e in events if e["event"] == "step_created"}
    deleted = {e["id"] for e in events if e["event"] == "resource_deleted"}
    assert created == deleted
    times = [e["t"] for e in events]
    assert times == sorted(times)
    assert events[-1]["event"] == "run_finished" and events[-1]["left"] == []
    assert events[-1]["elapsed"] > 300  # minutes of simulated AWS time


def test_ingress_goes_in_before_the_cluster_is_available(workdir):
    events = [json.loads(line) for line in run("run", LAB, "--dry-run", "--output", "json").stdout.splitlines()]
    done = {e["step"]: e["t"] for e in events if e["event"] == "step_finished"}
    assert done["ingress"] < done["redis"]  # needs only the groups, not an available cluster
    assert done["ping"] >= done["redis"] and done["demo"] >= done["ping"]
    assert done["workspace"] >= done["demo"]  # the host role reads the table with the demo's policy


def test_keep_stops_before_the_delete_phase(workdir):
    result = run("run", LAB, "--dry-run", "--keep")
    assert result.exit_code == 0, result.output
    assert "lab is up (--keep)" in result.output
    assert " deleted " not in result.output and "resource(s) to delete" not in result.output


# A node type AWS would refuse is now caught before anything is created (StepType.preflight; ops/steps/node_types.py), so a
# step that fails mid-run is the demo asked for a restaurant the seed data does not have.
MISSING_RESTAURANT = "restaurant=Nowhere Diner"


def test_a_failed_step_and_teardown_on_failure_cleans_up(workdir):
    result = CliRunner().invoke(cli, ["run", LAB, "--dry-run", "--teardown-on-failure", "--var", MISSING_RESTAURANT])
    assert result.exit_code == 1
    assert "Step 'demo' failed" in result.output and "Nowhere Diner" in result.output
    assert "Traceback" not in result.output and "FAILED, then torn down" in result.output
    state = json.loads((workdir / ".ops/dry-run/state/elasticache-lab.json").read_text())
    assert all(r["status"] in ("deleted", "refused") for r in state["resources"])
    assert not (workdir / ".ops/dry-run/account").exists()


def test_a_failed_dry_run_stays_for_inspection_and_tears_down_later(workdir):
    failed = CliRunner().invoke(cli, ["run", LAB, "--dry-run", "--var", MISSING_RESTAURANT])
    assert failed.exit_code == 1 and f"ops teardown {LAB} --dry-run" in failed.output
    assert (workdir / ".ops/dry-run/account").exists()
    status = run("status", "--dry-run")
    assert "cloud9-environment" in status.output and "ready" in status.output
    done = run("teardown", LAB, "--dry-run")
    assert done.exit_code == 0 and "nothing from this run is left in the account." in done.output
    assert not (workdir / ".ops/dry-run/account").exists()


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0, reason="needs root and unshare")
@pytest.mark.long
def test_the_dry_run_works_with_no_network_but_loopback(tmp_path):
    """In a network namespace that has only loopback, any attempt to reach AWS would fail."""
    script = f"ip link set lo up && exec {sys.executable} -m ops.cli run {LAB} --dry-run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "+PONG" in done.stdout and "nothing from this run is left" in done.stdout
