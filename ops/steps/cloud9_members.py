"""Cloud9 environment memberships: a lab's environment shared, read-write, with a student's
IAM user or role (`ops run --member`, ops/members.py).

A membership belongs to the cloud9.environment step that made its environment, so every
playbook with one can be shared without a step of its own, and teardown (newest first within
a step) removes the memberships before the environment. Each is recorded before its create
call, under the kind `cloud9-membership:<principal>` (one row per member) and the id
`<environment id>#<ARN>` (how Terraform names one too). Cloud9 answers ConflictException to
a membership that exists: after a create whose answer was lost, the retry meets the one the
first attempt made; the environment is this run's own, made minutes ago, so a membership on
it that is not its owner's is this run's. Memberships carry no tags: they go with their
environment (ops sweep deletes environments, and Cloud9 their memberships with them).
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import BadInput, StepFailed
from ..members import PERMISSIONS, principal
from ..model import Change, Resource, ResourceKind
from ..permissions import RESOURCE_TAGGED, Grant, arn, iam_arn, merged, partition_of

MEMBERSHIP = "cloud9-membership"
ENVIRONMENTS = arn("cloud9", "environment:*")
# the principals of the lab's own account: Cloud9 shares an environment with no other
OWN_PRINCIPALS = {
    "ArnLike": {"cloud9:UserArn": ["arn:{partition}:iam::{account}:*", "arn:{partition}:sts::{account}:*"]}
}


def membership_id(env_id: str, user_arn: str) -> str:
    return f"{env_id}#{user_arn}"


def find_membership(aws, env_id: str, user_arn: str) -> Optional[Dict[str, Any]]:
    """The environment's membership of `user_arn` (aws: ops's Aws, or a step's context), or None;
    NotFoundException when the environment is gone."""
    client = aws.client("cloud9")
    found = aws.call(client.describe_environment_memberships, environmentId=env_id, userArn=user_arn)
    return found["memberships"][0] if found["memberships"] else None


def _live_state(aws, resource_id: str) -> str:
    env_id, _, user_arn = resource_id.partition("#")
    found = find_membership(aws, env_id, user_arn)
    return found["permissions"] if found else "gone"


MEMBERSHIP_KIND = ResourceKind(
    MEMBERSHIP,
    creation_order=23,  # after its environment, so teardown removes it first
    live_state=_live_state,
    not_found=("NotFoundException",),  # the environment is gone, and its memberships with it
    actions=("cloud9:DescribeEnvironmentMemberships",),
    several_per_step=True,
)

GRANTS = [
    Grant(
        ["cloud9:CreateEnvironmentMembership"],
        [ENVIRONMENTS],
        merged(RESOURCE_TAGGED, OWN_PRINCIPALS, {"StringEquals": {"cloud9:Permissions": PERMISSIONS}}),
    ),
    # cloud9:UserArn narrows no delete: parliament's IAM database lacks it for this action
    Grant(["cloud9:DeleteEnvironmentMembership"], [ENVIRONMENTS], RESOURCE_TAGGED),
    Grant(["cloud9:DescribeEnvironmentMemberships"], [ENVIRONMENTS]),
    # before a run: each member exists (ops run --member)
    Grant(["iam:GetUser"], [iam_arn("user/*")]),
    Grant(["iam:GetRole"], [iam_arn("role/*")]),
]


def shared_with(resources: Sequence[Resource]) -> List[str]:
    """Whom a lab's record says its environment is shared with: its live memberships' ARNs."""
    return [r.attrs["user_arn"] for r in resources if r.base_kind == MEMBERSHIP and r.status == "created"]


def members_of(ctx) -> List[str]:
    """The ARNs this lab's environments are shared with (the run's --member flags)."""
    return list(ctx.settings.get("members", {}).get(ctx.lab, []))


def preview(ctx) -> List[Change]:
    return [Change("create", f"Cloud9 membership: {user_arn}, {PERMISSIONS}") for user_arn in members_of(ctx)]


def share(ctx, env_id: str) -> None:
    """Share the environment with every member of this lab, recording each membership."""
    for user_arn in members_of(ctx):
        _ensure(ctx, env_id, user_arn)


def _ensure(ctx, env_id: str, user_arn: str) -> None:
    kind, resource_id = f"{MEMBERSHIP}:{principal(user_arn)}", membership_id(env_id, user_arn)
    recorded = ctx.find_recorded(kind)
    if recorded is not None and recorded.status == "created" and recorded.id == resource_id:
        if find_membership(ctx, env_id, user_arn) is not None:
            ctx.created(recorded, verb="resumed")
            return
    resource = ctx.intend(kind, resource_id, environment_id=env_id, user_arn=user_arn)
    client = ctx.client("cloud9")
    try:
        ctx.call(client.create_environment_membership, environmentId=env_id, userArn=user_arn, permissions=PERMISSIONS)
    except client.exceptions.ConflictException:
        found = find_membership(ctx, env_id, user_arn)
        if found is None:
            raise
        if found["permissions"] == "owner":
            raise StepFailed(
                ctx.step,
                f"{user_arn} owns environment {env_id}: an owner is no member of its own environment.",
                "Leave the owner (whoever runs ops) out of --member.",
            ) from None
    ctx.created(resource)


def delete(ctx, resource: Resource) -> None:
    """Remove a membership; one that is gone (removed by hand, or with its environment) is done."""
    client = ctx.client("cloud9")
    try:
        ctx.call(
            client.delete_environment_membership,
            environmentId=resource.attrs["environment_id"],
            userArn=resource.attrs["user_arn"],
        )
    except client.exceptions.NotFoundException:
        pass


def check_members(playbook, members: Mapping[str, Sequence[str]], account, dry_run: bool) -> None:
    """Before a run makes anything: BadInput unless every member is a principal of the account
    the run uses that exists there, and the playbook makes a Cloud9 environment to share.
    account(): the account, or None for a simulated one not made yet (it holds no principal)."""
    arns = list(dict.fromkeys(a for lab_arns in members.values() for a in lab_arns))
    if not arns:
        return
    if not any(step.type == "cloud9.environment" for step in playbook.steps):
        raise BadInput(
            f"--member shares a lab's Cloud9 environments, and {playbook.source} makes none.",
            "Leave --member out, or run a playbook with a cloud9.environment step (playbooks/lab.yaml).",
        )
    aws = account()
    if aws is None:
        raise BadInput(
            f"--member {arns[0]}: the dry run's simulated account does not exist yet, so it holds no IAM "
            "user or role to share the lab with.",
            "A dry run shares only with principals made in its simulated account (123456789012); "
            "rehearse without --member.",
        )
    caller = aws.call(aws.client("sts").get_caller_identity)
    where = (partition_of(aws.region), caller["Account"])
    for user_arn in arns:
        _check_member(aws, user_arn, where, caller["Arn"], dry_run)


def _check_member(aws, user_arn: str, where, caller_arn: str, dry_run: bool) -> None:
    parts = user_arn.split(":", 5)
    account = "the dry run's simulated account" if dry_run else "the account"
    if (parts[1], parts[4]) != where:
        raise BadInput(
            f"--member {user_arn} is not in {account} ({where[1]}, partition {where[0]}): Cloud9 shares "
            "an environment only with principals of its own account.",
            "Give the student's IAM user or role in the account the lab runs in.",
        )
    if user_arn == caller_arn:
        raise BadInput(
            f"--member {user_arn} is who runs ops, the owner of the lab's environments.",
            "Leave yourself out of --member: an owner has the environment already.",
        )
    if not _exists(aws, user_arn):
        kind = "role" if principal(user_arn).startswith("assumed-role/") else "user"
        raise BadInput(
            f"--member {user_arn}: {account} has no such IAM {kind}.",
            f"Check the {kind}'s name{' and path' if kind == 'user' else ''} in the IAM console, or create it first.",
        )


def _exists(aws, user_arn: str) -> bool:
    """Whether the IAM user (with this path) or the role of an assumed role's session exists;
    a federated user or the account's root: nothing to look up."""
    name = principal(user_arn)
    iam = aws.client("iam")
    try:
        if name.startswith("user/"):
            return aws.call(iam.get_user, UserName=name.rsplit("/", 1)[1])["User"]["Arn"] == user_arn
        if name.startswith("assumed-role/"):
            aws.call(iam.get_role, RoleName=name.split("/")[1])
    except iam.exceptions.NoSuchEntityException:
        return False
    return True
