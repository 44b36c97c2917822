"""ElastiCache's cache subnet groups, part of the ElastiCache fake (elasticache.py): the subnets
of one VPC a cache's node is placed in.

What it reproduces, and where the behaviour comes from:

- Names: 1-255 letters, digits or hyphens, starting with a letter, no trailing hyphen or
  `--`, stored lowercase (the model: "no more than 255 alphanumeric characters or hyphens";
  "stored as a lowercase string"); a bad one: InvalidParameterValue "The parameter
  CacheSubnetGroupName is not a valid identifier. Identifiers must begin with a letter; ..."
  (Terraform users quote it, tf_aws_elasticache_redis#1).
- Subnets: none: InvalidParameterValue "The parameter SubnetIds must be provided." (terraform
  #2534). Subnets EC2 does not know: InvalidParameterValue "Some input subnets in :[subnet-a,
  subnet-b] are invalid." (what ElastiCache answered in edx configuration#313, rather than
  the model's InvalidSubnet). Subnets of two VPCs: InvalidSubnet "Subnets subnet-a and
  subnet-b are not in the same VPC." (checked against AWS in floci#2401). More than 20
  subnets: CacheSubnetQuotaExceededFault; a 301st group in the region:
  CacheSubnetGroupQuotaExceeded (the default quotas "Subnets per subnet group" and "Subnet
  groups per Region"; the messages are the model's descriptions). More than 50 tags:
  TagQuotaPerResourceExceeded. A name in use: CacheSubnetGroupAlreadyExists "Cache subnet
  group <name> already exists." (floci#2401).
- `default`: exists while the region has a default VPC, with that VPC's subnets (made on
  first use, as AWS makes it); it cannot be made again (CacheSubnetGroupAlreadyExists) or
  deleted: InvalidParameterValue "default is reserved and cannot be modified." (DAX's answer
  for its own default subnet group; ElastiCache's text is unverified).
- DescribeCacheSubnetGroups: one by name, else pages of 20 to 100 like the other listings
  (elasticache_rules.page); an unknown name: CacheSubnetGroupNotFoundFault "Cache subnet
  group <name> not found.".
- DeleteCacheSubnetGroup while a cache cluster (a replication group's member included) uses
  it, one still deleting too: CacheSubnetGroupInUse "Cache subnet group <name> is currently in
  use by a cache cluster." (the text Terraform users quote, terraform-aws-elasticache#29).
- Tags by ARN, arn:aws:elasticache:<region>:<account>:subnetgroup:<name> (ListTagsForResource,
  AddTagsToResource, RemoveTagsFromResource: elasticache.py).
- A cache created in a group is placed in its VPC, in the first of its subnets' zones; its
  security groups must be in that VPC, and without any it gets that VPC's default group.
  Without CacheSubnetGroupName it goes in `default` (CacheSubnetGroupNotFoundFault when the
  region has no default VPC).
"""

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .base import ACCOUNT_ID, tag_list_to_dict
from .elasticache_rules import (
    ElastiCacheError,
    InvalidParameterValue,
    check_tag_count,
    page,
    valid_id,
)

DEFAULT = "default"
SUBNETS_PER_GROUP = 20
GROUPS_PER_REGION = 300


class CacheSubnetGroupNotFound(ElastiCacheError):
    code = "CacheSubnetGroupNotFoundFault"

    def __init__(self, name):
        super().__init__(f"Cache subnet group {name} not found.")


class CacheSubnetGroupAlreadyExists(ElastiCacheError):
    code = "CacheSubnetGroupAlreadyExists"

    def __init__(self, name):
        super().__init__(f"Cache subnet group {name} already exists.")


class CacheSubnetGroupInUse(ElastiCacheError):
    code = "CacheSubnetGroupInUse"

    def __init__(self, name):
        super().__init__(f"Cache subnet group {name} is currently in use by a cache cluster.")


class InvalidSubnet(ElastiCacheError):
    code = "InvalidSubnet"


class CacheSubnetQuotaExceeded(ElastiCacheError):
    code = "CacheSubnetQuotaExceededFault"


class CacheSubnetGroupQuotaExceeded(ElastiCacheError):
    code = "CacheSubnetGroupQuotaExceeded"


