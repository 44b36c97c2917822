"""IAM pieces a client host needs: a role, its instance profile, policies on the role.

Each is recorded as its own resource. What existed before the run is adopted (never
deleted); a policy ops attaches to an adopted role is recorded too, and detached again on
teardown, so the role ends as it was.
"""

import json
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import StepFailed
from ..model import Change, Found, Resource, ResourceKind, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, iam_arn, managed_policy_arn, partition_of

ROLE, PROFILE, MANAGED, INLINE = "iam-role", "instance-profile", "role-policy", "role-inline-policy"


def _find_roles(aws) -> List[Found]:
    iam = aws.client("iam")
    return [
        Found(
            ROLE, role["RoleName"], "exists", tag_map(aws.call(iam.list_role_tags, RoleName=role["RoleName"])["Tags"])
        )
        for role in aws.listing(iam, "list_roles", "Roles")
    ]


def _find_instance_profiles(aws) -> List[Found]:
    iam = aws.client("iam")
    found = []
    for profile in aws.listing(iam, "list_instance_profiles", "InstanceProfiles"):
        name = profile["InstanceProfileName"]
        tags = aws.call(iam.get_instance_profile, InstanceProfileName=name)["InstanceProfile"].get("Tags")
        found.append(Found(PROFILE, name, "exists", tag_map(tags)))
    return found


# Roles and instance profiles count as account-wide: the Cloud9 SSM role and profile are
# shared by every lab in the account, and go with the last lab out (ops/commands/lab.py).
ROLE_KIND = ResourceKind(
    ROLE,
    creation_order=10,
    find=_find_roles,
    live_state=lambda aws, name: aws.call(aws.client("iam").get_role, RoleName=name) and "exists",
    not_found=("NoSuchEntity",),
    account_wide=True,
    actions=("iam:GetRole",),
)
PROFILE_KIND = ResourceKind(
    PROFILE,
    creation_order=11,
    find=_find_instance_profiles,
    live_state=lambda aws, name: (
        aws.call(aws.client("iam").get_instance_profile, InstanceProfileName=name) and "exists"
    ),
    not_found=("NoSuchEntity",),
    account_wide=True,
    actions=("iam:GetInstanceProfile",),
)
# a managed policy attached to a role ("role-policy:NAME"), and a role's inline policy: not
# tagged, they go with their role
MANAGED_KIND = ResourceKind(MANAGED, creation_order=12, account_wide=True)
INLINE_KIND = ResourceKind(INLINE, creation_order=13)
INSTANCE_ROLE_KINDS = (ROLE_KIND, PROFILE_KIND, MANAGED_KIND)


def _made_by_ops(tags) -> bool:
    return any(t.get("Key") == "ops:lab" for t in tags or [])


class StillInUse(Exception):
    """An account-wide piece another lab's instance still uses: the last lab out deletes it."""


def _profile_users(ctx, profile_names: List[str]) -> List[str]:
    ec2 = ctx.client("ec2")
    reservations = ctx.call(
        ec2.describe_instances,
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
    )["Reservations"]
    return [
        i["InstanceId"]
        for r in reservations
        for i in r["Instances"]
        if i.get("IamInstanceProfile", {}).get("Arn", "").rsplit("/", 1)[-1] in profile_names
    ]


def _role_users(ctx, role: str) -> List[str]:
    iam = ctx.client("iam")
    try:
        profiles = ctx.call(iam.list_instance_profiles_for_role, RoleName=role)["InstanceProfiles"]
    except iam.exceptions.NoSuchEntityException:
        return []
    return _profile_users(ctx, [p["InstanceProfileName"] for p in profiles])


