"""Two ops processes on one lab whose records are kept in this folder: the second waits for
the first or stops at once (exit 3, naming the holder), as with records in S3; before, both
ran and the record kept only one run's resources (issue 15)."""

import os
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from harness import realtime_config, start_ops

from ops.cli import cli

LAB = """\
name: local-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
"""
SLOW = realtime_config({"dynamodb.create": "4s", "dynamodb.delete": "1s"})


def start_run(folder, *extra):
    return start_ops(folder, "run", "lab.yaml", "--dry-run", "--realtime", "--config", "slow.yaml", *extra)


def held_by(folder, timeout=60) -> str:
    lock = folder / ".ops/dry-run/locks/local-lab.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text():
            return lock.read_text()
        time.sleep(0.1)
    raise AssertionError("the first run never took the lock")


@pytest.mark.long
def test_a_second_run_of_a_lab_in_one_folder_stops_or_waits(tmp_path, monkeypatch):
    (tmp_path / "lab.yaml").write_text(LAB)
    (tmp_path / "slow.yaml").write_text(SLOW)
    first = start_run(tmp_path)
    assert f"pid {first.pid}" in held_by(tmp_path)
    impatient = start_run(tmp_path)
    patient = start_run(tmp_path, "--lock-timeout", "2m", "--keep")
    out, err = impatient.communicate(timeout=120)
    assert impatient.returncode == 3, out + err
    assert f"pid {first.pid}" in out + err and "--lock-timeout" in out + err
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_out + first_err
    out, err = patient.communicate(timeout=180)
    assert patient.returncode == 0, out + err
    assert "is locked by" in out and "waiting up to 2m" in out
    # the record is the patient run's, whole; and its teardown takes the lock too
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["teardown", "local-lab", "--dry-run"])
    assert done.exit_code == 0, done.output
    assert "nothing from this run is left in the account." in done.output
    assert (tmp_path / ".ops/dry-run/locks/local-lab.lock").read_text() == ""  # released


def _hold_lock_briefly(lock, holder_text: str, seconds: float):
    """A process holding `lock` (flock) for `seconds`, the file naming `holder_text`: as a child
    that a run forked keeps the run's lock until it starts its own program."""
    script = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0); os.write(fd, sys.argv[2].encode())\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[3]))\n"
    )
    lock.parent.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(lock), holder_text, str(seconds)], stdout=subprocess.PIPE
    )
    assert child.stdout.readline() == b"held\n"
    return child


def _ended_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize("holder_ended", [True, False], ids=["holder ended", "holder runs"])
def test_a_lock_whose_named_holder_ended_is_waited_for_a_moment(tmp_path, monkeypatch, holder_ended):
    """A run killed while a child it was starting still shared its lock: the next command
    (here a run with no --lock-timeout) waits the moment it takes the child to let go,
    rather than saying the dead run holds the lab. A holder that runs still stops it at once."""
    (tmp_path / "lab.yaml").write_text(LAB)
    pid = _ended_pid() if holder_ended else os.getpid()
    holder = f"root@{socket.gethostname()}, pid {pid} ('ops run lab.yaml --dry-run'), since 2026-12-04 15:01:04 UTC"
    child = _hold_lock_briefly(tmp_path / ".ops/dry-run/locks/local-lab.lock", holder, 0.5)
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["run", "lab.yaml", "--dry-run"])
    child.wait()
    child.stdout.close()
    if holder_ended:
        assert done.exit_code == 0, done.output
        assert "nothing from this run is left in the account." in done.output
    else:
        assert done.exit_code == 3, done.output
        assert f"pid {pid}" in done.output and "--lock-timeout" in done.output
