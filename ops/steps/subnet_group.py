"""ElastiCache cache subnet group: the subnets of one VPC a cache's node is placed in.

AWS requires one for in-transit encryption ("If you enable in-transit encryption, you must
also specify a value for CacheSubnetGroup.", CreateReplicationGroup), so a replication group
with `transit_encryption: true` names one (`subnet_group`). Without `subnet_ids` the group
holds every subnet of the region's default VPC. Free: ElastiCache bills nodes, not subnet
groups. Deleted after the caches in it, waiting while one is still deleting
(CacheSubnetGroupInUse).
"""

import re
from typing import Any, Dict, List, Optional

from ..aws import is_unreachable
from ..errors import BadInput
from ..model import Change, Found, Resource, ResourceKind, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn
from .base import Output, Param, StepType, register
from .ec2 import default_vpc
from .elasticache import EC2_DESCRIBE, cache_retag, check_subnet_group_name

SUBNET_GROUP = "cache-subnet-group"
DEFAULT = "default"  # ElastiCache's own group of the default VPC: never made or deleted by ops
SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
SUBNETS_PER_GROUP = 20  # ElastiCache's quota "Subnets per subnet group"


def check_name(value: str) -> Optional[str]:
    if value == DEFAULT:
        return "is ElastiCache's own subnet group of the default VPC, which ops neither makes nor deletes"
    return check_subnet_group_name(value)


def check_subnet_ids(value: List[Any]) -> Optional[str]:
    if not value:
        return "names no subnet: give at least one, or leave subnet_ids out for the default VPC's subnets"
    if len(value) > SUBNETS_PER_GROUP:
        return f"names {len(value)} subnets; ElastiCache allows at most {SUBNETS_PER_GROUP} in a subnet group"
    bad = [item for item in value if not (isinstance(item, str) and SUBNET_ID.match(item))]
    if bad:
        return f"holds {bad[0]!r}, which is not a subnet id like subnet-0123456789abcdef0"
    return None


