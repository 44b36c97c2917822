"""`ops iam-policy`: the least-privilege IAM policy a playbook needs, from its steps' grants.

An instructor can give students exactly this. Each step type declares `Grant`s (ops/permissions.py)
whose ARN templates are filled here with the lab's own names (from the playbook: literal names
as written, run ids and other steps' outputs as `*`), the region and account when known (else
`*`) and the region's partition. Only actions AWS offers no resource type for stay on "*",
each with its reason (`wildcard_reasons`).
"""

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ..engine.playbook import Playbook, Step
from ..model import TAG_EXPIRES
from ..permissions import ANY, RESOURCE_TAGGED, Grant, glob_of, iam_arn, merged, one_or_list, partition_of, statement
from ..steps.deadman import DeadMansSwitch

# what ops plan and ops doctor ask, whatever the playbook
ALWAYS = [
    Grant(["sts:GetCallerIdentity"], why="STS defines no resource type for asking who the caller is"),
    Grant(
        ["servicequotas:ListServiceQuotas"],
        why="Service Quotas defines no resource type for listing a service's quotas",
    ),
    Grant(
        ["elasticache:DescribeReservedCacheNodesOfferings"],
        why="reserved-node offerings are AWS's price list: ElastiCache defines no resource type for them",
    ),
    Grant(["ec2:DescribeSubnets"], why="EC2 defines no resource type for Describe* calls"),
    # the doctor simulates the caller: an IAM user (itself) or an assumed role (any of the account's)
    Grant(["iam:SimulatePrincipalPolicy"], [iam_arn("user/${aws:username}"), iam_arn("role/*")]),
]


@dataclass(frozen=True)
class Scope:
    """Where the lab runs: fills {partition}, {region} and {account}."""

    region: str = ANY
    account: str = ANY

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def names(self, lab: str) -> Dict[str, Optional[str]]:
        return {"partition": self.partition, "region": self.region, "account": self.account, "lab": lab}


def step_names(
    playbook: Playbook, step: Step, scope: Scope, known: Dict[str, Dict[str, Optional[str]]]
) -> Dict[str, Optional[str]]:
    """The names a step's grants are filled with: its parameters' patterns, the names its type
    derives from them, each string's `_path` (without a leading '/', as in SSM parameter ARNs)."""

    def output_glob(other: str, output: str) -> Optional[str]:
        return known.get(other, {}).get(output, ANY)

    step_type = step.step_type
    args = step_type.with_defaults(step.args)
    names: Dict[str, Optional[str]] = {name: glob_of(value, output_glob) for name, value in args.items()}
    names.update(step_type.policy_names(names, playbook.name, step.name))
    names.update({f"{name}_path": value.lstrip("/") for name, value in list(names.items()) if value})
    names.update(scope.names(playbook.name))
    return names


def grants_of(playbook: Playbook, scope: Scope) -> List[Tuple[Grant, Dict[str, Optional[str]]]]:
    """Every grant the playbook needs, with the names to fill it with."""
    found = [(grant, scope.names(playbook.name)) for grant in ALWAYS]
    known: Dict[str, Dict[str, Optional[str]]] = {}
    for step in playbook.steps:
        known[step.name] = step_names(playbook, step, scope, known)
        found += [(grant, known[step.name]) for grant in step.step_type.permissions]
    if any(kind.switch for step in playbook.steps for kind in step.step_type.kinds):  # what bills is armed
        found += [(grant, scope.names(playbook.name)) for grant in DeadMansSwitch.permissions]
    kinds = {kind.name: kind for step in playbook.steps for kind in step.step_type.kinds}
    if any(kind.switch for kind in kinds.values()):
        kinds.update({kind.name: kind for kind in DeadMansSwitch.kinds})
    found += [(grant, scope.names(playbook.name)) for grant in extend_grants(kinds.values())]
    return found


def extend_grants(kinds) -> List[Grant]:
    """ops extend moves the ops:expires tag on what ops made, and may put no other tag."""
    only_expiry = {"ForAllValues:StringEquals": {"aws:TagKeys": [TAG_EXPIRES]}}
    return [
        Grant([kind.retag.action], [kind.retag.resource], merged(RESOURCE_TAGGED, only_expiry))
        for kind in kinds
        if kind.retag is not None
    ]


