"""Cloud9 environment memberships in the simulated account: the model's error codes, the owner
listed as a member, paging, and memberships going with their environment and persisting."""

import pytest
from botocore.exceptions import ClientError

from ops.clock import VirtualClock
from ops.sim.world import SimWorld

from .conftest import create_ssm_environment

ALICE = "arn:aws:iam::123456789012:user/alice"
TEAM_BOB = "arn:aws:iam::123456789012:user/team/bob"
SESSION = "arn:aws:sts::123456789012:assumed-role/Student/carol"


def principals(world):
    iam = world.session().client("iam")
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob", Path="/team/")
    iam.create_role(RoleName="Student", AssumeRolePolicyDocument="{}")


def share(cloud9, env_id, user_arn, permissions="read-write"):
    return cloud9.create_environment_membership(environmentId=env_id, userArn=user_arn, permissions=permissions)


def members(cloud9, **filters):
    return [(m["userArn"], m["permissions"]) for m in cloud9.describe_environment_memberships(**filters)["memberships"]]


def code(call) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"]


def test_members_are_listed_after_the_owner_with_their_iam_ids(world):
    principals(world)
    env_id = create_ssm_environment(world)
    cloud9, iam = world.session().client("cloud9"), world.session().client("iam")
    made = share(cloud9, env_id, ALICE)["membership"]
    assert made == {
        "permissions": "read-write",
        "userId": iam.get_user(UserName="alice")["User"]["UserId"],
        "userArn": ALICE,
        "environmentId": env_id,
    }
    share(cloud9, env_id, SESSION, "read-only")
    owner = cloud9.describe_environments(environmentIds=[env_id])["environments"][0]["ownerArn"]
    assert members(cloud9, environmentId=env_id) == [(owner, "owner"), (ALICE, "read-write"), (SESSION, "read-only")]
    role_id = iam.get_role(RoleName="Student")["Role"]["RoleId"]
    [session] = cloud9.describe_environment_memberships(environmentId=env_id, userArn=SESSION)["memberships"]
    assert session["userId"] == f"{role_id}:carol"
    assert members(cloud9, userArn=ALICE) == [(ALICE, "read-write")]  # in every environment
    assert members(cloud9, environmentId=env_id, permissions=["read-write", "owner"]) == [
        (owner, "owner"),
        (ALICE, "read-write"),
    ]
    assert members(cloud9) == [(owner, "owner")]  # neither id nor ARN: the caller's own


def test_pages_of_at_most_25(world):
    principals(world)
    env_id = create_ssm_environment(world)
    cloud9 = world.session().client("cloud9")
    share(cloud9, env_id, ALICE)
    share(cloud9, env_id, SESSION)
    first = cloud9.describe_environment_memberships(environmentId=env_id, maxResults=2)
    assert len(first["memberships"]) == 2 and first["nextToken"]
    rest = cloud9.describe_environment_memberships(environmentId=env_id, maxResults=2, nextToken=first["nextToken"])
    assert [m["userArn"] for m in rest["memberships"]] == [SESSION] and "nextToken" not in rest
    assert code(lambda: cloud9.describe_environment_memberships(environmentId=env_id, maxResults=26)) == (
        "BadRequestException"
    )
    paged = cloud9.get_paginator("describe_environment_memberships").paginate(
        environmentId=env_id, PaginationConfig={"PageSize": 1}
    )
    assert len([m for page in paged for m in page["memberships"]]) == 3


