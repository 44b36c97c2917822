"""The dead man's switch: the account itself deletes what bills when a lab's time is up.

Every resource kind that bills declares a `Switch` (ops/model.py): the API call that
deletes one (an EventBridge Scheduler universal target) and the request it takes. Right
after a run records one as created (StepContext.created, hooked by the runner), `arm`
makes, in the account, a one-time schedule at the lab's expiry that calls it
(`ActionAfterCompletion: DELETE`), in a schedule group of the run's own
(`ops-<lab>-<run>`), run by an execution role of the run's own (`ops-switch-<lab>-<run>`,
trusted by scheduler.amazonaws.com for this account only) whose one policy deletes only
resources tagged with this lab and run (group and role made before any step). So a lab
outlives its expiry by a minute at most,
even when ops is gone: a crash, a closed laptop, a lost record.

Each piece is recorded before it is made, as every resource is, by the `deadman.switch`
type (internal: no playbook names it), under the step whose resource it guards: a schedule
beside its resource (teardown, newest first, disarms it before deleting the resource); the
group, the role and its policy under the playbook's first step that makes something billable. So teardown, resume,
`ops status` and `ops sweep` treat them like everything else. Schedules are free, and so
are groups and roles: what they do not delete (ingress rules, IAM pieces, SSM parameters)
carries the ops:expires tag for `ops sweep --expired`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from ..model import TAG_LAB, TAG_RUN, TAG_STEP, Found, Resource, ResourceKind, Retag, kinds_of, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn, iam_arn, partition_of, render
from .base import REGISTRY, StepType, register
from .iam import INLINE, INLINE_KIND, ROLE, ROLE_KIND, delete_iam, read_settled

TYPE = "deadman.switch"
GROUP, SCHEDULE = "schedule-group", "expiry-schedule"
SWITCH_ROLE, SWITCH_POLICY = f"{ROLE}:switch", f"{INLINE}:switch"  # beside a host role on the same step
POLICY_NAME = "ops-switch"
SCHEDULER = "scheduler.amazonaws.com"
NAME_CHARS = re.compile(r"[^0-9A-Za-z_.-]")
ROLE_PROPAGATION = 120.0  # how long CreateSchedule may refuse a new role (IAM is eventually consistent)


def group_name(lab: str, run_id: str) -> str:
    return f"ops-{lab}-{run_id}"  # lab names (ops/names.py) and run ids hold only [a-z0-9-]: 55 characters at most


def role_name(lab: str, run_id: str) -> str:
    return f"ops-switch-{lab}-{run_id}"  # 62 characters at most: IAM allows 64


def schedule_name(resource: Resource) -> str:
    """The schedule guarding a resource: its kind and id, in Scheduler's 64 characters of
    [0-9a-zA-Z-_.] (a digest of the whole when they do not fit)."""
    name = NAME_CHARS.sub("-", f"{resource.base_kind}-{resource.id}")
    if len(name) <= 64:
        return name
    import hashlib  # here: every command imports this module, few need a digest (start-up time)

    return f"{name[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def at_expression(expires_at: float) -> str:
    """EventBridge Scheduler's one-time expression for an instant (UTC, to the second)."""
    return "at(" + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires_at)) + ")"


def _find_groups(aws) -> List[Found]:
    client = aws.client("scheduler")
    found = []
    for group in aws.listing(client, "list_schedule_groups", "ScheduleGroups", NamePrefix="ops-"):
        tags = tag_map(aws.call(client.list_tags_for_resource, ResourceArn=group["Arn"])["Tags"])
        found.append(Found(GROUP, group["Name"], group["State"], tags))
    return found


def _schedule_state(aws, schedule_id: str) -> str:
    group, name = schedule_id.split("/", 1)
    return aws.call(aws.client("scheduler").get_schedule, Name=name, GroupName=group)["State"]


