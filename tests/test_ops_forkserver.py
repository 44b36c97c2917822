"""ops forked warm by tests/ops_forkserver.py, as the suite starts its ops processes, is a cold
`python -m ops.cli`'s equal: the same exit status (minus the signal that killed it), output,
folder and environment (the test's, whole: nothing of the forkserver's own); and ops starts
cold when the forkserver cannot fork it.

These tests use a forkserver of their own, whose environment names a region that no test
gives its ops: a forked ops that saw it would print it.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import ops_forkserver
import pytest

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"
PARENTS_REGION = "ap-south-2"  # in the forkserver's environment only


@pytest.fixture(scope="module")
def forkserver():
    folder = tempfile.mkdtemp(prefix="ops-cli-")
    path = os.path.join(folder, "socket")
    env = {k: v for k, v in os.environ.items() if k not in ("OPS_CRASH_AT", "AWS_REGION")}
    env["AWS_DEFAULT_REGION"] = PARENTS_REGION
    process = ops_forkserver.launch(path, env=env)
    yield process, path
    process.terminate()
    process.wait()
    assert process.stdout is not None
    process.stdout.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def warm(forkserver, monkeypatch):
    """Ops processes started from here on are forked by this module's forkserver: its pid."""
    process, path = forkserver
    monkeypatch.setenv(ops_forkserver.ENV_VAR, path)
    return process.pid


def test_the_suite_starts_ops_warm(tmp_path):
    """conftest.py's forkserver is there for every test."""
    process = ops_forkserver.start(
        ["--version"], cwd=tmp_path, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert isinstance(process, ops_forkserver.WarmProcess)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, "") and out.startswith("ops, version ")


def an_environment(**variables):
    """The test's environment without a region, and with `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION", "OPS_CRASH_AT")}
    return {**env, **variables}


def warm_ops(argv, folder, env):
    process = ops_forkserver.start(
        argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert isinstance(process, ops_forkserver.WarmProcess)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def cold_ops(argv, folder, env):
    done = subprocess.run(
        ops_forkserver.command(argv),
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["validate", str(LAB)],
        ["validate", "no-such-playbook.yaml"],  # a bad input: its exit code, its message on stderr
        ["no-such-command"],  # click's usage error
        ["steps", "dynamodb.table"],
    ],
)
def test_a_forked_ops_answers_as_a_cold_one(argv, tmp_path, warm):
    env = an_environment()
    found = warm_ops(argv, tmp_path, env)
    assert found == cold_ops(argv, tmp_path, env)
    assert found[1] + found[2]  # it said something


@pytest.mark.parametrize("region", ["eu-west-3", None])
def test_a_forked_ops_runs_in_the_tests_folder_with_the_tests_environment_only(region, tmp_path, warm):
    """`ops iam-policy lab.yaml` finds lab.yaml in its working folder, and scopes the policy
    to the region of AWS_DEFAULT_REGION when set (else to any region)."""
    shutil.copy(LAB, tmp_path / "lab.yaml")
    env = an_environment(**({"AWS_DEFAULT_REGION": region} if region else {}))
    found = warm_ops(["iam-policy", "lab.yaml"], tmp_path, env)
    assert found[0] == 0, found
    assert (f":{region}:" in found[1]) == bool(region)
    assert PARENTS_REGION not in found[1] + found[2]  # the forkserver's AWS_DEFAULT_REGION
    assert found == cold_ops(["iam-policy", "lab.yaml"], tmp_path, env)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_forked_ops_killed_by_the_test_exits_minus_9(tmp_path, warm):
    process = ops_forkserver.start(
        ["run", str(LAB), "--dry-run"],
        cwd=tmp_path,
        env=an_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert isinstance(process, ops_forkserver.WarmProcess)
    assert parent_of(process.pid) == warm  # forked, not started
    assert process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.05)
    process.kill()
    out, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert isinstance(out, bytes) and isinstance(err, bytes)


def test_a_forked_ops_reads_ops_crash_at_from_the_tests_environment(tmp_path, warm):
    """The forkserver has no OPS_CRASH_AT: the run kills itself at its start only if ops read
    the variable from the environment the test gave it (ops/crashpoints.py)."""
    done = ops_forkserver.run(
        ["run", str(LAB), "--dry-run"], cwd=tmp_path, env=an_environment(OPS_CRASH_AT="run_started"), timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-800:]
    # (conftest's no_simulated_account_left_running ends the account it left)


@pytest.mark.parametrize("why", ["no forkserver", "its socket is gone", "another network namespace"])
def test_ops_starts_cold_when_the_forkserver_cannot_fork_it(why, tmp_path, warm, monkeypatch):
    if why == "no forkserver":
        monkeypatch.delenv(ops_forkserver.ENV_VAR)
    elif why == "its socket is gone":
        monkeypatch.setenv(ops_forkserver.ENV_VAR, str(tmp_path / "no-such-socket"))
    else:  # the forkserver refuses: its children would be in its namespace, not the caller's
        monkeypatch.setattr(ops_forkserver, "network_namespace", lambda: "net:[0]")
    process = ops_forkserver.start(
        ["validate", str(LAB)], cwd=tmp_path, env=an_environment(), stdout=subprocess.PIPE, text=True
    )
    assert isinstance(process, subprocess.Popen)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and ": valid: lab " in out, out