@pytest.mark.parametrize(
    "user_arn, permissions, expected",
    [
        ("arn:aws:iam::123456789012:role/Student", "read-write", "BadRequestException"),  # a role is no member
        ("alice", "read-write", "BadRequestException"),
        ("arn:aws:iam::123456789012:user/ali ce", "read-write", "BadRequestException"),
        (ALICE, "owner", "BadRequestException"),  # not a member's permission
        (ALICE, "admin", "BadRequestException"),
        ("arn:aws:iam::123456789012:user/nobody", "read-write", "NotFoundException"),
        ("arn:aws:iam::123456789012:user/bob", "read-write", "NotFoundException"),  # bob's path is /team/
        ("arn:aws:sts::123456789012:assumed-role/Nobody/x", "read-write", "NotFoundException"),
        ("arn:aws:iam::111122223333:user/alice", "read-write", "NotFoundException"),  # another account's
    ],
)
def test_what_cloud9_refuses_to_add(world, user_arn, permissions, expected):
    principals(world)
    env_id = create_ssm_environment(world)
    cloud9 = world.session().client("cloud9")
    assert code(lambda: share(cloud9, env_id, user_arn, permissions)) == expected
    assert len(members(cloud9, environmentId=env_id)) == 1  # the owner alone


def test_a_member_or_the_owner_again_is_a_conflict_and_a_missing_environment_not_found(world):
    principals(world)
    env_id = create_ssm_environment(world)
    cloud9 = world.session().client("cloud9")
    share(cloud9, env_id, TEAM_BOB)
    assert code(lambda: share(cloud9, env_id, TEAM_BOB)) == "ConflictException"
    owner = cloud9.describe_environments(environmentIds=[env_id])["environments"][0]["ownerArn"]
    assert code(lambda: share(cloud9, env_id, owner)) == "ConflictException"
    gone = "0123456789abcdef0123456789abcdef"
    assert code(lambda: share(cloud9, gone, ALICE)) == "NotFoundException"
    assert code(lambda: cloud9.describe_environment_memberships(environmentId=gone)) == "NotFoundException"
    assert code(lambda: share(cloud9, "not-an-id!", ALICE)) == "BadRequestException"


def test_update_and_delete_a_member_but_never_the_owner(world):
    principals(world)
    env_id = create_ssm_environment(world)
    cloud9 = world.session().client("cloud9")
    share(cloud9, env_id, ALICE)
    changed = cloud9.update_environment_membership(environmentId=env_id, userArn=ALICE, permissions="read-only")
    assert changed["membership"]["permissions"] == "read-only"
    owner = cloud9.describe_environments(environmentIds=[env_id])["environments"][0]["ownerArn"]
    assert code(lambda: cloud9.delete_environment_membership(environmentId=env_id, userArn=owner)) == (
        "BadRequestException"
    )
    update = cloud9.update_environment_membership
    assert code(lambda: update(environmentId=env_id, userArn=owner, permissions="read-only")) == "BadRequestException"
    cloud9.delete_environment_membership(environmentId=env_id, userArn=ALICE)
    assert members(cloud9, environmentId=env_id) == [(owner, "owner")]
    assert code(lambda: cloud9.delete_environment_membership(environmentId=env_id, userArn=ALICE)) == (
        "NotFoundException"
    )
    assert code(lambda: update(environmentId=env_id, userArn=ALICE, permissions="read-only")) == "NotFoundException"


def test_memberships_go_with_their_environment(world, clock):
    principals(world)
    env_id = create_ssm_environment(world)
    cloud9 = world.session().client("cloud9")
    share(cloud9, env_id, ALICE)
    cloud9.delete_environment(environmentId=env_id)
    clock.sleep(world.durations["cloud9.delete"])
    assert members(cloud9, userArn=ALICE) == []
    assert code(lambda: cloud9.delete_environment_membership(environmentId=env_id, userArn=ALICE)) == (
        "NotFoundException"
    )


def test_memberships_persist_in_a_persistent_account(tmp_path):
    home = tmp_path / "account"
    try:
        with SimWorld(VirtualClock(), home=home) as world:
            principals(world)
            env_id = create_ssm_environment(world)
            share(world.session().client("cloud9"), env_id, ALICE)
        with SimWorld(VirtualClock(), home=home) as again:
            assert (ALICE, "read-write") in members(again.session().client("cloud9"), environmentId=env_id)
    finally:
        SimWorld.destroy(home)
