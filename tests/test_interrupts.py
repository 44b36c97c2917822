"""Ctrl-C during a run: stop at a safe point, say what exists, exit 130."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import ops_forkserver
import pytest
from harness import realtime_config

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")
# The cluster and the environment take 5 real seconds to create: long enough to signal the run
# while it waits on them (it is signalled as soon as it prints that it waits), short enough not
# to slow the suite; the rest is quick, so teardown's deletions all go at once.
SLOW = realtime_config(
    {
        "elasticache.create": "5s",
        "cloud9.create": "5s",
        "elasticache.delete": "1s",
        "cloud9.delete": "1s",
        "dynamodb.create": "1s",
        "dynamodb.delete": "1s",
    }
)


def start(tmp_path, *extra):
    (tmp_path / "slow.yaml").write_text(SLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return ops_forkserver.start(  # forked warm (tests/ops_forkserver.py), with a new interpreter's signal handlers
        ["run", LAB, "--dry-run", "--realtime", "--config", "slow.yaml", *extra],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(process, text, timeout=60, stream="stdout"):
    """Read stdout (or stderr) until a line contains text; return everything read."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = getattr(process, stream).readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"never saw {text!r}: {''.join(seen)[-2000:]}")


def teardown_in_a_new_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return ops_forkserver.run(["teardown", LAB, "--dry-run"], cwd=tmp_path, env=env, timeout=300)


@pytest.mark.long
def test_first_ctrl_c_stops_at_a_safe_point_and_a_new_process_tears_down(tmp_path):
    process = start(tmp_path)
    wait_for(process, "waiting  cluster")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "stopping at the next safe point" in err
    assert "ops: interrupted" in out and "exist now" in out
    assert f"to delete them: ops teardown {LAB} --dry-run" in out
    assert "Traceback" not in err
    done = teardown_in_a_new_process(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing from this run is left in the account." in done.stdout
    assert not (tmp_path / ".ops/dry-run/account").exists()  # the idle simulated account is gone too


@pytest.mark.long
def test_sigterm_with_teardown_cleans_up_at_once(tmp_path):
    process = start(tmp_path, "--teardown")
    wait_for(process, "waiting  cluster")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "interrupted, then torn down" in out and "nothing from this run is left" in out


def test_second_ctrl_c_stops_at_once_and_the_record_still_tears_down(tmp_path):
    process = start(tmp_path)
    wait_for(process, "waiting  cluster")
    process.send_signal(signal.SIGINT)
    # as a person would: Ctrl-C again once the first is answered (two signals sent before the
    # process runs merge into one, and it would then stop at the safe point)
    wait_for(process, "press Ctrl-C again", stream="stderr")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert "ops: interrupted" in out + err
    # at once: not at the safe point a single Ctrl-C waits for, the cluster being available
    assert not re.search(r"waiting +cluster \S+: available", out + err), out + err
    done = teardown_in_a_new_process(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing from this run is left in the account." in done.stdout