GROUP_ARN = arn("scheduler", "schedule-group/ops-{lab}*")
SCHEDULE_ARN = arn("scheduler", "schedule/ops-{lab}*/*")
ROLE_ARN = iam_arn("role/ops-switch-{lab}*")


def _tag_group(aws, name: str, tags: List[Dict[str, str]]) -> None:
    client = aws.client("scheduler")
    aws.call(client.tag_resource, ResourceArn=aws.call(client.get_schedule_group, Name=name)["Arn"], Tags=tags)


GROUP_KIND = ResourceKind(
    GROUP,
    # made before any step (with the role); so, in a made-up record (ops sweep), deleted after
    # the steps' resources, and never ahead of what depends on them
    creation_order=5,
    find=_find_groups,
    live_state=lambda aws, name: aws.call(aws.client("scheduler").get_schedule_group, Name=name)["State"],
    not_found=("ResourceNotFoundException",),
    actions=("scheduler:GetScheduleGroup",),
    retag=Retag("scheduler:TagResource", GROUP_ARN, lambda aws, name, tags: _tag_group(aws, name, tags)),
)
# not tagged (Scheduler tags groups only): a schedule goes with its group
SCHEDULE_KIND = ResourceKind(
    SCHEDULE,
    creation_order=6,
    live_state=_schedule_state,
    not_found=("ResourceNotFoundException",),
    actions=("scheduler:GetSchedule",),
)
SWITCH_KINDS = (ROLE_KIND, INLINE_KIND, GROUP_KIND, SCHEDULE_KIND)


@register
class DeadMansSwitch(StepType):
    name = TYPE
    summary = (
        "The schedules that delete a lab's billable resources at its expiry (made by every run; not for playbooks)."
    )
    internal = True
    kinds = SWITCH_KINDS
    permissions = [
        Grant(["iam:CreateRole", "iam:TagRole"], [ROLE_ARN], REQUEST_TAGGED),
        Grant(
            [
                "iam:GetRole",
                "iam:PutRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:ListInstanceProfilesForRole",
            ],
            [ROLE_ARN],
        ),
        Grant(["iam:DeleteRole", "iam:DeleteRolePolicy"], [ROLE_ARN], RESOURCE_TAGGED),
        # the role goes to EventBridge Scheduler, and to nothing else
        Grant(["iam:PassRole"], [ROLE_ARN], {"StringEquals": {"iam:PassedToService": SCHEDULER}}),
        Grant(["scheduler:CreateScheduleGroup", "scheduler:TagResource"], [GROUP_ARN], REQUEST_TAGGED),
        Grant(["scheduler:DeleteScheduleGroup"], [GROUP_ARN], RESOURCE_TAGGED),
        Grant(["scheduler:GetScheduleGroup", "scheduler:ListTagsForResource"], [GROUP_ARN]),
        # schedules carry no tags (Scheduler tags groups only): named by the lab
        Grant(
            [
                "scheduler:CreateSchedule",
                "scheduler:GetSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
            ],
            [SCHEDULE_ARN],
        ),
    ]

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        scheduler = ctx.client("scheduler")
        if resource.base_kind == SCHEDULE:
            group, name = resource.id.split("/", 1)
            try:
                ctx.call(scheduler.delete_schedule, Name=name, GroupName=group)
            except scheduler.exceptions.ResourceNotFoundException:
                pass  # run (and deleted after), or gone with its group
        elif resource.base_kind == GROUP:
            try:
                ctx.call(scheduler.delete_schedule_group, Name=resource.id)
            except scheduler.exceptions.ResourceNotFoundException:
                return
            ctx.wait(
                f"schedule group {resource.id} deletion", lambda: _group_gone(ctx, resource.id), "scheduler.delete"
            )
        else:
            delete_iam(ctx, resource)


def _group_gone(ctx, name: str) -> Tuple[str, str]:
    scheduler = ctx.client("scheduler")
    try:
        state = ctx.call(scheduler.get_schedule_group, Name=name)["State"]
    except scheduler.exceptions.ResourceNotFoundException:
        return "success", "gone"
    return "retry", state


