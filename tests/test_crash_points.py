"""Kill the lab's dry run (SIGKILL) at every step boundary and in the middle of every wait;
then `ops teardown --dry-run` from another process (the test's own) must leave the simulated
account empty.

The kill points are those of a reference run's timeline, so they follow the playbook: each is
a test of its own (so pytest-xdist spreads them), and one more test makes a reference run and
checks that KILL_POINTS is exactly its kill points, no more and no fewer. When the playbook
changes, that test fails and prints the list to paste here.
`OPS_CRASH_AT` (ops/crashpoints.py) makes ops kill itself right after the chosen event. Each
run is a process of its own, forked warm by tests/ops_forkserver.py (a cold start would cost
a second of imports and model parsing per kill point).
"""

import json
import os
import signal
from collections import defaultdict
from pathlib import Path

import ops_forkserver
import pytest
from click.testing import CliRunner

from ops.cli import cli

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")
FEW_READS = ("--var", "demo_reads=5")  # the demo times 50 reads by default: CPU, and no kill point

# What kill_points() finds in a dry run of playbooks/lab.yaml (sorted; checked below).
KILL_POINTS = [
    "resource_deleting:cloud9",
    "resource_deleting:demo",
    "resource_deleting:ingress",
    "resource_deleting:redis",
    "resource_deleting:table",
    "resource_deleting:workspace",
    "step_create_finished:cloud9",
    "step_create_finished:demo",
    "step_create_finished:ingress",
    "step_create_finished:ping",
    "step_create_finished:redis",
    "step_create_finished:table",
    "step_create_finished:workspace",
    "step_finished:cloud9",
    "step_finished:demo",
    "step_finished:ingress",
    "step_finished:ping",
    "step_finished:redis",
    "step_finished:table",
    "step_finished:workspace",
    "step_started:cloud9",
    "step_started:demo",
    "step_started:ingress",
    "step_started:ping",
    "step_started:redis",
    "step_started:table",
    "step_started:workspace",
    "step_waiting:cloud9:19",
    "step_waiting:cloud9:2",
    "step_waiting:cloud9:37",
    "step_waiting:cloud9:4",
    "step_waiting:cloud9:45",
    "step_waiting:cloud9:6",
    "step_waiting:cloud9:7",
    "step_waiting:ping:1",
    "step_waiting:ping:3",
    "step_waiting:redis:18",
    "step_waiting:redis:35",
    "step_waiting:redis:51",
    "step_waiting:table:2",
    "step_waiting:table:5",
    "step_waiting:workspace:1",
    "step_waiting:workspace:3",
]


def ops(cwd, *args, crash_at=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "OPS_CRASH_AT"}
    if crash_at:
        env["OPS_CRASH_AT"] = crash_at
    return ops_forkserver.run(args, cwd=cwd, env=env, timeout=300)


def kill_points(folder):
    """Every step boundary, and the middle poll of every wait, of a real dry run."""
    done = ops(folder, "run", LAB, "--dry-run", *FEW_READS, "--output", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    points = [
        f"{e['event']}:{e['step']}"
        for e in events
        if e["event"] in ("step_started", "step_create_finished", "step_finished")
    ]
    polls = defaultdict(list)
    for e in events:
        if e["event"] == "step_waiting":
            polls[(e["step"], e["what"])].append(e)
    for (step, _what), seen in polls.items():
        index = sum(
            1
            for e in events[: events.index(seen[len(seen) // 2]) + 1]
            if e["event"] == "step_waiting" and e["step"] == step
        )
        points.append(f"step_waiting:{step}:{index}")
    points += [f"resource_deleting:{e['step']}" for e in events if e["event"] == "resource_deleting"]
    return sorted(set(points))


def test_the_kill_points_are_those_of_a_reference_run(tmp_path):
    found = kill_points(tmp_path)
    assert found == KILL_POINTS, (
        "the lab's kill points changed; set KILL_POINTS in tests/test_crash_points.py "
        f"to:\n{json.dumps(found, indent=4)}"
    )


def test_there_are_kill_points_for_every_step_and_wait():
    steps = {"cloud9", "redis", "ingress", "ping", "table", "demo", "workspace"}
    for event in ("step_started", "step_create_finished", "step_finished"):
        assert {p.split(":")[1] for p in KILL_POINTS if p.startswith(event + ":")} == steps
    assert sum(p.startswith("step_waiting") for p in KILL_POINTS) >= 6  # creations, SSM, deletions
    assert {p.split(":")[1] for p in KILL_POINTS if p.startswith("resource_deleting")} == steps - {
        "ping",
    }  # it makes nothing


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_at_this_point_leaves_nothing_after_teardown(point, tmp_path, monkeypatch):
    killed = ops(tmp_path, "run", LAB, "--dry-run", *FEW_READS, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, f"{point}: not killed ({killed.returncode}): {killed.stderr[-800:]}"
    # the teardown runs here, in a process that never saw the run (no second interpreter to start)
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["teardown", LAB, "--dry-run"])
    assert done.exit_code == 0, done.output[-1600:]
    assert "nothing from this run is left in the account." in done.output or "nothing to delete" in done.output, (
        done.output[-800:]
    )
    assert not (tmp_path / ".ops/dry-run/account").exists()  # the idle simulated account is gone too
    # (had it stayed, conftest's no_simulated_account_left_running would stop its server and Redis)
