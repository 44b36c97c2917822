"""ElastiCache: a single-node Redis (or Valkey) cluster, deleted without a final snapshot."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Type

from ..aws import error_code, is_transient
from ..errors import StepFailed
from ..instance_types import node_type_problem
from ..model import Change, Found, Resource, ResourceKind, Retag, Switch, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn, merged
from ..shared_describe import SharedDescribe, not_found, shared_describe
from .base import Output, Param, StepType, register
from .ec2 import default_security_group
from .node_types import check_node_type_offered

CLUSTER_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,39}(?<!-)$")
SUBNET_GROUP_NAME = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,254}(?<!-)$")


def check_cluster_id(value: str) -> Optional[str]:
    if not CLUSTER_ID.match(value):
        return (
            "is not a valid cluster id: 1-40 lowercase letters, digits or hyphens, starting with a "
            "letter, no '--' and no trailing '-'"
        )
    return None


def check_subnet_group_name(value: str) -> Optional[str]:
    if not SUBNET_GROUP_NAME.match(value):
        return (
            "is not a valid cache subnet group name: 1-255 lowercase letters, digits or hyphens, starting "
            "with a letter, no '--' and no trailing '-' (AWS stores names in lowercase)"
        )
    return None


def check_node_type(value: str) -> Optional[str]:
    """A real node type name (cache.FAMILY.SIZE); whether the region offers it is asked before a run."""
    return node_type_problem(value)


# What a single-node cache takes, as a cluster or as a replication group.
NODE_PARAMS = (
    Param("engine", default="redis", choices=("redis", "valkey"), doc="cache engine"),
    Param("engine_version", default=None, doc="engine version; omit for the current default"),
    Param(
        "node_type",
        default="cache.t3.micro",
        check=check_node_type,
        doc="node type; cache.t3.micro is current generation and cheap",
    ),
    Param("port", type="integer", default=6379, minimum=1, maximum=65535, doc="port the node listens on"),
    Param(
        "security_group_ids",
        type="list",
        default=None,
        doc="VPC security groups; omit to use the default group of the subnet group's VPC",
    ),
    Param(
        "subnet_group",
        default=None,
        check=check_subnet_group_name,
        doc="cache subnet group to place the node in (the name output of an elasticache.subnet_group step); "
        "omit for ElastiCache's default group (the default VPC's subnets)",
    ),
)


# creating a cache names its node type (a condition) and uses the default parameter group and a
# subnet group: the one it names, else `default` ({placement_group}, from node_policy_names)
NODE_TYPE = {"StringLike": {"elasticache:CacheNodeType": "{node_type}"}}
EC2_DESCRIBE = "EC2 defines no resource type for Describe* calls"


def default_groups(action: str) -> Grant:
    return Grant(
        [action], [arn("elasticache", "parametergroup:default.*"), arn("elasticache", "subnetgroup:{placement_group}")]
    )


# with a subnet group and no security groups, the cache gets the default group of the subnet group's VPC
SUBNET_GROUP_VPC = Grant(["elasticache:DescribeCacheSubnetGroups"], [arn("elasticache", "subnetgroup:{subnet_group}")])


def node_policy_names(names: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
    """The subnet group a cache is placed in, for its grants: the one it names, else `default`."""
    return {"placement_group": names.get("subnet_group") or "default"}


def node_request(ctx, args: Dict[str, Any]) -> Dict[str, Any]:
    """The create-call arguments NODE_PARAMS stand for, shared by CreateCacheCluster and
    CreateReplicationGroup. Without security groups, the cache gets the default group of its
    VPC: the subnet group's, else the default VPC."""
    subnet_group = args["subnet_group"]
    security_groups = args["security_group_ids"]
    if not security_groups:
        vpc_id = None
        if subnet_group:
            client = ctx.client("elasticache")
            described = ctx.call(client.describe_cache_subnet_groups, CacheSubnetGroupName=subnet_group)
            vpc_id = described["CacheSubnetGroups"][0]["VpcId"]
        security_groups = [default_security_group(ctx, vpc_id)]
    request = dict(
        Engine=args["engine"],
        CacheNodeType=args["node_type"],
        Port=args["port"],
        SecurityGroupIds=security_groups,
        Tags=ctx.tags(),
    )
    if subnet_group:
        request["CacheSubnetGroupName"] = subnet_group
    if args["engine_version"]:
        request["EngineVersion"] = args["engine_version"]
    return request


