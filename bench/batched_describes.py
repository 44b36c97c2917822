"""Benchmark: one describe call serves every waiter of a kind (issue 16; ops/shared_describe.py).

Runs one lab, then N labs at once (50 by default), in the simulator (no faults, default
timings), counts the requests the simulator receives for each Describe* operation (every
attempt, as botocore sends it) and compares: calls of N labs / (N x calls of one lab), per
operation and overall (goal <= 0.2), and the N labs' makespan / one lab's, teardown
included (goal <= 1.1).

    python bench/batched_describes.py               # 1 and 50 labs of playbooks/lab.yaml
    python bench/batched_describes.py --labs 10 --playbook playbooks/lab-valkey.yaml

"overall" counts the operations whose waits share their calls (SHARED: each also has looks
that stay one per lab, e.g. a step's look for its resource before creating it, and in
playbooks/lab.yaml every DescribeInstances is such a look, the Cloud9 instance's and the
account-wide IAM pieces' in-use checks at teardown); "all describes" adds the operations
that stay one per lab (DescribeTable has no batch form; DescribeEnvironmentStatus says
"ready" once an environment's shared lifecycle says CREATED).

What the makespan ratio is made of, last measured (50 labs: 788.6 s against 725.3 s, 1.087):
the rate limits spread the labs' create calls over the first seconds (ops/defaults.yaml:
iam 10/s, cloud9 5/s), a shared answer up to 3 s old can notice readiness one poll late,
and the account-wide teardown phase (the Cloud9 role and profile every lab adopted: each
lab's in-use checks and detach calls, about 400 IAM calls at 10 a second) takes 40 s after
the last cluster is gone, where one lab takes none.
"""

import argparse
import io
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "playbooks" / "lab.yaml"
sys.path.insert(0, str(ROOT))

from ops.commands.config import load_settings  # noqa: E402
from ops.commands.lab import run_labs  # noqa: E402
from ops.engine.playbook import load_playbook  # noqa: E402
from ops.engine.target import RunTarget  # noqa: E402
from ops.output import Reporter  # noqa: E402

# the describe operations whose waits go through a shared describe (ops/shared_describe.py)
SHARED = ("DescribeCacheClusters", "DescribeReplicationGroups", "DescribeEnvironments", "DescribeInstances")
CALLS_GOAL, MAKESPAN_GOAL = 0.2, 1.1


def simulated_run(count, playbook_path=LAB):
    """`count` copies of the playbook at once in a throwaway simulated account, torn down:
    (makespan in simulated seconds, requests per operation, exit code)."""
    settings, _, _ = load_settings(())
    playbook = load_playbook(playbook_path)
    reporter = Reporter("json", io.StringIO())
    last = []
    reporter.listen(lambda name, t, fields: last.append(t))
    requests, lock = Counter(), threading.Lock()

    def count_request(event_name, **_):  # request-created.<service>.<Operation>: once per attempt
        with lock:
            requests[event_name.rsplit(".", 1)[-1]] += 1

    with tempfile.TemporaryDirectory() as root:
        target = RunTarget(Path(root), dry_run=True, throwaway=True)
        with target.open(patient=True) as aws:
            aws.session.events.register("request-created", count_request)
            code = run_labs(
                playbook,
                target,
                aws=aws,
                reporter=reporter,
                settings=settings,
                keep=False,
                count=count if count > 1 else None,
                parallel=count,
            )
    return max(last), requests, code


def batched_figures(labs=50, playbook_path=LAB):
    """Rows: each describe operation, the overall figures and the makespan, for 1 and `labs` labs."""
    one_span, one, one_code = simulated_run(1, playbook_path)
    many_span, many, many_code = simulated_run(labs, playbook_path)
    if one_code or many_code:
        raise SystemExit(f"a run failed (exit codes {one_code}, {many_code}): the figures would mean nothing")

    def row(figure, single, together, goal=""):
        return {
            "figure": figure,
            "one_lab": single,
            f"{labs}_labs": together,
            "ratio": round(together / (labs * single), 3) if single else None,
            "goal": goal,
        }

    describes = sorted(op for op in set(one) | set(many) if op.startswith("Describe"))
    rows = [row(op, one[op], many[op], "waits shared" if op in SHARED else "one per lab") for op in describes]
    rows.append(
        row(
            "overall (" + ", ".join(op[len("Describe") :] for op in SHARED) + ")",
            sum(one[op] for op in SHARED),
            sum(many[op] for op in SHARED),
            f"<= {CALLS_GOAL}",
        )
    )
    rows.append(row("all describes", sum(one[op] for op in describes), sum(many[op] for op in describes)))
    rows.append(
        {
            "figure": "makespan (s), teardown included",
            "one_lab": round(one_span, 1),
            f"{labs}_labs": round(many_span, 1),
            "ratio": round(many_span / one_span, 3),
            "goal": f"<= {MAKESPAN_GOAL}",
        }
    )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=50, help="labs at once (default 50)")
    parser.add_argument("--playbook", default=str(LAB), help="the playbook (default playbooks/lab.yaml)")
    args = parser.parse_args()
    from run import print_table  # bench/run.py, beside this file

    print_table(
        f"describe calls and makespan: 1 lab vs {args.labs} at once (simulated)",
        batched_figures(args.labs, Path(args.playbook)),
    )


if __name__ == "__main__":
    main()
