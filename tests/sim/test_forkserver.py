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
