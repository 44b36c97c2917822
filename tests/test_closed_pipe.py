"""`ops run ... | head`: the reader of the output leaves early. The run must go on (it was
in the middle of creating resources), finish and tear down, with its record true; the
output is dropped, and no BrokenPipeError reaches the user (issue 15)."""

import json
import os
import subprocess
from pathlib import Path

import ops_forkserver

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")


def test_a_run_whose_reader_left_finishes_and_leaves_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = ops_forkserver.start(
        ["run", LAB, "--dry-run", "--output", "json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert run.stdout is not None and run.stderr is not None
    first = [json.loads(run.stdout.readline()) for _ in range(3)]  # what `| head -3` reads
    assert first[0]["event"] == "run_started"
    run.stdout.close()  # the reader leaves, mid-create
    err = run.stderr.read().decode()
    assert run.wait(timeout=300) == 0, err
    assert "BrokenPipe" not in err and "internal error" not in err and "Traceback" not in err
    record = json.loads((tmp_path / ".ops/dry-run/state/elasticache-lab.json").read_text())
    assert record["resources"] and {r["status"] for r in record["resources"]} <= {"deleted", "refused"}
    assert not (tmp_path / ".ops/dry-run/account").exists()  # the idle simulated account was ended
    run.stderr.close()