def describe_cluster(ctx, cluster_id: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("elasticache")
    try:
        found = ctx.call(client.describe_cache_clusters, CacheClusterId=cluster_id, ShowCacheNodeInfo=True)
    except client.exceptions.CacheClusterNotFoundFault:
        return None
    return found["CacheClusters"][0]


def cache_answers(
    aws, ids: List[str], operation: str, key: str, id_key: str, missing: str, **kwargs: Any
) -> Dict[str, Any]:
    """The answers of a shared describe (ops/shared_describe.py) of clusters or replication
    groups. ElastiCache describes one id or every one: one id gets its own call (what a lab
    alone makes); more get one paginated listing of the account's, each id's item as the
    response of a call for it alone, one not listed as the `missing` error that call raises.
    An account with hundreds of caches pays a page per hundred: still one call, not one per lab."""
    from botocore.exceptions import ClientError

    client = aws.client("elasticache")
    describe = getattr(client, operation)
    if len(ids) == 1:
        try:
            return {ids[0]: aws.call(describe, **{id_key: ids[0]}, **kwargs)}
        except ClientError as exc:
            if is_transient(exc):
                raise
            return {ids[0]: exc}
    listed = {item[id_key]: item for item in aws.listing(client, operation, key, **kwargs)}
    operation_name = client.meta.method_to_api_mapping[operation]
    return {
        resource_id: {key: [listed[resource_id]]}
        if resource_id in listed
        else not_found(client, operation_name, missing, f"{resource_id} is not in the account's {operation_name}")
        for resource_id in ids
    }


def clusters(aws) -> SharedDescribe:
    """Every wait on a cache cluster in this run shares its DescribeCacheClusters calls."""
    return shared_describe(
        aws,
        CLUSTER,
        lambda aws, ids: cache_answers(
            aws,
            ids,
            "describe_cache_clusters",
            "CacheClusters",
            "CacheClusterId",
            "CacheClusterNotFound",
            ShowCacheNodeInfo=True,
        ),
    )


def _no_transit_encryption(value: bool) -> Optional[str]:
    if value:
        return (
            "is not available on a cache cluster: AWS encrypts Redis/Valkey in transit only on replication "
            "groups; use a step of type elasticache.replication_group (transit_encryption: true)"
        )
    return None


CLUSTER = "cache-cluster"


def find_caches(aws, kind: str, operation: str, key: str, id_key: str, status_key: str, **kwargs) -> List[Found]:
    """Every cluster or replication group the listing gives, with its tags."""
    client = aws.client("elasticache")
    return [
        Found(
            kind,
            item[id_key],
            item[status_key],
            tag_map(aws.call(client.list_tags_for_resource, ResourceName=item["ARN"])["TagList"]),
        )
        for item in aws.listing(client, operation, key, **kwargs)
    ]


def _find_clusters(aws) -> List[Found]:
    """Clusters of their own: a replication group's members go with their group."""
    return find_caches(
        aws,
        CLUSTER,
        "describe_cache_clusters",
        "CacheClusters",
        "CacheClusterId",
        "CacheClusterStatus",
        ShowCacheClustersNotInReplicationGroups=True,
    )


def cache_retag(resource: str, describe: str, id_param: str, answer_key: str) -> Retag:
    """How to tag a cluster or replication group: by the ARN its describe answers."""

    def put(aws, cache_id: str, tags: List[Dict[str, str]]) -> None:
        client = aws.client("elasticache")
        described = aws.call(getattr(client, describe), **{id_param: cache_id})[answer_key][0]
        aws.call(client.add_tags_to_resource, ResourceName=described["ARN"], Tags=tags)

    return Retag("elasticache:AddTagsToResource", resource, put)


CLUSTER_KIND = ResourceKind(
    CLUSTER,
    creation_order=31,
    find=_find_clusters,
    live_state=lambda aws, cluster_id: aws.call(
        aws.client("elasticache").describe_cache_clusters, CacheClusterId=cluster_id
    )["CacheClusters"][0]["CacheClusterStatus"],
    not_found=("CacheClusterNotFound",),
    price=("elasticache", "node_type"),
    actions=("elasticache:DescribeCacheClusters",),
    switch=Switch(
        "elasticache",
        "deleteCacheCluster",
        lambda cluster_id: {"CacheClusterId": cluster_id},
        arn("elasticache", "cluster:*"),
    ),
    retag=cache_retag(arn("elasticache", "cluster:*"), "describe_cache_clusters", "CacheClusterId", "CacheClusters"),
)


# what to do when ElastiCache refuses a cluster or group (shared with replication_group.py)
CACHE_HINTS = {
    "InsufficientCacheClusterCapacity": "Try another node type (--var node_type=...) or another region.",
    "InvalidParameterCombination": "AWS refused this combination (e.g. a previous-generation node type): "
    "try --var node_type=cache.t3.micro.",
    "ClusterQuotaForCustomerExceeded": "The account's cluster quota is used up: delete unused clusters or ask for more.",
    "NodeQuotaForCustomerExceeded": "The account's node quota is used up: delete unused clusters or ask for more.",
}


@register
class CacheCluster(StepType):
    name = "elasticache.cluster"
    summary = "An ElastiCache cluster with one node and no replicas; deleted without a final snapshot."
    params = [
        Param(
            "cluster_id",
            required=True,
            doc="cluster name: 1-40 lowercase letters, digits, hyphens",
            check=check_cluster_id,
        ),
        *NODE_PARAMS,
        Param(
            "transit_encryption",
            type="boolean",
            default=False,
            check=_no_transit_encryption,
            doc="always false here: for TLS use elasticache.replication_group (AWS offers it for Redis/Valkey "
            "only on replication groups)",
        ),
    ]
    outputs = {
        "cluster_id": Output("the cluster id", early=True),
        "security_group_id": Output("the cluster's (first) security group", early=True),
        "endpoint": Output("host:port of the node"),
        "address": Output("host name of the node"),
        "port": Output("port of the node"),
    }
    example = """\
- name: redis
  type: elasticache.cluster
  with:
    cluster_id: lab-${{ run.id }}
    node_type: cache.t3.micro
"""
    default_timeout = 2400.0
    kinds = (CLUSTER_KIND,)
    hints = CACHE_HINTS

    @classmethod
    def preflight(cls, playbook, step, account, dry_run: bool) -> None:
        check_node_type_offered(playbook, step, account, dry_run)

    permissions = [
        Grant(
            ["elasticache:CreateCacheCluster"],
            [arn("elasticache", "cluster:{cluster_id}")],
            merged(REQUEST_TAGGED, NODE_TYPE),
        ),
        Grant(["elasticache:AddTagsToResource"], [arn("elasticache", "cluster:{cluster_id}")], REQUEST_TAGGED),
        default_groups("elasticache:CreateCacheCluster"),
        Grant(
            ["elasticache:DescribeCacheClusters", "elasticache:ListTagsForResource"],
            [arn("elasticache", "cluster:{cluster_id}")],
        ),
        # many labs' waits share one listing of the account's clusters (clusters(), below)
        Grant(["elasticache:DescribeCacheClusters"], [arn("elasticache", "cluster:*")]),
        Grant(["elasticache:DeleteCacheCluster"], [arn("elasticache", "cluster:{cluster_id}")], RESOURCE_TAGGED),
        SUBNET_GROUP_VPC,
        Grant(["ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"], why=EC2_DESCRIBE),
    ]

    @classmethod
    def policy_names(cls, names, lab, step):
        return node_policy_names(names)

    @classmethod
    def check_args(cls, args):
        if args.get("engine") == "valkey":  # CreateCacheCluster takes redis or memcached only
            return (
                "engine",
                "Valkey is not offered as a bare cache cluster (AWS's CreateCacheCluster refuses it)",
                "Use the step type elasticache.replication_group for Valkey (playbooks/lab-secure.yaml does).",
            )
        return None

    def preview(self) -> List[Change]:
        cluster_id, node_type = self.args["cluster_id"], self.args["node_type"]
        if describe_cluster(self.ctx, cluster_id) is not None:
            return [Change("adopt", f"cache cluster {cluster_id} (exists; used, never deleted)")]
        return [
            Change(
                "create",
                f"cache cluster {cluster_id}: {self.args['engine']}, 1 x {node_type}, no replicas"
                + (f", in subnet group {self.args['subnet_group']}" if self.args["subnet_group"] else ""),
                "elasticache",
                node_type,
            )
        ]

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        client = ctx.client("elasticache")
        cluster_id = args["cluster_id"]
        existing = describe_cluster(ctx, cluster_id)
        if existing is None:
            request = node_request(ctx, args)
            groups = request["SecurityGroupIds"]
            resource = ctx.intend(CLUSTER, cluster_id)
            try:
                ctx.call(client.create_cache_cluster, CacheClusterId=cluster_id, NumCacheNodes=1, **request)
            except client.exceptions.CacheClusterAlreadyExistsFault:
                # a re-sent create whose first answer was lost (or another's cluster of that name,
                # made since we looked): look at it as at one found before creating
                existing = describe_cluster(ctx, cluster_id)
                if existing is None:
                    raise
            else:
                ctx.created(resource, security_group_ids=groups, node_type=args["node_type"])
                return {"cluster_id": cluster_id, "security_group_id": groups[0]}
        groups = [g["SecurityGroupId"] for g in existing.get("SecurityGroups", [])]
        tags = ctx.call(client.list_tags_for_resource, ResourceName=existing["ARN"])["TagList"]
        if ctx.is_ours(tags):
            recorded = ctx.find_recorded(CLUSTER) or ctx.intend(CLUSTER, cluster_id)
            ctx.created(recorded, verb="resumed", security_group_ids=groups, node_type=existing["CacheNodeType"])
        else:
            ctx.adopted(CLUSTER, cluster_id, security_group_ids=groups)
        return {"cluster_id": cluster_id, "security_group_id": groups[0] if groups else ""}

    def wait(self) -> Dict[str, Any]:
        ctx = self.ctx
        cluster_id = self.args["cluster_id"]
        shared = clusters(ctx.aws)
        with shared.watching(cluster_id):
            ctx.wait(
                f"cluster {cluster_id}",
                _check(ctx, "cache_cluster_available", cluster_id, shared),
                "elasticache.create",
                size=f"{self.args['node_type']} {self.args['engine']} cluster",
            )
            try:  # the answer the wait ended on (with the node's endpoint), not another call
                cluster = shared.answer(cluster_id)["CacheClusters"][0]
            except ctx.client("elasticache").exceptions.CacheClusterNotFoundFault:
                raise vanished(ctx.step, f"cluster {cluster_id}") from None
        node = cluster["CacheNodes"][0]["Endpoint"]
        return {"address": node["Address"], "port": node["Port"], "endpoint": f"{node['Address']}:{node['Port']}"}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        client = ctx.client("elasticache")
        delete_cache(
            ctx,
            resource,
            f"cluster {resource.id}",
            clusters(ctx.aws),
            "CacheClusters",
            "CacheClusterStatus",
            lambda: ctx.call(client.delete_cache_cluster, CacheClusterId=resource.id),
            client.exceptions.InvalidCacheClusterStateFault,
            client.exceptions.CacheClusterNotFoundFault,
            _check(ctx, "cache_cluster_deleted", resource.id, clusters(ctx.aws)),
        )


def delete_cache(
    ctx,
    resource: Resource,
    what: str,
    shared: SharedDescribe,
    key: str,
    status_key: str,
    send: Callable[[], Any],
    refused: Type[Exception],
    missing: Type[Exception],
    gone,
) -> None:
    """Delete a cluster or replication group this run made (no final snapshot) and wait until
    it is gone. AWS refuses deletes while it is creating/modifying/snapshotting (`refused`, the
    client's modeled error; `missing`: the one saying it is gone): wait for a deletable state,
    and try again while it still refuses, until the deadline. Its status comes from the run's
    shared describe of its kind (`key`: the answer's list); `gone`: the deletion's check, on
    that describe, waited on as a new wait once the delete is sent, so no answer from before
    it serves."""

    def describe() -> Optional[Dict[str, Any]]:
        try:
            return shared.answer(resource.id)[key][0]
        except missing:
            return None

    with shared.watching(resource.id):
        found = describe()
        if found is None:
            return
        if resource.status == "intent" and not _tagged_ours(ctx, found):
            return  # our create call never answered, and this one is not ours
        if found[status_key] != "deleting":
            ctx.wait(
                f"{what} to be deletable",
                delete_when_allowed(lambda: (describe() or {}).get(status_key), send, refused, missing),
                "elasticache.create",
            )
    with shared.watching(resource.id):
        ctx.wait(f"{what} deletion", gone, "elasticache.delete")


BUSY = ("creating", "modifying", "snapshotting", "rebooting cluster nodes")


def _check(ctx, waiter: str, cluster_id: str, shared: SharedDescribe):
    from ..waiting import waiter_check

    return waiter_check(
        ctx.aws,
        ctx.client("elasticache"),
        waiter,
        lambda r: r["CacheClusters"][0]["CacheClusterStatus"],
        answer=lambda: shared.answer(cluster_id),
    )


def vanished(step: str, what: str) -> StepFailed:
    """A cache that was available one call ago and is gone now."""
    return StepFailed(
        step,
        f"{what} was deleted right after it became available.",
        "Something outside this run deleted it: run the lab again.",
    )


def _tagged_ours(ctx, cluster) -> bool:
    tags = ctx.call(ctx.client("elasticache").list_tags_for_resource, ResourceName=cluster["ARN"])["TagList"]
    return ctx.is_ours(tags)


def delete_when_allowed(
    status: Callable[[], Optional[str]], delete: Callable[[], Any], refused: Type[Exception], missing: Type[Exception]
):
    """A check for ctx.wait that sends a delete (no final snapshot) once ElastiCache accepts it.

    status() gives the resource's status (None: gone); AWS refuses deletes while it is busy
    (the modeled error `refused`), so busy states are waited out and a refusal is asked again;
    `missing` (gone meanwhile) counts as deleted.
    """
    from ..waiting import RETRY, SUCCESS

    def check():
        current = status()
        if current is None or current == "deleting":
            return SUCCESS, current or "gone"
        if current in BUSY:
            return RETRY, current
        try:
            delete()
        except refused as exc:
            return RETRY, f"delete refused for now ({error_code(exc)})"
        except missing:
            pass
        return SUCCESS, "deleting"

    return check