def wildcard_reasons(playbook: Playbook) -> Dict[str, str]:
    """The actions the policy leaves on "*", each with why."""
    return {
        action: grant.why
        for grant, _ in grants_of(playbook, Scope())
        if tuple(grant.resources) == (ANY,)
        for action in grant.actions
    }


def state_statements(location, partition: str) -> List[Dict]:
    """With records in S3: read, write and delete records and locks under the prefix only."""
    bucket = f"arn:{partition}:s3:::{location.bucket}"
    listing: Dict[str, Any] = {"Sid": "OpsStateList", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket}
    if location.prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{location.prefix}*"]}}
    return [
        {
            "Sid": "OpsStateObjects",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": f"{bucket}/{location.prefix}*",
        },
        listing,
    ]


def _listed(value) -> List[str]:
    return value if isinstance(value, list) else [value]


def _key(document: Dict[str, Any], *fields: str) -> str:
    return json.dumps([document.get(f) for f in fields], sort_keys=True)


def _joined(documents: List[Dict[str, Any]], same: Tuple[str, str], union: str) -> List[Dict[str, Any]]:
    """Statements equal in `same` become one, with `union` (Action or Resource) merged."""
    joined: Dict[str, Dict[str, Any]] = {}
    for document in documents:
        key = _key(document, *same)
        if key not in joined:
            joined[key] = dict(document)
            continue
        joined[key][union] = one_or_list(_listed(joined[key][union]) + _listed(document[union]))
    return list(joined.values())


def policy_for(playbook: Playbook, location=None, scope: Optional[Scope] = None) -> Dict:
    scope = scope or Scope()
    documents = [d for d in (statement(grant, names) for grant, names in grants_of(playbook, scope)) if d]
    documents = _joined(_joined(documents, ("Resource", "Condition"), "Action"), ("Action", "Condition"), "Resource")
    documents.sort(key=lambda d: (d["Resource"] != ANY, _key(d, "Action", "Resource")))
    statements = [{"Sid": f"Ops{index:02d}", **document} for index, document in enumerate(documents, 1)]
    if location is not None:
        statements += state_statements(location, scope.partition)
    return {"Version": "2012-10-17", "Statement": statements}


# IAM counts a managed policy's characters without whitespace, and allows 6,144 of them.
MANAGED_POLICY_LIMIT = 6144


def policy_size(policy: Dict) -> int:
    return sum(not c.isspace() for c in json.dumps(policy, separators=(",", ":")))


def split_policy(policy: Dict, limit: int = MANAGED_POLICY_LIMIT) -> List[Dict]:
    """The same statements packed, in order, into as few documents as each fit IAM's limit for
    a managed policy; attached together they allow exactly what `policy` allows."""
    documents: List[Dict] = []
    for statement_ in policy["Statement"]:
        if (
            documents
            and policy_size({**documents[-1], "Statement": documents[-1]["Statement"] + [statement_]}) <= limit
        ):
            documents[-1]["Statement"].append(statement_)
        else:
            documents.append({"Version": policy["Version"], "Statement": [statement_]})
    return documents


def scope_for(region: Optional[str], profile: Optional[str], account: Optional[str]) -> Scope:
    """The region as other commands find it (--region, config, AWS_REGION / AWS_DEFAULT_REGION,
    the profile), else any; the account from --account, else any."""
    import os
    import re

    import botocore.exceptions
    import botocore.session

    from ..engine.target import check_region
    from ..errors import BadInput

    if account is not None and not re.fullmatch(r"\d{12}", account):
        raise BadInput(
            f"--account {account!r} is not an AWS account id.",
            "Give its 12 digits (aws sts get-caller-identity --query Account), or leave it out for any.",
        )
    if not region:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            region = botocore.session.Session(profile=profile).get_config_variable("region")
        except botocore.exceptions.ProfileNotFound:
            raise BadInput(f"the profile '{profile}' does not exist.", "Check --profile / AWS_PROFILE.") from None
    check_region(region)
    return Scope(region=region or ANY, account=account or ANY)
