"""Benchmark figure "learned expectation": the lab twice in one folder, in the simulator, with
ElastiCache creation taking 150 s where the built-in expectation says 420 s. The first run
polls on the default schedule and notices the cluster late; the second expects what the
first measured (ops/engine/wait_history.py) and notices it within a few seconds.

    python bench/learned_waits.py      # this figure alone (bench/run.py prints it too)
"""

import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "playbooks" / "lab.yaml"
sys.path.insert(0, str(ROOT))

from ops.commands.config import load_settings  # noqa: E402
from ops.commands.lab import run_labs  # noqa: E402
from ops.engine.playbook import load_playbook  # noqa: E402
from ops.engine.target import RunTarget  # noqa: E402
from ops.engine.wait_history import LocalHistory, expectation  # noqa: E402
from ops.output import Reporter  # noqa: E402

CREATION = 150.0  # simulated ElastiCache creation; the built-in expectation is 420 s
CLUSTER_SIZE = "cache.t3.micro redis cluster"  # lab.yaml's cluster, as its wait is keyed


def learned_expectation():
    """One row per run (first, second) of the lab in one folder: the expectation the cluster's
    creation wait used and where it came from, its describe calls and its detection lag."""
    settings, _, _ = load_settings(())
    playbook = load_playbook(LAB)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for run in ("first", "second"):
            history = LocalHistory(root, dry_run=True).read()
            expected = expectation(settings, history, "us-east-1", "elasticache.create", CLUSTER_SIZE)
            code, events = _run(playbook, root, settings)
            row = {"run": run, "expected_s": expected.seconds, "from": expected.source}
            rows.append({**row, **_cluster_wait(events), "exit_code": code})
    return rows


def _run(playbook, root, settings):
    """The lab once, in a fresh simulated account but with root's .ops/: (exit code, events)."""
    events = []
    reporter = Reporter("json", io.StringIO())
    reporter.listen(lambda name, t, fields: events.append({"t": t, "event": name, **fields}))
    code = run_labs(
        playbook,
        RunTarget(root, dry_run=True, throwaway=True, sim_durations={"elasticache.create": CREATION}),
        reporter=reporter,
        settings=settings,
        keep=False,
    )
    return code, events


def _cluster_wait(events):
    """Describe calls of the cluster's creation wait, and how long after readiness it noticed."""
    created = next(e for e in events if e["event"] == "step_created" and e["kind"] == "cache-cluster")
    ready = created["t"] + CREATION
    polls = [
        e["t"]
        for e in events
        if e["event"] == "step_waiting" and e["step"] == created["step"] and e["what"] == f"cluster {created['id']}"
    ]
    seen = next(t for t in polls if t >= ready - 1e-6)
    return {"ready_s": CREATION, "calls": len(polls), "lag_s": round(seen - ready, 1)}


if __name__ == "__main__":
    for row in learned_expectation():
        print(row)
