"""IAM pieces a client host needs: a role, its instance profile, policies on the role.

Each is recorded as its own resource. What existed before the run is adopted (never
deleted); a policy ops attaches to an adopted role is recorded too, and detached again on
teardown, so the role ends as it was.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import StepFailed
from ..model import Change, Found, Resource, ResourceKind, Retag, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, iam_arn, managed_policy_arn, partition_of
from ..waiting import FAILURE, RETRY, SUCCESS, WaitFailed

ROLE, PROFILE, MANAGED, INLINE = "iam-role", "instance-profile", "role-policy", "role-inline-policy"


def _find_roles(aws) -> List[Found]:
    iam = aws.client("iam")
    found = []
    for role in aws.listing(iam, "list_roles", "Roles"):
        try:
            tags = aws.call(iam.list_role_tags, RoleName=role["RoleName"])["Tags"]
        except iam.exceptions.NoSuchEntityException:  # deleted since the listing (or listed before IAM shows it)
            continue
        found.append(Found(ROLE, role["RoleName"], "exists", tag_map(tags)))
    return found


def _find_instance_profiles(aws) -> List[Found]:
    iam = aws.client("iam")
    found = []
    for profile in aws.listing(iam, "list_instance_profiles", "InstanceProfiles"):
        name = profile["InstanceProfileName"]
        try:
            tags = aws.call(iam.get_instance_profile, InstanceProfileName=name)["InstanceProfile"].get("Tags")
        except iam.exceptions.NoSuchEntityException:  # as for a role
            continue
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
    retag=Retag(
        "iam:TagRole",
        iam_arn("role/*"),
        lambda aws, name, tags: aws.call(aws.client("iam").tag_role, RoleName=name, Tags=tags),
    ),
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
    retag=Retag(
        "iam:TagInstanceProfile",
        iam_arn("instance-profile/*"),
        lambda aws, name, tags: aws.call(aws.client("iam").tag_instance_profile, InstanceProfileName=name, Tags=tags),
    ),
)
# a managed policy attached to a role ("role-policy:NAME"), and a role's inline policy: not
# tagged, they go with their role
MANAGED_KIND = ResourceKind(MANAGED, creation_order=12, account_wide=True)
INLINE_KIND = ResourceKind(INLINE, creation_order=13)
INSTANCE_ROLE_KINDS = (ROLE_KIND, PROFILE_KIND, MANAGED_KIND)


def _made_by_ops(tags) -> bool:
    return any(t.get("Key") == "ops:lab" for t in tags or [])


def _account(arn: str) -> str:
    """The account an IAM ARN names (arn:PARTITION:iam::ACCOUNT:role/...)."""
    return arn.split(":")[4]


class Kept(Exception):
    """Teardown leaves this account-wide piece in place; the message says why."""


class StillInUse(Kept):
    """An account-wide piece another lab still uses: the last lab out deletes it."""

    def __init__(self, users: List[str]):
        super().__init__(f"still used by {', '.join(users)}; the last lab using it deletes it")


# --- who uses a piece now ------------------------------------------------------------------


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


def _users(ctx, resource: Resource, shared_users: Optional[Callable[[], List[str]]]) -> List[str]:
    """Who uses the piece now: instances (through its profile); and for a piece labs share,
    what the step type knows of (a Cloud9 environment still being made has no instance yet)
    and the other labs whose records, in this record's store, use it (one that has just
    adopted it has no instance yet either; a record of another account's piece of the same
    name does not count)."""
    kind = resource.base_kind
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
    if shared_users is None:
        return users
    return users + shared_users() + _labs_recording(ctx, resource)


def _labs_recording(ctx, resource: Resource) -> List[str]:
    """The other labs whose records, in this record's store, use the piece (a record of another
    account's piece of the same name does not count): known without a call to IAM or EC2."""
    account = resource.attrs.get("account")
    return [
        f"lab {lab}"
        for lab, row in ctx.recorded_elsewhere(resource.kind, resource.id)
        if account is None or row.get("attrs", {}).get("account") in (None, account)
    ]


# --- creating or adopting ------------------------------------------------------------------