class CacheSubnetGroups:
    """The subnet-group operations of the ElastiCache backend (a mixin of ElastiCacheBackend,
    whose `world`, `clusters` and `now` it uses)."""

    world: Any

    if TYPE_CHECKING:  # ElastiCacheBackend's

        @property
        def clusters(self) -> Dict[str, Dict[str, Any]]: ...

    @property
    def subnet_groups(self) -> Dict[str, Dict[str, Any]]:
        return self.world.store.section("elasticache").setdefault("subnet_groups", {})

    def create_cache_subnet_group(self, params):
        name = valid_id(params["CacheSubnetGroupName"], "CacheSubnetGroupName", longest=255)
        subnet_ids = list(dict.fromkeys(params.get("SubnetIds") or []))
        if not subnet_ids:
            raise InvalidParameterValue("The parameter SubnetIds must be provided.")
        if len(subnet_ids) > SUBNETS_PER_GROUP:
            raise CacheSubnetQuotaExceeded(
                "The request cannot be processed because it would exceed the allowed number of subnets "
                "in a cache subnet group."
            )
        tags = check_tag_count(tag_list_to_dict(params.get("Tags")))
        subnets = self._subnets(subnet_ids)
        vpcs = {subnet["VpcId"] for subnet in subnets}
        if len(vpcs) > 1:
            first = subnets[0]
            other = next(s for s in subnets if s["VpcId"] != first["VpcId"])
            raise InvalidSubnet(f"Subnets {first['SubnetId']} and {other['SubnetId']} are not in the same VPC.")
        if name == DEFAULT and self._default_group() is None:
            raise InvalidParameterValue("default is reserved and cannot be modified.")
        if name in self.subnet_groups:
            raise CacheSubnetGroupAlreadyExists(name)
        if len(self.subnet_groups) >= GROUPS_PER_REGION:
            raise CacheSubnetGroupQuotaExceeded(
                "The request cannot be processed because it would exceed the allowed number of cache subnet groups."
            )
        group = self._new_group(name, params["CacheSubnetGroupDescription"], subnets, tags)
        return {"CacheSubnetGroup": _group_view(group)}

    def describe_cache_subnet_groups(self, params):
        self._default_group()  # listed, as on AWS, once the region has a default VPC
        if params.get("CacheSubnetGroupName") is not None:
            chosen = [self.subnet_group(params["CacheSubnetGroupName"])]
        else:
            chosen = list(self.subnet_groups.values())
        listed, marker = page(chosen, params)
        result: Dict[str, Any] = {"CacheSubnetGroups": [_group_view(group) for group in listed]}
        if marker:
            result["Marker"] = marker
        return result

    def delete_cache_subnet_group(self, params):
        group = self.subnet_group(params["CacheSubnetGroupName"])
        if group["id"] == DEFAULT:
            raise InvalidParameterValue("default is reserved and cannot be modified.")
        if any(cluster.get("subnet_group", DEFAULT) == group["id"] for cluster in self.clusters.values()):
            raise CacheSubnetGroupInUse(group["id"])
        del self.subnet_groups[group["id"]]
        return {}

    # what the caches and the tags use

    def subnet_group(self, name: str) -> Dict[str, Any]:
        """The group of that name (any case), `default` included while it exists."""
        name = name.lower()
        group = self._default_group() if name == DEFAULT else self.subnet_groups.get(name)
        if group is None:
            raise CacheSubnetGroupNotFound(name)
        return group

    def placement(self, name: Optional[str]) -> Dict[str, Any]:
        """Where a new cache goes: its subnet group's name, VPC and availability zone."""
        group = self.subnet_group(name or DEFAULT)
        return {
            "subnet_group": group["id"],
            "vpc_id": group["vpc_id"],
            "az": min(subnet["az"] for subnet in group["subnets"]),
        }

    # helpers

    def _subnets(self, subnet_ids: List[str]) -> List[Dict[str, Any]]:
        """The subnets as EC2 describes them, in the order asked; any EC2 does not know is refused."""
        ec2 = self.world.client("ec2")
        known = {
            s["SubnetId"]: s
            for s in ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": subnet_ids}])["Subnets"]
        }
        if any(subnet_id not in known for subnet_id in subnet_ids):
            raise InvalidParameterValue(f"Some input subnets in :[{', '.join(subnet_ids)}] are invalid.")
        return [known[subnet_id] for subnet_id in subnet_ids]

    def _default_group(self) -> Optional[Dict[str, Any]]:
        """`default`, made from the default VPC's subnets when first asked for (None: no default VPC)."""
        if DEFAULT in self.subnet_groups:
            return self.subnet_groups[DEFAULT]
        ec2 = self.world.client("ec2")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            return None
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["Subnets"]
        return self._new_group(DEFAULT, "Default CacheSubnetGroup", subnets, {})

    def _new_group(self, name: str, description: str, subnets: List[Dict[str, Any]], tags: Dict[str, str]):
        group = {
            "id": name,
            "description": description,
            "vpc_id": subnets[0]["VpcId"],
            "subnets": [{"id": s["SubnetId"], "az": s["AvailabilityZone"]} for s in subnets],
            "tags": tags,
            "arn": f"arn:aws:elasticache:{self.world.region}:{ACCOUNT_ID}:subnetgroup:{name}",
        }
        self.subnet_groups[name] = group
        return group


def _group_view(group: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "CacheSubnetGroupName": group["id"],
        "CacheSubnetGroupDescription": group["description"],
        "VpcId": group["vpc_id"],
        "Subnets": [
            {
                "SubnetIdentifier": subnet["id"],
                "SubnetAvailabilityZone": {"Name": subnet["az"]},
                "SupportedNetworkTypes": ["ipv4"],
            }
            for subnet in group["subnets"]
        ],
        "ARN": group["arn"],
        "SupportedNetworkTypes": ["ipv4"],
    }