def describe_subnet_group(ctx, name: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("elasticache")
    try:
        found = ctx.call(client.describe_cache_subnet_groups, CacheSubnetGroupName=name)
    except client.exceptions.CacheSubnetGroupNotFoundFault:
        return None
    return found["CacheSubnetGroups"][0]


def _tags(aws, group: Dict[str, Any]) -> List[Dict[str, str]]:
    return aws.call(aws.client("elasticache").list_tags_for_resource, ResourceName=group["ARN"])["TagList"]


def _find_subnet_groups(aws) -> List[Found]:
    client = aws.client("elasticache")
    return [
        Found(SUBNET_GROUP, group["CacheSubnetGroupName"], f"in {group['VpcId']}", tag_map(_tags(aws, group)))
        for group in aws.listing(client, "describe_cache_subnet_groups", "CacheSubnetGroups")
    ]


def _live_state(aws, name: str) -> str:
    """A subnet group has no status: where it is."""
    client = aws.client("elasticache")
    [group] = aws.call(client.describe_cache_subnet_groups, CacheSubnetGroupName=name)["CacheSubnetGroups"]
    return f"in {group['VpcId']}"


SUBNET_GROUP_KIND = ResourceKind(
    SUBNET_GROUP,
    creation_order=29,  # before the caches placed in it (31, 32): deleted after them
    find=_find_subnet_groups,
    live_state=_live_state,
    not_found=("CacheSubnetGroupNotFoundFault",),
    actions=("elasticache:DescribeCacheSubnetGroups",),
    retag=cache_retag(
        arn("elasticache", "subnetgroup:*"), "describe_cache_subnet_groups", "CacheSubnetGroupName", "CacheSubnetGroups"
    ),
)


@register
class CacheSubnetGroup(StepType):
    name = "elasticache.subnet_group"
    summary = (
        "An ElastiCache cache subnet group (subnets of one VPC) for the caches of the lab; "
        "in-transit encryption needs one. Free."
    )
    params = [
        Param(
            "name",
            required=True,
            check=check_name,
            doc="subnet group name: 1-255 lowercase letters, digits, hyphens",
        ),
        Param(
            "subnet_ids",
            type="list",
            default=None,
            check=check_subnet_ids,
            doc="subnets of one VPC (at most 20); omit for every subnet of the default VPC",
        ),
        Param("description", default="ops lab cache subnet group", doc="the group's description"),
    ]
    outputs = {
        "name": Output("the subnet group's name (a cache's subnet_group)", early=True),
        "vpc_id": Output("the VPC of its subnets", early=True),
    }
    example = """\
- name: subnets
  type: elasticache.subnet_group
  with:
    name: lab-${{ run.id }}
- name: cache
  type: elasticache.replication_group
  with:
    group_id: lab-${{ run.id }}
    subnet_group: ${{ steps.subnets.outputs.name }}
    transit_encryption: true
"""
    default_timeout = 600.0
    kinds = (SUBNET_GROUP_KIND,)
    permissions = [
        Grant(
            ["elasticache:CreateCacheSubnetGroup", "elasticache:AddTagsToResource"],
            [arn("elasticache", "subnetgroup:{name}")],
            REQUEST_TAGGED,
        ),
        Grant(
            ["elasticache:DescribeCacheSubnetGroups", "elasticache:ListTagsForResource"],
            [arn("elasticache", "subnetgroup:{name}")],
        ),
        Grant(["elasticache:DeleteCacheSubnetGroup"], [arn("elasticache", "subnetgroup:{name}")], RESOURCE_TAGGED),
        Grant(["ec2:DescribeVpcs", "ec2:DescribeSubnets"], why=EC2_DESCRIBE),
    ]

    @classmethod
    def preflight(cls, playbook, step, account, dry_run: bool) -> None:
        """Without subnet_ids, a real account's region must have a default VPC (a simulated
        account always has one)."""
        if dry_run or step.args.get("subnet_ids") is not None:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        aws = account()
        try:
            vpcs = aws.call(aws.client("ec2").describe_vpcs, Filters=[{"Name": "is-default", "Values": ["true"]}])
        except (ClientError, BotoCoreError) as exc:  # denied, or no answer: the step will judge
            if is_unreachable(exc):
                raise  # no step would get further: say so before anything starts
            return
        if not vpcs["Vpcs"]:
            raise BadInput(
                f"step '{step.name}' ({cls.name}) gives no subnet_ids, and region {aws.region} has no default "
                "VPC to take them from. Nothing was created.",
                "Give the step 'subnet_ids: [subnet-..., ...]' (subnets of one VPC), or create a default VPC "
                "with 'aws ec2 create-default-vpc'.",
                playbook.source,
                step.line,
            )

    def preview(self) -> List[Change]:
        name, subnet_ids = self.args["name"], self.args["subnet_ids"]
        if describe_subnet_group(self.ctx, name) is not None:
            return [Change("adopt", f"cache subnet group {name} (exists; used, never deleted)")]
        where = f"subnets {', '.join(subnet_ids)}" if subnet_ids else "every subnet of the default VPC"
        return [Change("create", f"cache subnet group {name}: {where} (free)")]

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        client = ctx.client("elasticache")
        name = args["name"]
        existing = describe_subnet_group(ctx, name)
        if existing is None:
            subnet_ids = args["subnet_ids"] or self._default_vpc_subnets()
            resource = ctx.intend(SUBNET_GROUP, name)
            try:
                created = ctx.call(
                    client.create_cache_subnet_group,
                    CacheSubnetGroupName=name,
                    CacheSubnetGroupDescription=args["description"],
                    SubnetIds=subnet_ids,
                    Tags=ctx.tags(),
                )["CacheSubnetGroup"]
            except client.exceptions.CacheSubnetGroupAlreadyExistsFault:
                # a re-sent create whose first answer was lost (or another's group of that name,
                # made since we looked): look at it as at one found before creating
                existing = describe_subnet_group(ctx, name)
                if existing is None:
                    raise
            else:
                ctx.created(resource, vpc_id=created["VpcId"])
                return {"name": name, "vpc_id": created["VpcId"]}
        ctx.resumed_or_adopted(SUBNET_GROUP, name, _tags(ctx.aws, existing), vpc_id=existing["VpcId"])
        return {"name": name, "vpc_id": existing["VpcId"]}

    def _default_vpc_subnets(self) -> List[str]:
        ctx = self.ctx
        vpc_id = default_vpc(ctx, "give the step subnet_ids")
        subnets = ctx.call(ctx.client("ec2").describe_subnets, Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return [s["SubnetId"] for s in sorted(subnets["Subnets"], key=lambda s: s["AvailabilityZone"])]

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        """Delete the group once no cache uses it: teardown deletes the caches first, but one
        still deleting (another lab's, or a sweep's) holds it (CacheSubnetGroupInUse) a while."""
        from ..waiting import RETRY, SUCCESS

        client = ctx.client("elasticache")
        found = describe_subnet_group(ctx, resource.id)
        if found is None:
            return
        if resource.status == "intent" and not ctx.is_ours(_tags(ctx.aws, found)):
            return  # our create call never answered, and this one is not ours

        def check():
            try:
                ctx.call(client.delete_cache_subnet_group, CacheSubnetGroupName=resource.id)
            except client.exceptions.CacheSubnetGroupInUse:
                return RETRY, "in use by a cache (CacheSubnetGroupInUse)"
            except client.exceptions.CacheSubnetGroupNotFoundFault:
                pass
            return SUCCESS, "deleted"

        ctx.wait(f"cache subnet group {resource.id} deletion", check, "elasticache.subnet_group_delete")
