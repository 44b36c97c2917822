"""A simulated account's server starts the same way warm (forked by ops/sim/forkserver.py, as
the suite's servers are) or cold (`python -m ops.sim.server`, as a user's dry run starts it):
detached in a session of its own, running in its home, writing its private log there, and
gone with SimWorld.destroy."""

import os
from pathlib import Path

import pytest

from ops.sim import warmstart
from ops.sim.processes import alive
from ops.sim.world import SimWorld

from .test_persistent import create_table, open_world


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("start", ["warm", "cold"])
def test_a_server_is_detached_in_its_home_either_way(start, tmp_path, monkeypatch, warm_simulator_servers):
    if start == "cold":
        monkeypatch.delenv(warmstart.ENV_VAR)
    home = tmp_path / "account"
    world = open_world(home)
    try:
        pid = world.server.pid
        create_table(world.session(), "reviews")
        assert world.session().client("dynamodb").list_tables()["TableNames"] == ["reviews"]
        assert os.getsid(pid) == pid  # a session of its own: a Ctrl-C to the caller does not reach it
        assert Path(os.readlink(f"/proc/{pid}/cwd")) == home
        assert os.stat(home / "server.log").st_mode & 0o777 == 0o600
        if start == "warm":
            assert "ops.sim.forkserver" in cmdline(parent_of(pid))
        else:
            assert "ops.sim.server" in cmdline(pid)
    finally:
        world.stop()
        SimWorld.destroy(home)
    assert not alive(pid) and not home.exists()


def test_a_server_is_started_cold_when_the_forkserver_is_gone(tmp_path, monkeypatch):
    monkeypatch.setenv(warmstart.ENV_VAR, str(tmp_path / "no-such-socket"))
    home = tmp_path / "account"
    world = open_world(home)
    try:
        assert "ops.sim.server" in cmdline(world.server.pid)
        create_table(world.session(), "reviews")
    finally:
        world.stop()
        SimWorld.destroy(home)


def test_the_forkserver_refuses_a_caller_in_another_network_namespace(monkeypatch, warm_simulator_servers, tmp_path):
    """Its children would listen on a loopback the caller cannot reach (`unshare -n`)."""
    monkeypatch.setattr(warmstart, "network_namespace", lambda: "net:[0]")
    home = tmp_path / "account"
    home.mkdir()
    pid = warmstart.fork_server(warm_simulator_servers, home, ["--home", str(home)], dict(os.environ), home / "log")
    assert pid is None


def test_accounts_forked_from_one_forkserver_get_ids_of_their_own(tmp_path, warm_simulator_servers):
    groups = []
    for name in ("one", "two"):
        world = open_world(tmp_path / name)
        try:
            ec2 = world.session().client("ec2")
            groups.append(ec2.create_security_group(GroupName="g", Description="d")["GroupId"])
        finally:
            world.stop()
            SimWorld.destroy(tmp_path / name)
    assert groups[0] != groups[1]


def test_a_forkserver_whose_starter_ended_before_it_started_ends_too(tmp_path):
    """Its starter names itself (--parent), so a starter that ends before the forkserver has
    even looked (here: at once) is seen gone, rather than the forkserver reading its new
    parent's pid (init's) as its starter's and running for ever."""
    import subprocess
    import sys
    import time

    starter = (
        "import subprocess, sys, os\n"
        "p = subprocess.Popen([sys.executable, '-m', 'ops.sim.forkserver', '--socket', sys.argv[1],"
        " '--parent', str(os.getpid())], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,"
        " start_new_session=True)\n"
        "print(p.pid)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter, str(tmp_path / "s")], capture_output=True, text=True, check=True
    )
    forkserver = int(done.stdout)
    deadline = time.monotonic() + 60  # its imports and preload, then a second's poll
    while alive(forkserver) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(forkserver)


def test_the_forkserver_outlives_askers_that_leave_or_ask_nothing_readable(tmp_path):
    """A kill point can end a dry run while it waits for its server: the forkserver's answer
    then meets a closed socket. It goes on serving the next asker (once, it ended there, and
    every account after it started cold)."""
    import json
    import socket
    import subprocess
    import sys
    import time

    from ops.sim.account_keys import make_keys
    from ops.sim.server import SERVER_FILE

    path = str(tmp_path / "s")
    forkserver = subprocess.Popen(
        [sys.executable, "-m", "ops.sim.forkserver", "--socket", path, "--parent", str(os.getpid())],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    homes = [tmp_path / "left", tmp_path / "asked"]
    try:
        assert forkserver.stdout is not None and forkserver.stdout.readline() == b"ready\n"
        for home in homes:
            home.mkdir()
            make_keys(home)  # as SimServer does before it asks: the server's own
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unreadable:
            unreadable.connect(path)
            unreadable.sendall(b"not a request\n")
        request = {
            "home": str(homes[0]),
            "argv": ["--home", str(homes[0])],
            "env": dict(os.environ),
            "log": str(homes[0] / "log"),
            "network": warmstart.network_namespace(),
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as leaving:
            leaving.connect(path)
            leaving.sendall(json.dumps(request).encode() + b"\n")
        pid = warmstart.fork_server(path, homes[1], ["--home", str(homes[1])], dict(os.environ), homes[1] / "log")
        assert pid is not None and alive(pid)
        assert forkserver.poll() is None
        deadline = time.monotonic() + 30  # the server nobody heard from starts anyway, and says so in its home
        while not (homes[0] / SERVER_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (homes[0] / SERVER_FILE).exists()
        assert json.loads((homes[0] / SERVER_FILE).read_text())["pid"] != pid  # a server of its own
    finally:
        for home in homes:
            SimWorld.destroy(home)
        forkserver.terminate()
        forkserver.wait()
        assert forkserver.stdout is not None
        forkserver.stdout.close()