def _get(ctx, operation, key: str, **kwargs) -> Any:
    """An IAM read: the answer's `key`, or None when IAM says there is no such entity."""
    iam = ctx.client("iam")
    try:
        return ctx.call(operation, **kwargs)[key]
    except iam.exceptions.NoSuchEntityException:
        return None


IAM_LAG = 60.0  # how long a piece IAM's reads do not show may still be IAM's lag, where that matters


def read_settled(ctx, what: str, operation, key: str, within: Optional[float] = None, **kwargs) -> Any:
    """An IAM read of an entity that should exist (made, or reported to exist, a moment ago).
    IAM's reads lag its writes: they may answer NoSuchEntity for a few seconds (Terraform
    waits up to 2 minutes for them), so it is polled, on the run's clock, until it shows:
    until the step's deadline, or for `within` seconds, after which it is taken to be gone
    (None)."""
    found = _get(ctx, operation, key, **kwargs)
    if found is not None:
        return found
    started, answer = ctx.clock.now(), {}

    def check():
        answer["found"] = _get(ctx, operation, key, **kwargs)
        if answer["found"] is not None:
            return SUCCESS, "visible"
        if within is not None and ctx.clock.now() - started >= within:
            return FAILURE, "not there"
        return RETRY, "not visible in IAM yet"

    try:
        ctx.wait(what, check, "iam.propagation")
    except WaitFailed:
        return None
    return answer["found"]


def _ours_recorded(ctx, kind: str) -> Optional[Resource]:
    """This step's live record of a piece it made itself (to resume), if any."""
    recorded = ctx.find_recorded(kind)
    return recorded if recorded is not None and recorded.ours else None


def _adopt_or_resume(ctx, kind: str, name: str, tags, **attrs) -> None:
    if ctx.is_ours(tags):
        ctx.created(_ours_recorded(ctx, kind) or ctx.intend(kind, name, **attrs), verb="resumed", **attrs)
    else:
        ctx.adopted(kind, name, ops_made=_made_by_ops(tags), **attrs)


def ensure_role(ctx, name: str, path: str, services: List[str], description: str) -> None:
    iam = ctx.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}],
    }
    role = _get(ctx, iam.get_role, "Role", RoleName=name)
    if role is None:
        resource = _ours_recorded(ctx, ROLE) or ctx.intend(ROLE, name)
        try:
            role = ctx.call(
                iam.create_role,
                RoleName=name,
                Path=path,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=ctx.tags(),
            )["Role"]
        except iam.exceptions.EntityAlreadyExistsException:
            # made since we looked (by another lab, or by our own call whose answer was lost),
            # or made a moment before and not shown by IAM yet: adopt or resume it once it shows
            role = read_settled(ctx, f"role {name}", iam.get_role, "Role", RoleName=name)
        else:
            ctx.created(resource, account=_account(role["Arn"]))
            return
    _adopt_or_resume(ctx, ROLE, name, role.get("Tags", []), account=_account(role["Arn"]))


