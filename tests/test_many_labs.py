"""Several copies of the lab at once, in one simulated account, kept apart."""

import json
from pathlib import Path

from click.testing import CliRunner

from ops.cli import cli

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")
FEW_READS = ("--var", "demo_reads=5")  # each copy's demo times 50 reads by default: CPU, and nothing tested here


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_named_copies_each_get_their_own_record_and_resources(workdir):
    result = run("run", LAB, "--dry-run", *FEW_READS, "--names", "alice,bob", "--output", "json")
    assert result.exit_code == 0, result.output[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    finished = {e["lab"]: e for e in events if e["event"] == "run_finished"}
    assert set(finished) == {"elasticache-lab-alice", "elasticache-lab-bob"}
    assert all(e["left"] == [] and e["checked_account"] for e in finished.values())
    states = {p.stem: json.loads(p.read_text()) for p in (workdir / ".ops/dry-run/state").glob("*.json")}
    assert set(states) == {"elasticache-lab-alice", "elasticache-lab-bob"}
    alice, bob = states["elasticache-lab-alice"], states["elasticache-lab-bob"]
    assert alice["run_id"] != bob["run_id"] and alice["group"] == bob["group"] == "elasticache-lab"
    clusters = {lab: {r["id"] for r in s["resources"] if r["kind"] == "cache-cluster"} for lab, s in states.items()}
    assert clusters["elasticache-lab-alice"].isdisjoint(clusters["elasticache-lab-bob"])
    pongs = [e for e in events if e["event"] == "step_output" and "+PONG" in e["text"]]
    assert {e["lab"] for e in pongs} == set(finished)


def test_the_shared_iam_role_is_created_once_and_deleted_last(workdir):
    result = run("run", LAB, "--dry-run", *FEW_READS, "--count", "3", "--output", "json")
    assert result.exit_code == 0, result.output[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    made = [e for e in events if e["event"] == "step_created" and e["kind"] == "iam-role"]
    assert sum(1 for e in made if e["ours"]) == 1  # one copy made it, the others adopted it
    role_gone = max(e["t"] for e in events if e["event"] == "resource_deleted" and e["kind"] == "iam-role")
    environments_gone = [
        e["t"] for e in events if e["event"] == "resource_deleted" and e["kind"] == "cloud9-environment"
    ]
    assert len(environments_gone) == 3 and role_gone >= max(environments_gone)


def test_teardown_deletes_independent_resources_in_parallel(workdir):
    events = [
        json.loads(line) for line in run("run", LAB, "--dry-run", *FEW_READS, "--output", "json").stdout.splitlines()
    ]
    started = {e["kind"]: e["t"] for e in events if e["event"] == "resource_deleting"}
    done = {e["kind"]: e["t"] for e in events if e["event"] == "resource_deleted"}
    # the cluster (5 simulated minutes) and the environment (1 minute) are deleted at the same time
    assert started["cloud9-environment"] < done["cache-cluster"]
    assert started["cache-cluster"] < done["cloud9-environment"]
    # but the rule naming the environment's group goes before the environment
    assert done["ingress-rule"] <= started["cloud9-environment"]