# --- arming ------------------------------------------------------------------------------


def prepare(ctx, playbook_steps) -> None:
    """Before any step: the run's schedule group and execution role, recorded under the first
    step whose type makes something that bills (so arming, from steps running at once, only
    looks them up). Nothing when the run has no expiry or nothing bills."""
    if not ctx.record.data.get("expires_at"):
        return
    first = next((step for step in playbook_steps if any(k.switch for k in step.step_type.kinds)), None)
    if first is None:
        return
    new_role = not any(r.kind == SWITCH_ROLE for r in ctx.record.live())
    _group_and_role(ctx.acting_as(first.type, ctx.kinds, step=first.name))
    if new_role:  # IAM propagates a new role in seconds: wait here, once, rather than in each step
        ctx.clock.sleep(float(ctx.settings.get("expected", {}).get("iam.propagation", 10)))


def _kinds() -> Dict[str, Tuple[ResourceKind, str]]:
    """Every registered kind (registry() has imported the step types before anything arms)."""
    return kinds_of(REGISTRY.values())


def switch_of(resource: Resource):
    """The Switch of a resource's kind (None: it does not bill, or is not ours to delete)."""
    found = _kinds().get(resource.base_kind)
    return found[0].switch if found and resource.ours else None


def arm(ctx, resource: Resource) -> None:
    """Arm the switch for a resource just recorded as created (or resumed): a schedule at the
    run's expiry that deletes it. Nothing when the run has no expiry or the kind does not bill."""
    switch = switch_of(resource)
    expires = ctx.record.data.get("expires_at")
    if switch is None or not expires:
        return
    if any(r.base_kind == SCHEDULE and r.attrs.get("guards") == resource.label() for r in ctx.record.live()):
        return  # armed already (a resumed run)
    group, role_arn = _group_and_role(ctx)
    own = ctx.acting_as(TYPE, {k.name for k in SWITCH_KINDS})
    name = schedule_name(resource)
    recorded = own.intend(
        f"{SCHEDULE}:{resource.kind}",
        f"{group}/{name}",
        guards=resource.label(),
        action=f"{switch.service}:{switch.action}",
        at=expires,
    )
    request = schedule_request(name, group, role_arn, expires, switch.service, switch.action, switch.input(resource.id))
    _create_schedule(own, request)
    own.created(recorded, verb="armed")


def schedule_request(
    name: str, group: str, role_arn: str, expires: float, service: str, action: str, params: Dict[str, Any]
) -> Dict[str, Any]:
    """CreateSchedule's (and UpdateSchedule's) arguments: a one-time universal target."""
    return dict(
        Name=name,
        GroupName=group,
        ScheduleExpression=at_expression(expires),
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Description="ops: deletes this lab's resource at its expiry (ops extend moves it; ops teardown removes it)",
        Target={
            "Arn": f"arn:{role_arn.split(':')[1]}:scheduler:::aws-sdk:{service}:{action}",
            "RoleArn": role_arn,
            "Input": json.dumps(params),
        },
    )


def _create_schedule(ctx, request: Dict[str, Any]) -> None:
    """CreateSchedule, waiting out IAM's propagation of a new execution role; a re-sent call
    (its first answer lost) finds its schedule made: ConflictException."""
    scheduler = ctx.client("scheduler")
    deadline = ctx.clock.now() + ROLE_PROPAGATION
    while True:
        try:
            ctx.call(scheduler.create_schedule, **request)
            return
        except scheduler.exceptions.ConflictException:
            return
        except scheduler.exceptions.ValidationException as exc:
            if "assume the role" not in str(exc) or ctx.clock.now() >= deadline:
                raise
            ctx.clock.sleep(5)


