"""ops waits out IAM's eventual consistency where the lab meets it (issue 15): IAM's own reads
not showing a role or instance profile made a moment ago, and Cloud9 refusing a CONNECT_SSM
environment whose role or profile it does not see yet. Polls on the run's clock, never a
blind sleep. (EC2's side, RunInstances refusing a new profile: test_steps_ec2_host.py.)"""

import io

from harness import events, make_runner, playbook_from, step_context

from ops.engine.inventory import find_tagged
from ops.engine.state import RunState
from ops.output import Reporter
from ops.sim.faults import FaultPlan
from ops.steps.iam import ensure_instance_profile, ensure_role

ROLE, PROFILE = "AWSCloud9SSMAccessRole", "AWSCloud9SSMInstanceProfile"
LAB = """\
name: fresh
steps:
  - name: client
    type: cloud9.environment
    with:
      name: fresh-${{ run.id }}
"""


def waits(runner, what: str) -> list:
    return [e for e in events(runner) if e["event"] == "step_waiting" and e["what"].startswith(what)]


def created_at(runner, kind: str) -> float:
    return next(e["t"] for e in events(runner) if e["event"] == "step_created" and e["kind"] == kind)


def test_the_cloud9_step_waits_until_iam_and_cloud9_see_what_it_made(world, aws, tmp_path):
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    calls = []
    aws.client("cloud9").meta.events.register(
        "before-call.cloud9.CreateEnvironmentEC2", lambda **_: calls.append(world.clock.now())
    )
    runner.apply()

    # the role went into the profile once IAM showed the new role
    into = waits(runner, f"role {ROLE} into instance profile {PROFILE}")
    assert into[0]["status"] == "role not visible in IAM yet" and into[-1]["status"] == "added"
    assert into[-1]["t"] - created_at(runner, "iam-role") >= world.durations["iam.consistency"]
    # Cloud9 refused the environment until it saw the new profile, then took it once
    refused = waits(runner, "environment fresh-")
    assert "not visible to Cloud9 yet" in refused[0]["status"] and refused[-1]["status"] == "accepted"
    profile_made = into[0]["t"]  # just before the role was first put in
    assert len(calls) >= 2 and calls[-1] - profile_made >= world.durations["iam.propagation"] > calls[0] - profile_made
    assert len(aws.client("cloud9").list_environments()["environmentIds"]) == 1
    assert runner.outputs["client"]["role_name"] == ROLE


def test_a_role_another_lab_made_a_moment_ago_is_adopted_once_iam_shows_it(world, aws, tmp_path):
    other_lab = [{"Key": "ops:lab", "Value": "other"}, {"Key": "ops:run", "Value": "r0000000"}]
    aws.client("iam").create_role(RoleName=ROLE, Path="/service-role/", AssumeRolePolicyDocument="{}", Tags=other_lab)
    made = world.clock.now()
    state = RunState.start(tmp_path / "s.json", "lab", "p", aws.region, dry_run=True)
    ctx = step_context(aws, state, Reporter("json", io.StringIO()), "lab", "client", "cloud9.environment")

    ensure_role(ctx, ROLE, "/service-role/", ["ec2.amazonaws.com"], "test")  # IAM: no such role; then: exists

    [role] = state.live()
    assert (role.kind, role.status, role.ours, role.attrs) == (
        "iam-role",
        "adopted",
        False,
        {"ops_made": True, "account": "123456789012"},
    )
    assert world.clock.now() - made >= world.durations["iam.consistency"]
    assert [r["RoleName"] for r in world.client("iam").list_roles()["Roles"]] == [ROLE]


class LoseTheFirstProfileCreation(FaultPlan):
    """CreateInstanceProfile is applied and its answer lost; botocore sends it again."""

    def draw(self, service, operation, n):
        return "lost_answer" if (service, operation, n) == ("iam", "CreateInstanceProfile", 0) else None


def test_a_profile_whose_creation_answer_was_lost_is_resumed_and_gets_its_role(world, aws, tmp_path):
    state = RunState.start(tmp_path / "s.json", "lab", "p", aws.region, dry_run=True)
    ctx = step_context(aws, state, Reporter("json", io.StringIO()), "lab", "client", "cloud9.environment")
    ensure_role(ctx, ROLE, "/service-role/", ["ec2.amazonaws.com"], "test")
    world.faults = LoseTheFirstProfileCreation(seed=1)

    # the re-sent creation: EntityAlreadyExists for a profile IAM's reads do not show yet
    ensure_instance_profile(ctx, PROFILE, "/cloud9/", ROLE)

    profile = {r.kind: r for r in state.live()}["instance-profile"]
    assert (profile.status, profile.ours, profile.attrs["role"]) == ("created", True, ROLE)
    roles = world.client("iam").get_instance_profile(InstanceProfileName=PROFILE)["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in roles] == [ROLE]


def test_a_listing_of_ops_pieces_skips_a_profile_iam_lists_but_does_not_show_yet(world, aws):
    """ops status, sweep and the dry run's leftover check list the account's profiles, then read
    each one's tags: a profile another lab made a moment ago is listed, and not found yet."""
    tags = [{"Key": "ops:lab", "Value": "other"}, {"Key": "ops:run", "Value": "r0000000"}]
    aws.client("iam").create_instance_profile(InstanceProfileName="other-host", Tags=tags)
    assert [f.id for f in find_tagged(aws) if f.kind == "instance-profile"] == []
    world.clock.sleep(world.durations["iam.consistency"])
    assert [f.id for f in find_tagged(aws) if f.kind == "instance-profile"] == ["other-host"]
