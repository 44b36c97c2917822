"""`ops run --member`: a lab's Cloud9 environment shared, read-write, with a student's IAM user
or role session, through the CLI on the persistent simulated account (as `ops run --dry-run`
uses it), and removed by teardown.

The members are made in the simulated account before each run (as an instructor's students
exist in theirs): Cloud9 shares an environment only with principals of its account that exist.
"""

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_lost_answers_lab import LoseOne

from ops.cli import cli
from ops.clock import VirtualClock
from ops.commands.config import load_settings
from ops.commands.lab import run_labs
from ops.engine.playbook import load_playbook
from ops.engine.target import RunTarget
from ops.output import Reporter
from ops.paths import sim_home
from ops.sim.world import SimWorld

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/Student/bob"  # a session of the role Student
CLOUD9_ONLY = """\
name: c9
steps:
  - name: cloud9
    type: cloud9.environment
    with:
      name: c9-${{ run.id }}
"""


def invoke(*args):
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by itself
        runner = CliRunner()
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def students(root: Path) -> None:
    """alice (an IAM user) and the role Student, in the simulated account before the run."""
    with SimWorld(VirtualClock(), home=sim_home(root)) as world:
        iam = world.client("iam")
        iam.create_user(UserName="alice")
        iam.create_role(RoleName="Student", AssumeRolePolicyDocument="{}")


def memberships(root: Path, env_id: str):
    """(ARN, permissions) of each member of the environment but its owner, as Cloud9 lists them."""
    with SimWorld(VirtualClock(), home=sim_home(root)) as world:
        found = world.session().client("cloud9").describe_environment_memberships(environmentId=env_id)["memberships"]
    return sorted((m["userArn"], m["permissions"]) for m in found if m["permissions"] != "owner")


def record(root: Path, lab: str) -> dict:
    return json.loads((root / f".ops/dry-run/state/{lab}.json").read_text())


def environment_of(root: Path, lab: str) -> str:
    return next(r["id"] for r in record(root, lab)["resources"] if r["kind"] == "cloud9-environment")


def cloud9_only(root: Path) -> Path:
    path = root / "c9.yaml"
    path.write_text(CLOUD9_ONLY)
    return path


def events(out: str):
    return [json.loads(line) for line in out.splitlines()]


def test_a_lab_shared_with_a_user_and_a_role_session_until_teardown(workdir):
    students(workdir)
    code, out, err = invoke("run", PLAYBOOKS / "lab.yaml", "--dry-run", "--keep", "--member", ALICE, "--member", BOB)
    assert code == 0, out + err
    assert f"ops: the Cloud9 environment is shared (read-write) with {ALICE}, {BOB}" in out
    env_id = environment_of(workdir, "elasticache-lab")
    assert memberships(workdir, env_id) == [(ALICE, "read-write"), (BOB, "read-write")]

    code, opened, _ = invoke("open", "elasticache-lab", "--dry-run")
    assert code == 0 and opened.splitlines()[1] == f"shared (read-write) with {ALICE}, {BOB}"
    code, status, _ = invoke("status", "--dry-run")
    rows = [line.split() for line in status.splitlines() if "cloud9-membership" in line]
    assert [(row[0], row[1], row[2]) for row in rows] == [
        ("cloud9-membership:user/alice", f"{env_id}#{ALICE}", "read-write"),
        ("cloud9-membership:assumed-role/Student/bob", f"{env_id}#{BOB}", "read-write"),
    ]

    code, out, err = invoke("teardown", "elasticache-lab", "--dry-run", "--output", "json")
    assert code == 0, out + err
    deleted = [e["kind"] for e in events(out) if e["event"] == "resource_deleted"]
    members = {"cloud9-membership:user/alice", "cloud9-membership:assumed-role/Student/bob"}
    assert members <= set(deleted)
    assert max(deleted.index(kind) for kind in members) < deleted.index("cloud9-environment")  # before it
    assert events(out)[-1]["left"] == []


