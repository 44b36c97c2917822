"""Find what ops made in an account, by its tags, across every service ops uses.

Used after a dry run to prove nothing is left, and by `ops sweep` to find leftovers with no
state file. A resource counts when it carries the ops:lab tag (optionally of one lab/run).
"""

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from .aws import error_code
from .context import TAG_CREATED, TAG_LAB, TAG_RUN, TAG_STEP


@dataclass
class Found:
    """One ops-tagged resource, with what `ops sweep` needs to show and delete it."""

    kind: str  # as in the run record: cache-cluster, cloud9-environment, ...
    id: str
    status: str
    tags: Dict[str, str]
    step_type: Optional[str]  # the step type whose delete() removes it; None: goes with another
    attrs: Dict[str, str] = field(default_factory=dict)

    @property
    def lab(self) -> str:
        return self.tags.get(TAG_LAB, "")

    @property
    def run(self) -> str:
        return self.tags.get(TAG_RUN, "")

    @property
    def step(self) -> str:
        return self.tags.get(TAG_STEP, "")

    def age(self, now: Optional[float] = None) -> Optional[float]:
        created = self.tags.get(TAG_CREATED)
        if not created:
            return None
        try:
            then = time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        except ValueError:
            return None
        return (now or time.time()) - then

    def line(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


def _tags(pairs) -> Dict[str, str]:
    return {(t.get("Key") or t.get("key")): (t.get("Value") or t.get("value") or "") for t in pairs or []}


def _cloud9(aws) -> List[Found]:
    client = aws.client("cloud9")
    ids = aws.call(client.list_environments)["environmentIds"]
    found = []
    for chunk in (ids[i : i + 25] for i in range(0, len(ids), 25)):
        for env in aws.call(client.describe_environments, environmentIds=chunk)["environments"]:
            tags = _tags(aws.call(client.list_tags_for_resource, ResourceARN=env["arn"])["Tags"])
            found.append(
                Found(
                    "cloud9-environment",
                    env["id"],
                    env["lifecycle"]["status"],
                    tags,
                    "cloud9.environment",
                    {"name": env["name"]},
                )
            )
    return found


def _elasticache(aws) -> List[Found]:
    client = aws.client("elasticache")
    found = []
    for cluster in aws.call(client.describe_cache_clusters, ShowCacheClustersNotInReplicationGroups=True)[
        "CacheClusters"
    ]:  # a group's member goes with its group
        tags = _tags(aws.call(client.list_tags_for_resource, ResourceName=cluster["ARN"])["TagList"])
        found.append(
            Found(
                "cache-cluster", cluster["CacheClusterId"], cluster["CacheClusterStatus"], tags, "elasticache.cluster"
            )
        )
    return found


def _ec2(aws) -> List[Found]:
    ec2 = aws.client("ec2")
    found = []
    reservations = aws.call(
        ec2.describe_instances,
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
    )["Reservations"]
    for instance in (i for r in reservations for i in r["Instances"]):
        tags = _tags(instance.get("Tags"))
        parent = tags.get("aws:cloud9:environment")  # a Cloud9 instance goes with its environment
        found.append(
            Found(
                "ec2-instance",
                instance["InstanceId"],
                instance["State"]["Name"],
                tags,
                None if parent else "ec2.client_host",
                {"part_of": parent} if parent else {},
            )
        )
    for group in aws.call(ec2.describe_security_groups)["SecurityGroups"]:
        tags = _tags(group.get("Tags"))
        # a Cloud9 environment's group (named aws-cloud9-...) goes with its environment
        parent = tags.get("aws:cloud9:environment") or (
            group["GroupName"] if group["GroupName"].startswith("aws-cloud9-") else None
        )
        found.append(
            Found(
                "security-group",
                group["GroupId"],
                group["GroupName"],
                tags,
                None if parent else "ec2.client_host",
                {"part_of": parent} if parent else {},
            )
        )
    for rule in aws.call(ec2.describe_security_group_rules)["SecurityGroupRules"]:
        found.append(
            Found(
                "ingress-rule",
                rule["SecurityGroupRuleId"],
                f"on {rule['GroupId']}",
                _tags(rule.get("Tags")),
                "ec2.ingress",
                {"group_id": rule["GroupId"]},
            )
        )
    return found


def _replication_groups(aws) -> List[Found]:
    client = aws.client("elasticache")
    found = []
    for group in aws.call(client.describe_replication_groups)["ReplicationGroups"]:
        tags = _tags(aws.call(client.list_tags_for_resource, ResourceName=group["ARN"])["TagList"])
        found.append(
            Found(
                "replication-group", group["ReplicationGroupId"], group["Status"], tags, "elasticache.replication_group"
            )
        )
    return found


def _dynamodb(aws) -> List[Found]:
    client = aws.client("dynamodb")
    found = []
    for name in aws.call(client.list_tables)["TableNames"]:
        table = aws.call(client.describe_table, TableName=name)["Table"]
        tags = _tags(aws.call(client.list_tags_of_resource, ResourceArn=table["TableArn"]).get("Tags", []))
        found.append(Found("dynamodb-table", name, table["TableStatus"], tags, "dynamodb.table"))
    return found


def _iam(aws) -> List[Found]:
    iam = aws.client("iam")
    found = []
    for role in aws.call(iam.list_roles)["Roles"]:
        tags = _tags(aws.call(iam.list_role_tags, RoleName=role["RoleName"])["Tags"])
        found.append(Found("iam-role", role["RoleName"], "exists", tags, "cloud9.environment"))
    for profile in aws.call(iam.list_instance_profiles)["InstanceProfiles"]:
        name = profile["InstanceProfileName"]
        tags = _tags(aws.call(iam.get_instance_profile, InstanceProfileName=name)["InstanceProfile"].get("Tags"))
        found.append(Found("instance-profile", name, "exists", tags, "cloud9.environment"))
    return found


def _ssm_parameters(aws) -> List[Found]:
    """The SecureStrings ops keeps AUTH tokens in (all under /ops/)."""
    client = aws.client("ssm")
    found = []
    pages = client.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/ops/"]}]
    )
    for page in aws.call(lambda: list(pages)):
        for parameter in page["Parameters"]:
            tags = _tags(
                aws.call(client.list_tags_for_resource, ResourceType="Parameter", ResourceId=parameter["Name"])[
                    "TagList"
                ]
            )
            found.append(Found("ssm-parameter", parameter["Name"], "exists", tags, "elasticache.replication_group"))
    return found


SERVICES: Dict[str, Callable] = {
    "cloud9": _cloud9,
    "elasticache": _elasticache,
    "elasticache replication groups": _replication_groups,
    "ec2": _ec2,
    "dynamodb": _dynamodb,
    "iam": _iam,
    "ssm parameters": _ssm_parameters,
}


def find_tagged(aws, lab: Optional[str] = None, run: Optional[str] = None) -> List[Found]:
    """Every ops-tagged resource that still exists (deleting counts as existing)."""
    found: List[Found] = []
    for service, finder in SERVICES.items():
        try:
            items = finder(aws)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                found.append(Found(service, "(not checked: access denied)", "unknown", {}, None))
                continue
            raise
        found.extend(
            item
            for item in items
            if TAG_LAB in item.tags and (lab is None or item.lab == lab) and (run is None or item.run == run)
        )
    return found


def tagged_resources(aws, lab: Optional[str] = None, run: Optional[str] = None) -> List[str]:
    """One line per ops-tagged resource that still exists."""
    return [item.line() for item in find_tagged(aws, lab, run)]