def _run_tags(ctx) -> List[Dict[str, str]]:
    """The run's tags, with ops:step 'expiry': the group and role are the run's, not a step's (a
    sweep's made-up record keeps them apart from a step's own role)."""
    return [{"Key": TAG_STEP, "Value": "expiry"} if t["Key"] == TAG_STEP else t for t in ctx.tags()]


def _group_and_role(ctx) -> Tuple[str, str]:
    """The run's schedule group and execution role (made by `prepare` before any step, recorded
    under the first billable step; a resumed run finishes what a crash cut short)."""
    state = ctx.record
    pieces = {r.kind: r for r in state.live() if r.type == TYPE and r.kind in (GROUP, SWITCH_ROLE, SWITCH_POLICY)}
    home = next(iter(pieces.values())).step if pieces else ctx.step
    own = ctx.acting_as(TYPE, {k.name for k in SWITCH_KINDS}, step=home)
    group, role = group_name(ctx.lab, ctx.run_id), role_name(ctx.lab, ctx.run_id)
    iam, scheduler = ctx.client("iam"), ctx.client("scheduler")
    account = ctx.call(ctx.client("sts").get_caller_identity)["Account"]
    if SWITCH_ROLE not in pieces or pieces[SWITCH_ROLE].status == "intent":
        recorded = pieces.get(SWITCH_ROLE) or own.intend(SWITCH_ROLE, role)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": SCHEDULER},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
        try:
            ctx.call(
                iam.create_role,
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"ops: deletes lab {ctx.lab} (run {ctx.run_id}) at its expiry",
                Tags=_run_tags(ctx),
            )
        except iam.exceptions.EntityAlreadyExistsException:  # a re-sent create, or a resumed run's
            if not ctx.is_ours(read_settled(ctx, f"role {role}", iam.get_role, "Role", RoleName=role).get("Tags", [])):
                raise
        own.created(recorded)
    if SWITCH_POLICY not in pieces or pieces[SWITCH_POLICY].status == "intent":
        recorded = pieces.get(SWITCH_POLICY) or own.intend(
            SWITCH_POLICY, f"{role}/{POLICY_NAME}", role=role, policy=POLICY_NAME
        )
        document = execution_policy(ctx.lab, ctx.run_id, ctx.region, account)
        ctx.call(iam.put_role_policy, RoleName=role, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(document))
        own.created(recorded, verb="attached")
    if GROUP not in pieces or pieces[GROUP].status == "intent":
        recorded = pieces.get(GROUP) or own.intend(GROUP, group)
        try:
            ctx.call(scheduler.create_schedule_group, Name=group, Tags=_run_tags(ctx))
        except scheduler.exceptions.ConflictException:  # a re-sent create, or a resumed run's
            found = ctx.call(scheduler.get_schedule_group, Name=group)
            if not ctx.is_ours(ctx.call(scheduler.list_tags_for_resource, ResourceArn=found["Arn"])["Tags"]):
                raise
        own.created(recorded)
    return group, read_settled(ctx, f"role {role}", iam.get_role, "Role", RoleName=role)["Arn"]  # IAM's reads lag


def switched_kinds() -> Dict[str, Any]:
    """{kind name: its Switch} for every kind that bills."""
    return {name: kind.switch for name, (kind, _) in _kinds().items() if kind.switch is not None}


def execution_policy(lab: str, run_id: str, region: str, account: str) -> Dict[str, Any]:
    """What the execution role may do: call the billable kinds' deletes, on resources tagged
    with this lab and run only (every one of those actions takes aws:ResourceTag)."""
    names: Dict[str, Optional[str]] = {
        "partition": partition_of(region),
        "region": region,
        "account": account,
        "lab": lab,
    }
    switches = switched_kinds().values()
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": sorted({s.iam_action for s in switches}),
                "Resource": sorted({render(s.resource, names) or "*" for s in switches}),
                "Condition": {
                    "StringEquals": {f"aws:ResourceTag/{TAG_LAB}": lab, f"aws:ResourceTag/{TAG_RUN}": run_id}
                },
            }
        ],
    }
