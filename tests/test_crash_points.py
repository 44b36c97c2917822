"""Kill the lab's dry run (SIGKILL) at every step boundary and in the middle of every wait;
then `ops teardown --dry-run` from a new process must leave the simulated account empty.

The kill points come from a reference run's timeline, so they follow the playbook.
`OPS_CRASH_AT` (ops/crashpoints.py) makes ops kill itself right after the chosen event.
"""
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def ops(cwd, *args, crash_at=None):
    env = dict(ENV, **({"OPS_CRASH_AT": crash_at} if crash_at else {}))
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def kill_points(tmp_path_factory):
    """Every step boundary, and the middle poll of every wait, of a real dry run."""
    folder = tmp_path_factory.mktemp("reference")
    done = ops(folder, "run", LAB, "--dry-run", "--output", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    points = [f"{e['event']}:{e['step']}" for e in events
              if e["event"] in ("step_started", "step_create_finished", "step_finished")]
    polls = defaultdict(list)
    for e in events:
        if e["event"] == "step_waiting":
            polls[(e["step"], e["what"])].append(e)
    for (step, _what), seen in polls.items():
        index = sum(1 for e in events[:events.index(seen[len(seen) // 2]) + 1]
                    if e["event"] == "step_waiting" and e["step"] == step)
        points.append(f"step_waiting:{step}:{index}")
    points += [f"resource_deleting:{e['step']}" for e in events if e["event"] == "resource_deleting"]
    return list(dict.fromkeys(points))


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    return kill_points(tmp_path_factory)


RESULTS = {"tried": 0, "clean": 0}


def test_there_are_kill_points_for_every_step_and_wait(points):
    steps = {"cloud9", "redis", "ingress", "ping", "table", "demo"}
    assert {p.split(":")[1] for p in points if p.startswith("step_started")} == steps
    assert sum(p.startswith("step_waiting") for p in points) >= 6  # creations, SSM, deletions


def test_every_kill_point_leaves_nothing_after_teardown(points, tmp_path):
    dirty = []
    for index, point in enumerate(points):
        folder = tmp_path / f"k{index}"
        folder.mkdir()
        killed = ops(folder, "run", LAB, "--dry-run", crash_at=point)
        assert killed.returncode == -signal.SIGKILL, f"{point}: not killed ({killed.returncode})"
        done = ops(folder, "teardown", LAB, "--dry-run")
        RESULTS["tried"] += 1
        clean = (done.returncode == 0 and not (folder / ".ops/dry-run/account").exists()
                 and ("nothing from this run is left in the account." in done.stdout
                      or "nothing to delete" in done.stdout))
        if clean:
            RESULTS["clean"] += 1
        else:
            dirty.append((point, done.returncode, done.stdout[-800:], done.stderr[-800:]))
            ops(folder, "sim", "reset")
    print(f"\nkill points tried: {RESULTS['tried']}, clean after teardown: {RESULTS['clean']}")
    assert dirty == []
