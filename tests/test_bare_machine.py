"""The README's dry run on a machine with nothing but Python: no redis-server, no openssl.

The simulated cluster endpoints are then served by the embedded fakeredis, which speaks only
RESP arrays: PING and the demo must still work end to end. The dry run runs in a child process
whose PATH is every command of this machine except redis-* and openssl, inside a network
namespace with only loopback when the machine allows one (as the dry-run test in
test_lab_dry_run.py does), so nothing leaves the machine.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"
HIDDEN = (
    "redis-server",
    "redis-cli",
    "redis-benchmark",
    "redis-check-aof",
    "redis-check-rdb",
    "redis-sentinel",
    "openssl",
)


def path_without(hidden, folder: Path) -> str:
    """A PATH of one folder holding a link to every command on today's PATH but `hidden`."""
    folder.mkdir()
    for directory in [str(Path(sys.executable).parent), *os.environ.get("PATH", "").split(os.pathsep)]:
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name in hidden or link.exists() or not os.access(entry.path, os.X_OK):
                continue
            link.symlink_to(entry.path)
    return str(folder)


@pytest.mark.long
def test_the_dry_run_pings_and_runs_the_demo_without_redis_server_or_openssl(tmp_path):
    bare = path_without(HIDDEN, tmp_path / "bin")
    assert all(shutil.which(name, path=bare) is None for name in HIDDEN)
    assert shutil.which("bash", path=bare) and shutil.which("python3", path=bare)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "OPS_LOCAL_REDIS"}
    env["PATH"] = bare
    command = [sys.executable, "-m", "ops.cli", "run", str(LAB), "--dry-run"]
    if shutil.which("unshare") and os.geteuid() == 0:
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$@"', "sh", *command]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "-> +PONG" in out
    assert "Using uncached result!" in out and "Using cached result!" in out
    assert "nothing from this run is left in the account." in out
