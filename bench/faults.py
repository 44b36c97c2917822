"""The fault suite: the lab rehearsed through ops's real code path against a simulator that
fails the way AWS does, seed after seed, each run with its teardown. CI runs it after the
tests; the README's fault table quotes its last figures (bench/faults.json).

    python bench/faults.py                       # 100 seeds, then 20 rounds of 10 labs at once
    python bench/faults.py --seeds 10 --rounds 2 # a quick look

Seeds: issue 15's mix on every call of every service (20% throttling, 5% server errors, 5%
connections dropped before the request is applied, 8% answers lost after it was applied),
drawn per attempt on the simulated network, inside botocore's retries. Passes when no run
leaves anything behind and at least 95% of runs succeed.
Rounds: N copies of the lab at once in one account, no faults (what they race on: the
account-wide IAM role and instance profile, "last one out"). Passes when none leaks.

Each seed and each round runs in its own process (a simulated account is per process), up
to --jobs at a time. Exit 0 when both pass, 1 otherwise.
"""

import argparse
import io
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "playbooks" / "lab.yaml"
RESULTS = Path(__file__).resolve().parent / "faults.json"
sys.path.insert(0, str(ROOT))

MIX = {"throttle": 0.2, "server_error": 0.05, "dropped": 0.05, "lost_answer": 0.08}
MIN_SUCCESS = 0.95


def rehearse(seed=None, labs=1):
    """One dry run of the lab with teardown in a throwaway account: {seed, labs, ok, failed
    step, left, faults drawn, wall seconds}."""
    from ops.commands.config import load_settings
    from ops.commands.lab import run_labs
    from ops.engine.playbook import load_playbook
    from ops.engine.target import RunTarget
    from ops.errors import StepFailed
    from ops.output import Reporter
    from ops.sim.faults import FaultPlan

    drawn = []

    class CountingPlan(FaultPlan):
        def draw(self, service, operation, n):
            fault = super().draw(service, operation, n)
            if fault:
                drawn.append(fault)
            return fault

    plan = CountingPlan(seed=seed, **MIX) if seed is not None else None
    settings, _, _ = load_settings(())
    stream = io.StringIO()
    started = time.perf_counter()
    failed = None
    with tempfile.TemporaryDirectory() as root:
        try:
            run_labs(
                load_playbook(LAB),
                RunTarget(Path(root), dry_run=True, throwaway=True, sim_faults=plan),
                reporter=Reporter("json", stream),
                settings=settings,
                keep=False,
                count=labs if labs > 1 else None,
                parallel=labs,
            )
        except StepFailed as failure:
            failed = f"{failure.step}: {str(failure)[:160]}"
    finished = [json.loads(line) for line in stream.getvalue().splitlines()]
    finished = [e for e in finished if e["event"] == "run_finished"]
    left = sorted({item for e in finished for item in e.get("left", [])})
    checked = bool(finished) and all(e.get("checked_account") for e in finished)
    return {
        "seed": seed,
        "labs": labs,
        "ok": failed is None,
        "failed": failed,
        "left": left,
        "checked": checked,
        "faults": {kind: drawn.count(kind) for kind in MIX},
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _round(labs):
    return rehearse(labs=labs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="fault seeds to run (1..N)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of many labs at once")
    parser.add_argument("--labs", type=int, default=10, help="labs per round")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="processes at a time")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        seeds = list(pool.map(rehearse, range(1, args.seeds + 1)))
        rounds = list(pool.map(_round, [args.labs] * args.rounds))
    wall = time.perf_counter() - started

    succeeded = sum(run["ok"] for run in seeds)
    leaking = [run for run in seeds + rounds if run["left"] or not run["checked"]]
    faults = {kind: sum(run["faults"][kind] for run in seeds) for kind in MIX}
    summary = {
        "mix": MIX,
        "seeds": len(seeds),
        "succeeded": succeeded,
        "success_rate": round(succeeded / len(seeds), 3) if seeds else None,
        "faults_drawn": faults,
        "leaking_runs": len(leaking),
        "rounds": len(rounds),
        "labs_per_round": args.labs,
        "rounds_failed": sum(not run["ok"] for run in rounds),
        "wall_s": round(wall, 1),
    }
    for run in seeds:
        if not run["ok"]:
            print(f"seed {run['seed']}: failed at {run['failed']}")
    for run in leaking:
        what = f"seed {run['seed']}" if run["seed"] is not None else f"a round of {run['labs']} labs"
        print(f"{what}: LEFT {run['left'] or '(the account was not checked)'}")
    print(
        f"{len(seeds)} seeds: {succeeded} succeeded ({summary['success_rate']:.0%}), "
        f"{sum(faults.values())} faults drawn {faults}; "
        f"{len(rounds)} rounds of {args.labs} labs: {summary['rounds_failed']} failed; "
        f"{len(leaking)} runs left something; {wall:.0f} s"
        if seeds
        else f"{len(rounds)} rounds: {len(leaking)} left something"
    )
    RESULTS.write_text(json.dumps({**summary, "runs": seeds + rounds}, indent=1) + "\n")
    ok = not leaking and (not seeds or succeeded / len(seeds) >= MIN_SUCCESS)
    print("fault suite:", "passed" if ok else f"FAILED (needs 0 leaks and >= {MIN_SUCCESS:.0%} success)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