def test_a_copy_named_by_its_member_is_the_only_one_shared(workdir):
    students(workdir)
    playbook = cloud9_only(workdir)
    code, out, err = invoke("run", playbook, "--dry-run", "--keep", "--names", "a,b", "--member", f"a={ALICE}")
    assert code == 0, out + err
    assert memberships(workdir, environment_of(workdir, "c9-a")) == [(ALICE, "read-write")]
    assert memberships(workdir, environment_of(workdir, "c9-b")) == []
    code, table, _ = invoke("open", "c9", "--dry-run")
    lines = table.splitlines()
    assert lines[0].split()[-2:] == ["SHARED", "WITH"]
    assert lines[1].startswith("c9-a") and lines[1].endswith(ALICE)
    assert lines[2].startswith("c9-b") and lines[2].endswith(" -")
    code, as_json, _ = invoke("open", "c9", "--dry-run", "--output", "json")
    assert [row["members"] for row in json.loads(as_json)["labs"]] == [[ALICE], []]


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--member", "arn:aws:iam::123456789012:role/Student"], "is a role's ARN"),
        (["--member", "alice"], "is not an ARN Cloud9 takes"),
        (["--member", f"{ALICE}; rm -rf ~"], "is not an ARN Cloud9 takes"),
        (["--names", "a,b", "--member", f"c={ALICE}"], "names the copy 'c', and this run makes copies a, b only"),
        (["--member", f"a={ALICE}"], "names the copy 'a', and this run makes no copies"),
        (["--member", "arn:aws:iam::123456789012:user/nobody"], "has no such IAM user"),
        (["--member", "arn:aws:sts::123456789012:assumed-role/Teacher/x"], "has no such IAM role"),
        (["--member", "arn:aws:iam::111122223333:user/alice"], "only with principals of its own account"),
    ],
)
def test_a_member_cloud9_would_refuse_is_bad_input_and_nothing_is_made(workdir, flags, says):
    students(workdir)
    code, out, err = invoke("run", cloud9_only(workdir), "--dry-run", *flags)
    assert code == 2 and says in err, err
    assert len(err.strip().splitlines()) == 1  # one paragraph
    assert not (workdir / ".ops/dry-run/state").exists()
    with SimWorld(VirtualClock(), home=sim_home(workdir)) as world:
        assert world.session().client("cloud9").list_environments()["environmentIds"] == []


def test_a_member_of_a_playbook_without_cloud9_is_bad_input(workdir):
    code, _, err = invoke("run", PLAYBOOKS / "lab-ec2.yaml", "--dry-run", "--member", ALICE)
    assert code == 2 and "lab-ec2.yaml makes none" in err
    assert not (workdir / ".ops").exists()


def test_plan_shows_the_memberships_it_would_add(workdir):
    code, out, err = invoke("plan", cloud9_only(workdir), "--dry-run", "--member", ALICE, "--member", BOB)
    assert code == 0, out + err
    assert f"+ create  Cloud9 membership: {ALICE}, read-write" in out
    assert f"+ create  Cloud9 membership: {BOB}, read-write" in out


def test_a_membership_removed_by_hand_does_not_fail_teardown(workdir):
    students(workdir)
    assert invoke("run", cloud9_only(workdir), "--dry-run", "--keep", "--member", ALICE)[0] == 0
    env_id = environment_of(workdir, "c9")
    with SimWorld(VirtualClock(), home=sim_home(workdir)) as world:
        world.session().client("cloud9").delete_environment_membership(environmentId=env_id, userArn=ALICE)
    code, out, err = invoke("teardown", "c9", "--dry-run", "--output", "json")
    assert code == 0, out + err
    assert "cloud9-membership:user/alice" in [e["kind"] for e in events(out) if e["event"] == "resource_deleted"]
    assert events(out)[-1]["left"] == []


@pytest.mark.parametrize("operation", ["CreateEnvironmentMembership", "DeleteEnvironmentMembership"])
def test_a_lost_answer_is_recorded_once_and_removed(workdir, operation):
    """The create's retry meets ConflictException (the membership the first attempt made), the
    delete's NotFoundException (the one it removed): neither is made twice nor left behind."""
    students(workdir)
    settings, _, _ = load_settings(())
    settings["members"] = {"c9": [ALICE]}
    plan = LoseOne("cloud9", operation)
    stream = io.StringIO()
    code = run_labs(
        load_playbook(cloud9_only(workdir)),
        RunTarget(workdir, dry_run=True, sim_faults=plan),
        reporter=Reporter("json", stream),
        settings=settings,
        keep=False,
    )
    assert code == 0 and plan.lost == [("cloud9", operation)]
    happened = events(stream.getvalue())
    kind = "cloud9-membership:user/alice"
    assert [e["verb"] for e in happened if e["event"] == "step_created" and e["kind"] == kind] == ["created"]
    assert [e["kind"] for e in happened if e["event"] == "resource_deleted"].count(kind) == 1
    assert happened[-1]["event"] == "run_finished" and happened[-1]["left"] == []
