"""What a step type may do in AWS: IAM grants on ARN patterns built from the lab's own names.

A step type lists `Grant`s: actions, the resources they act on (ARN templates) and the
conditions that narrow them. Templates hold `{partition}`, `{region}`, `{account}`, `{lab}`
and the names of the step's parameters (`{cluster_id}`, `{table_name}`, ...); `ops
iam-policy` fills them from the playbook: a literal name stays as written, a `${{ run.id }}`
in it becomes `*`, a reference to another step's output becomes that step's pattern for the
name (or `*` within the resource type). A resource whose name the playbook leaves unset
(an optional parameter) is dropped, and a grant left with none with it.

`Grant.why` says why a grant's resource is "*": only actions AWS offers no resource type for
stay there (tests/test_policy_lint.py checks each against AWS's IAM database).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from .model import TAG_LAB
from .refs import REF, parse_ref

ANY = "*"
PLACEHOLDER = re.compile(r"\{(\w+)\}")  # `${aws:username}` (an IAM policy variable) has a colon: left alone
# what a name may hold once ${{ ... }} became `*`; anything else widens to `*`, never into the ARN
NAME_CHARS = re.compile(r"^[A-Za-z0-9+=,.@_/:*-]+$")


@dataclass(frozen=True)
class Grant:
    actions: Sequence[str]
    resources: Sequence[str] = (ANY,)
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    why: str = ""  # required when resources is "*": why AWS allows nothing narrower


def arn(service: str, resource: str, region: str = "{region}", account: str = "{account}") -> str:
    """An ARN template in the lab's partition; IAM's and S3's ARNs have no region (and S3's no account)."""
    return f"arn:{{partition}}:{service}:{region}:{account}:{resource}"


def iam_arn(resource: str) -> str:
    return arn("iam", resource, region="")


# ops tags everything it creates with ops:lab (ops/engine/context.py): a create must carry the lab's
# own value (the playbook's name, or `<name>-<copy>` for copies) ...
REQUEST_TAGGED = {"StringLike": {f"aws:RequestTag/{TAG_LAB}": "{lab}*"}}
# ... and a change or delete needs the tag on the resource, whatever lab made it: account-wide
# pieces outlive the copy that made them (the last lab out deletes them).
RESOURCE_TAGGED = {"Null": {f"aws:ResourceTag/{TAG_LAB}": "false"}}


def merged(*blocks: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Condition blocks joined (all must hold)."""
    joined: Dict[str, Dict[str, Any]] = {}
    for block in blocks:
        for operator, keys in block.items():
            joined.setdefault(operator, {}).update(keys)
    return joined


# SSM Run Command: the one AWS-owned document ops runs (AWS's documents have no account in their ARN) ...
RUN_SHELL_SCRIPT = arn("ssm", "document/AWS-RunShellScript", account="")
# ... on instances ops made: EC2 client hosts carry the ops:lab tag, and so do Cloud9 instances
# (tags given when an environment is created reach its instance through Cloud9's stack).
RUN_COMMAND = [
    Grant(["ssm:SendCommand"], [arn("ec2", "instance/*")], RESOURCE_TAGGED),
    Grant(["ssm:SendCommand"], [RUN_SHELL_SCRIPT]),
    Grant(["ssm:GetCommandInvocation"], why="SSM defines no resource type for reading a command's result"),
    # a SendCommand whose answer was lost is found by its comment, not sent again
    Grant(["ssm:ListCommands"], why="SSM defines no resource type for listing commands"),
    # Ctrl-C during `ops exec` cancels its command on the host
    Grant(["ssm:CancelCommand"], why="SSM defines no resource type for cancelling a command"),
]


def glob_of(value: Any, output_glob: Callable[[str, str], Optional[str]]) -> Optional[str]:
    """The pattern a playbook value stands for: None when unset, `*` for each run-time part."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if not isinstance(value, str):
        return str(value)

    def part(match) -> str:
        path = parse_ref(match.group(1))
        if path[0] == "steps":
            return output_glob(path[1], path[3]) or ANY
        return ANY

    whole = REF.fullmatch(value.strip())
    if whole:
        path = parse_ref(whole.group(1))
        if path[0] == "steps":
            return output_glob(path[1], path[3])  # None: that output is unset too
    pattern = re.sub(r"\*+", ANY, REF.sub(part, value))
    return pattern if NAME_CHARS.match(pattern) else ANY


def render(template: str, names: Mapping[str, Optional[str]]) -> Optional[str]:
    """Fill a template; None when a name it needs is unset."""
    missing = [key for key in PLACEHOLDER.findall(template) if names.get(key) is None]
    if missing:
        return None
    return PLACEHOLDER.sub(lambda m: str(names[m.group(1)]), template)


def render_conditions(conditions: Mapping[str, Mapping[str, Any]], names) -> Dict[str, Dict[str, Any]]:
    def fill(value):
        if isinstance(value, (list, tuple)):
            return [fill(v) for v in value]
        return render(value, names) or ANY if isinstance(value, str) else value

    return {operator: {key: fill(value) for key, value in keys.items()} for operator, keys in conditions.items()}


def one_or_list(items):
    """IAM's JSON: one item as a string, more as a sorted list."""
    items = sorted(set(items))
    return items[0] if len(items) == 1 else items


def statement(grant: Grant, names: Mapping[str, Optional[str]]) -> Optional[Dict[str, Any]]:
    """The policy statement a grant becomes for these names; None when none of its resources apply."""
    resources = sorted({r for r in (render(t, names) for t in grant.resources) if r is not None})
    if not resources:
        return None
    document: Dict[str, Any] = {
        "Effect": "Allow",
        "Action": one_or_list(grant.actions),
        "Resource": one_or_list(resources),
    }
    if grant.conditions:
        document["Condition"] = render_conditions(grant.conditions, names)
    return document


@functools.lru_cache(maxsize=None)
def partition_of(region: Optional[str]) -> str:
    """The AWS partition a region belongs to (aws, aws-cn, aws-us-gov, ...), from botocore's
    endpoint data (parsed once per process: ops/shared_loader.py); without a region, that of
    ops's default region."""
    from .aws import DRY_RUN_DEFAULT_REGION
    from .shared_loader import session_with_shared_loader

    region = region if region and region != ANY else DRY_RUN_DEFAULT_REGION
    return session_with_shared_loader().get_partition_for_region(region)


def managed_policy_arn(partition: str, name: str) -> str:
    """An AWS managed policy's ARN (account `aws`)."""
    return f"arn:{partition}:iam::aws:policy/{name}"