def _ensure_unused(ctx, resource: Resource) -> None:
    kind = resource.kind.split(":")[0]
    if kind == PROFILE:
        users = _profile_users(ctx, [resource.id])
    else:
        role = resource.id if kind == ROLE else resource.attrs.get("role")
        if not isinstance(role, str):
            raise StepFailed(
                resource.step,
                f"the record of {resource.label()} names no role, so what uses it cannot be checked.",
                "Delete it by hand (see 'ops status').",
            )
        users = _role_users(ctx, role)
    if users:
        raise StillInUse(f"still used by {', '.join(users)}")


def _adopt_or_resume(ctx, kind: str, name: str, tags, **attrs) -> None:
    if ctx.is_ours(tags):
        ctx.created(ctx.find_recorded(kind) or ctx.intend(kind, name, **attrs), verb="resumed")
    else:
        ctx.adopted(kind, name, ops_made=_made_by_ops(tags), **attrs)


def ensure_role(ctx, name: str, path: str, services: List[str], description: str) -> None:
    iam = ctx.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}],
    }
    for _ in range(2):  # a lost creation race means: look again, and adopt the winner's
        try:
            role = ctx.call(iam.get_role, RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            resource = ctx.find_recorded(ROLE) or ctx.intend(ROLE, name)
            try:
                ctx.call(
                    iam.create_role,
                    RoleName=name,
                    Path=path,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=description,
                    Tags=ctx.tags(),
                )
            except iam.exceptions.EntityAlreadyExistsException:
                continue  # another lab created the same account-wide name between our look and our create
            ctx.created(resource)
            return
        _adopt_or_resume(ctx, ROLE, name, role.get("Tags", []))
        return


def ensure_instance_profile(ctx, name: str, path: str, role: str) -> None:
    iam = ctx.client("iam")
    for _ in range(2):
        try:
            profile = ctx.call(iam.get_instance_profile, InstanceProfileName=name)["InstanceProfile"]
        except iam.exceptions.NoSuchEntityException:
            resource = ctx.find_recorded(PROFILE) or ctx.intend(PROFILE, name, role=role)
            try:
                ctx.call(iam.create_instance_profile, InstanceProfileName=name, Path=path, Tags=ctx.tags())
            except iam.exceptions.EntityAlreadyExistsException:
                continue  # another lab created the same account-wide name between our look and our create
            add_role_to_profile(ctx, name, role)
            ctx.created(resource)
            return
        _adopt_or_resume(ctx, PROFILE, name, profile.get("Tags", []), role=role)
        if ctx.is_ours(profile.get("Tags", [])) and not profile.get("Roles"):
            # ours, made by a create call whose answer was lost (or before a crash): it gets its role now
            add_role_to_profile(ctx, name, role)
        return


def add_role_to_profile(ctx, profile: str, role: str) -> None:
    """AddRoleToInstanceProfile, which a re-sent call (its first answer lost) finds done:
    IAM then answers LimitExceeded (a profile holds one role), and the role is in it."""
    iam = ctx.client("iam")
    try:
        ctx.call(iam.add_role_to_instance_profile, InstanceProfileName=profile, RoleName=role)
    except (iam.exceptions.LimitExceededException, iam.exceptions.EntityAlreadyExistsException):
        roles = ctx.call(iam.get_instance_profile, InstanceProfileName=profile)["InstanceProfile"].get("Roles", [])
        if not any(r["RoleName"] == role for r in roles):
            raise


def ensure_managed_policy(ctx, role: str, policy_name: str) -> None:
    """Attach an AWS managed policy unless it is attached already (then leave it alone)."""
    iam = ctx.client("iam")
    arn = managed_policy_arn(partition_of(ctx.region), policy_name)
    attached = ctx.call(iam.list_attached_role_policies, RoleName=role)["AttachedPolicies"]
    kind = f"{MANAGED}:{policy_name}"
    if any(p["PolicyArn"] == arn for p in attached):
        if not ctx.find_recorded(kind):
            # attached by another ops lab (the role is ops's) or by someone else
            ctx.adopted(
                kind,
                f"{role}/{policy_name}",
                role=role,
                policy_arn=arn,
                ops_made=_made_by_ops(ctx.call(iam.get_role, RoleName=role)["Role"].get("Tags", [])),
            )
        return
    resource = ctx.intend(kind, f"{role}/{policy_name}", role=role, policy_arn=arn)
    ctx.call(iam.attach_role_policy, RoleName=role, PolicyArn=arn)
    ctx.created(resource, verb="attached")


def put_inline_policy(ctx, role: str, policy_name: str, document: Dict) -> None:
    iam = ctx.client("iam")
    resource = ctx.find_recorded(INLINE) or ctx.intend(INLINE, f"{role}/{policy_name}", role=role, policy=policy_name)
    ctx.call(iam.put_role_policy, RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    ctx.created(resource, verb="attached")


def delete_iam(ctx, resource: Resource) -> bool:
    """Delete one IAM resource recorded by a step; False if it is not an IAM kind."""
    iam = ctx.client("iam")
    kind = resource.base_kind
    if kind in (MANAGED, PROFILE, ROLE):
        _ensure_unused(ctx, resource)
    if kind == MANAGED:
        _unless_gone(
            ctx, iam.detach_role_policy, RoleName=resource.attrs["role"], PolicyArn=resource.attrs["policy_arn"]
        )
    elif kind == INLINE:
        _unless_gone(ctx, iam.delete_role_policy, RoleName=resource.attrs["role"], PolicyName=resource.attrs["policy"])
    elif kind == PROFILE:
        try:
            profile = ctx.call(iam.get_instance_profile, InstanceProfileName=resource.id)["InstanceProfile"]
        except iam.exceptions.NoSuchEntityException:
            return True
        for role in profile.get("Roles", []):
            _unless_gone(
                ctx, iam.remove_role_from_instance_profile, InstanceProfileName=resource.id, RoleName=role["RoleName"]
            )
        _unless_gone(ctx, iam.delete_instance_profile, InstanceProfileName=resource.id)
    elif kind == ROLE:
        try:
            attached = ctx.call(iam.list_attached_role_policies, RoleName=resource.id)["AttachedPolicies"]
            inline = ctx.call(iam.list_role_policies, RoleName=resource.id)["PolicyNames"]
        except iam.exceptions.NoSuchEntityException:
            return True
        for policy in attached:
            _unless_gone(ctx, iam.detach_role_policy, RoleName=resource.id, PolicyArn=policy["PolicyArn"])
        for name in inline:
            _unless_gone(ctx, iam.delete_role_policy, RoleName=resource.id, PolicyName=name)
        _unless_gone(ctx, iam.delete_role, RoleName=resource.id)
    else:
        return False
    return True


def _unless_gone(ctx, operation, **kwargs) -> None:
    """One call of a deletion, done unless what it removes is gone already: each on its own, so
    that a call re-sent after its answer was lost (NoSuchEntity: done) does not stop the rest."""
    iam = ctx.client("iam")
    try:
        ctx.call(operation, **kwargs)
    except iam.exceptions.NoSuchEntityException:
        pass  # gone already: done


# --- a role and instance profile of the run's own (the EC2 client host's) ------------------

SSM_CORE = "AmazonSSMManagedInstanceCore"
# What AmazonSSMManagedInstanceCore (AWS managed) lets the instance do: what the plan says.
SSM_CORE_GRANTS = (
    "the SSM agent's messaging (ssm:UpdateInstanceInformation, ssmmessages:*, ec2messages:*, "
    "ssm:GetDocument, ssm:ListInstanceAssociations, ...) and reading the account's SSM parameters "
    "(ssm:GetParameter, ssm:GetParameters on *)"
)


def instance_role_grants(role: str, profile: str, managed_policies: Sequence[str]) -> List[Grant]:
    """What making (or adopting), passing and deleting an instance role with its profile takes.
    role, profile: name patterns with their IAM path (`service-role/X`), templates allowed."""
    role_arn, profile_arn = iam_arn(f"role/{role}"), iam_arn(f"instance-profile/{profile}")
    attachable = ["arn:{partition}:iam::aws:policy/" + name for name in managed_policies]
    return [
        Grant(["iam:CreateRole", "iam:TagRole"], [role_arn], REQUEST_TAGGED),
        Grant(
            ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListInstanceProfilesForRole"],
            [role_arn],
        ),
        Grant(["iam:DeleteRole", "iam:DeleteRolePolicy"], [role_arn], RESOURCE_TAGGED),
        # only the AWS managed policies the lab attaches: never AdministratorAccess
        Grant(
            ["iam:AttachRolePolicy", "iam:DetachRolePolicy"], [role_arn], {"ArnEquals": {"iam:PolicyARN": attachable}}
        ),
        Grant(["iam:CreateInstanceProfile", "iam:TagInstanceProfile"], [profile_arn], REQUEST_TAGGED),
        Grant(
            ["iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile"],
            [profile_arn],
        ),
        Grant(["iam:DeleteInstanceProfile"], [profile_arn], RESOURCE_TAGGED),
        # the instance profile hands the role to EC2, and to nothing else
        Grant(["iam:PassRole"], [role_arn], {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
    ]


IAM_NAME_LIMIT = 64  # role names; instance profiles allow 128, security groups 255


def run_scoped_name(lab: str, run_id: str, suffix: str, limit: int = IAM_NAME_LIMIT) -> str:
    """`ops-<lab>-<run id>-<suffix>`, unique per run; shortened (run id kept, a digest of the
    full name added) when it would exceed `limit`."""
    import hashlib

    name = f"ops-{lab}-{run_id}-{suffix}"
    if len(name) <= limit:
        return name
    head = f"ops-{run_id}-{hashlib.sha256(name.encode()).hexdigest()[:8]}-"
    return (head + suffix)[:limit].rstrip("-")


def ensure_instance_role(
    ctx, name: str, path: str, services: List[str], description: str, managed_policies: List[str]
) -> None:
    """A role (trusted by `services`), the AWS managed policies on it, and an instance profile
    holding it, all under `name`; each piece recorded (created, resumed or adopted)."""
    ensure_role(ctx, name, path, services, description)
    for policy in managed_policies:
        ensure_managed_policy(ctx, name, policy)
    ensure_instance_profile(ctx, name, path, name)
    # Resumed after a crash between CreateInstanceProfile and AddRoleToInstanceProfile: an
    # empty profile of ours gets its role now.
    profile = ctx.find_recorded(PROFILE)
    if profile is not None and profile.ours:
        iam = ctx.client("iam")
        roles = ctx.call(iam.get_instance_profile, InstanceProfileName=name)["InstanceProfile"].get("Roles", [])
        if not roles:
            add_role_to_profile(ctx, name, name)


def instance_role_changes(ctx, role: str, profile: str, notes: Tuple[str, str], attach: Optional[str]) -> List[Change]:
    """Preview lines (read-only) for an instance role and its profile: adopted if they exist,
    else created (notes: what each is, for the plan); then attaching managed policy `attach`."""
    iam = ctx.client("iam")
    changes = []
    for label, name, note, call in (
        ("IAM role", role, notes[0], lambda: iam.get_role(RoleName=role)),
        ("instance profile", profile, notes[1], lambda: iam.get_instance_profile(InstanceProfileName=profile)),
    ):
        try:
            ctx.call(call)
            changes.append(Change("adopt", f"{label} {name} (exists; used, never deleted)"))
        except iam.exceptions.NoSuchEntityException:
            changes.append(Change("create", f"{label} {name} ({note})"))
    if attach:
        what = f" (AWS managed; grants {SSM_CORE_GRANTS})" if attach == SSM_CORE else ""
        changes.append(Change("change", f"attach {attach}{what} to {role} if missing (detached again on teardown)"))
    return changes