def ensure_instance_profile(ctx, name: str, path: str, role: str) -> None:
    iam = ctx.client("iam")
    profile = _get(ctx, iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
    if profile is None:
        resource = _ours_recorded(ctx, PROFILE) or ctx.intend(PROFILE, name, role=role)
        try:
            profile = ctx.call(iam.create_instance_profile, InstanceProfileName=name, Path=path, Tags=ctx.tags())[
                "InstanceProfile"
            ]
        except iam.exceptions.EntityAlreadyExistsException:  # as for a role (ensure_role)
            profile = read_settled(
                ctx, f"instance profile {name}", iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name
            )
        else:
            add_role_to_profile(ctx, name, role)
            ctx.created(resource, account=_account(profile["Arn"]))
            return
    _adopt_or_resume(ctx, PROFILE, name, profile.get("Tags", []), role=role, account=_account(profile["Arn"]))
    if ctx.is_ours(profile.get("Tags", [])) and not profile.get("Roles"):
        # ours, made by a create call whose answer was lost (or before a crash): it gets its role now
        add_role_to_profile(ctx, name, role)


def add_role_to_profile(ctx, profile: str, role: str) -> None:
    """AddRoleToInstanceProfile. IAM may not know a role made a moment ago yet (NoSuchEntity,
    "The role with name ... cannot be found": Terraform retries exactly that): asked again
    until it does. A re-sent call (its first answer lost) finds it done: IAM then answers
    LimitExceeded (a profile holds one role), and the role is in it."""
    iam = ctx.client("iam")

    def send():
        try:
            ctx.call(iam.add_role_to_instance_profile, InstanceProfileName=profile, RoleName=role)
        except iam.exceptions.NoSuchEntityException:
            return RETRY, "role not visible in IAM yet"
        except (iam.exceptions.LimitExceededException, iam.exceptions.EntityAlreadyExistsException):
            found = read_settled(
                ctx,
                f"instance profile {profile}",
                iam.get_instance_profile,
                "InstanceProfile",
                InstanceProfileName=profile,
            )
            if not any(r["RoleName"] == role for r in found.get("Roles", [])):
                raise
        return SUCCESS, "added"

    if send()[0] == RETRY:
        ctx.wait(f"role {role} into instance profile {profile}", send, "iam.propagation")


def ensure_managed_policy(ctx, role: str, policy_name: str) -> None:
    """Attach an AWS managed policy unless it is attached already (then leave it alone)."""
    iam = ctx.client("iam")
    arn = managed_policy_arn(partition_of(ctx.region), policy_name)
    found = read_settled(ctx, f"role {role}", iam.get_role, "Role", RoleName=role)
    attached = read_settled(ctx, f"role {role}", iam.list_attached_role_policies, "AttachedPolicies", RoleName=role)
    kind, name, role_ops_made = f"{MANAGED}:{policy_name}", f"{role}/{policy_name}", _made_by_ops(found.get("Tags"))
    about: Dict[str, Any] = dict(role=role, policy_arn=arn, account=_account(found["Arn"]), role_ops_made=role_ops_made)
    if any(p["PolicyArn"] == arn for p in attached):
        if not ctx.find_recorded(kind):
            # attached by another ops lab (the role is ops's, or a lab that attached it records
            # it as ours: it detaches with the last lab out) or by someone else
            ops_made = role_ops_made or any(
                row.get("ours") or row.get("attrs", {}).get("ops_made") for _, row in ctx.recorded_elsewhere(kind, name)
            )
            ctx.adopted(kind, name, ops_made=ops_made, **about)
        return
    resource = ctx.intend(kind, name, **about)
    ctx.call(iam.attach_role_policy, RoleName=role, PolicyArn=arn)
    ctx.created(resource, verb="attached")


def put_inline_policy(ctx, role: str, policy_name: str, document: Dict) -> None:
    iam = ctx.client("iam")
    resource = ctx.find_recorded(INLINE) or ctx.intend(INLINE, f"{role}/{policy_name}", role=role, policy=policy_name)
    ctx.call(iam.put_role_policy, RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    ctx.created(resource, verb="attached")


# --- deleting ----------------------------------------------------------------------------


def delete_iam(ctx, resource: Resource, shared_users: Optional[Callable[[], List[str]]] = None) -> bool:
    """Delete one IAM resource recorded by a step; False if it is not an IAM kind.

    A role, its profile or a policy on the role goes only when no instance uses it, asked
    right before each delete call. shared_users, for pieces every lab may adopt (the Cloud9
    SSM role): the users the step type knows of besides instances; then other labs'
    records count too, and the decision is taken under the account-wide lock
    (ctx.account_lock), so no lab sharing this record's store adopts the piece meanwhile.
    """
    iam = ctx.client("iam")
    kind = resource.base_kind
    if kind == INLINE:
        _unless_gone(ctx, iam.delete_role_policy, RoleName=resource.attrs["role"], PolicyName=resource.attrs["policy"])
        return True
    if kind not in (MANAGED, PROFILE, ROLE):
        return False
    with ctx.account_lock() if shared_users is not None else contextlib.nullcontext():
        # another lab's record using it keeps it whatever IAM and EC2 say: of many labs leaving
        # together, only the last one out asks them (50 labs made 400 IAM calls at 10 a second)
        labs = _labs_recording(ctx, resource) if shared_users is not None else []
        if labs:
            ctx.handed_over(resource)
            raise StillInUse(labs)
        calls = _deletion_calls(ctx, resource)
        undone: List[Callable[[], None]] = []
        try:
            for operation, kwargs, undo in calls:
                users = _users(ctx, resource, shared_users)
                if users:
                    raise StillInUse(users)
                _unless_gone(ctx, operation, **kwargs)
                if undo is not None:
                    undone.append(undo)
        except StillInUse:  # a user came between two calls (a lab elsewhere): put back what went
            for undo in reversed(undone):
                undo()
            # still under the lock: a lab tearing down at the same moment, which this one
            # counted as a user, must not count this one, or both would leave the piece
            ctx.handed_over(resource)
            raise
    return True


Call = Tuple[Callable[..., Any], Dict[str, Any], Optional[Callable[[], None]]]


def _deletion_calls(ctx, resource: Resource) -> List[Call]:
    """The calls that delete the piece as it is now, each with how to put it back (or None).

    Kept if the record says ops made it and its tags no longer do: it was deleted and made
    again by someone else since (ops deletes only what ops made). A piece IAM's reads do not
    show may be gone, or made a moment ago (IAM's reads lag its writes: a run that failed
    right after making it): the delete calls themselves tell, NoSuchEntity meaning gone.
    """
    iam = ctx.client("iam")
    kind = resource.base_kind
    ops_claimed = resource.ours or bool(resource.attrs.get("ops_made"))
    if kind == MANAGED:
        role, arn = resource.attrs["role"], resource.attrs["policy_arn"]
        found = _get(ctx, iam.get_role, "Role", RoleName=role)
        role_claimed = resource.attrs.get("role_ops_made", not resource.ours and ops_claimed)  # older records
        if found is not None and role_claimed and not _made_by_ops(found.get("Tags")):
            raise Kept(f"role {role} no longer carries ops's tags (someone made it again): its policy stays")
        return [(iam.detach_role_policy, {"RoleName": role, "PolicyArn": arn}, None)]
    if kind == PROFILE:
        profile = _get(ctx, iam.get_instance_profile, "InstanceProfile", InstanceProfileName=resource.id)
        if profile is not None and ops_claimed and not _made_by_ops(profile.get("Tags")):
            raise Kept("it no longer carries ops's tags (someone made it again): it stays")
        roles = [r["RoleName"] for r in profile.get("Roles", [])] if profile else [resource.attrs.get("role")]
        calls: List[Call] = [
            (
                iam.remove_role_from_instance_profile,
                {"InstanceProfileName": resource.id, "RoleName": role},
                (lambda name: lambda: add_role_to_profile(ctx, resource.id, name))(role),
            )
            for role in roles
            if isinstance(role, str)
        ]
        return calls + [(iam.delete_instance_profile, {"InstanceProfileName": resource.id}, None)]
    role = _get(ctx, iam.get_role, "Role", RoleName=resource.id)
    if role is None:  # the policies ops attached went before it (their records are newer)
        return [(iam.delete_role, {"RoleName": resource.id}, None)]
    if ops_claimed and not _made_by_ops(role.get("Tags")):
        raise Kept("it no longer carries ops's tags (someone made it again): it stays")
    attached = _get(ctx, iam.list_attached_role_policies, "AttachedPolicies", RoleName=resource.id) or []
    inline = _get(ctx, iam.list_role_policies, "PolicyNames", RoleName=resource.id) or []
    calls = [
        (
            iam.detach_role_policy,
            {"RoleName": resource.id, "PolicyArn": policy["PolicyArn"]},
            (lambda arn: lambda: ctx.call(iam.attach_role_policy, RoleName=resource.id, PolicyArn=arn))(
                policy["PolicyArn"]
            ),
        )
        for policy in attached
    ]
    calls += [(iam.delete_role_policy, {"RoleName": resource.id, "PolicyName": name}, None) for name in inline]
    return calls + [(iam.delete_role, {"RoleName": resource.id}, None)]


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
