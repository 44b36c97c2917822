"""ElastiCache replication group: one node, no replicas, Redis OSS or Valkey.

What the console creates for a "Redis OSS" or "Valkey" cache with cluster mode off and no
replicas: a replication group with NumCacheClusters=1 (its one member cluster is the
primary). Valkey exists only as replication groups (or serverless), not as a bare cache
cluster, which is why this type exists beside elasticache.cluster. Deleted without a final
snapshot; the endpoint is NodeGroups[0].PrimaryEndpoint.
"""
from typing import Any, Dict, List, Optional

from ..aws import error_code
from .base import Change, Output, Param, Resource, StepType, register
from .ec2 import default_security_group
from .elasticache import NODE_PARAMS, _tagged_ours, check_cluster_id, delete_when_allowed, describe_cluster

GROUP = "replication-group"


def check_group_id(value: str) -> Optional[str]:
    problem = check_cluster_id(value)
    return problem.replace("cluster id", "replication group id") if problem else None


def describe_group(ctx, group_id: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("elasticache")
    try:
        found = ctx.call(client.describe_replication_groups, ReplicationGroupId=group_id)
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) == "ReplicationGroupNotFoundFault":
            return None
        raise
    return found["ReplicationGroups"][0]


def group_security_groups(ctx, group: Dict[str, Any]) -> List[str]:
    """A replication group's security groups are its member clusters'."""
    for member in group.get("MemberClusters", []):
        cluster = describe_cluster(ctx, member)
        if cluster is not None:
            return [g["SecurityGroupId"] for g in cluster.get("SecurityGroups", [])]
    return []


@register
class CacheReplicationGroup(StepType):
    name = "elasticache.replication_group"
    summary = ("An ElastiCache replication group (Redis OSS or Valkey) with one node and no replicas, "
               "cluster mode off; deleted without a final snapshot.")
    params = [
        Param("group_id", required=True, check=check_group_id,
              doc="replication group name: 1-40 lowercase letters, digits, hyphens"),
        Param("description", default="ops lab cache", doc="the group's description"),
        *NODE_PARAMS,
    ]
    outputs = {
        "group_id": Output("the replication group id", early=True),
        "cluster_id": Output("its one member cluster (the primary)", early=True),
        "security_group_id": Output("the group's (first) security group", early=True),
        "endpoint": Output("host:port of the primary endpoint"),
        "address": Output("host name of the primary endpoint"),
        "port": Output("port of the primary endpoint"),
    }
    example = """\
- name: cache
  type: elasticache.replication_group
  with:
    group_id: lab-${{ run.id }}
    engine: valkey
    node_type: cache.t3.micro
"""
    default_timeout = 2400.0
    permissions = ["elasticache:CreateReplicationGroup", "elasticache:DescribeReplicationGroups",
                   "elasticache:DeleteReplicationGroup", "elasticache:DescribeCacheClusters",
                   "elasticache:AddTagsToResource", "elasticache:ListTagsForResource",
                   "ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"]

    def preview(self) -> List[Change]:
        group_id, node_type = self.args["group_id"], self.args["node_type"]
        if describe_group(self.ctx, group_id) is not None:
            return [Change("adopt", f"replication group {group_id} (exists; used, never deleted)")]
        return [Change("create", f"replication group {group_id}: {self.args['engine']}, 1 x {node_type}, "
                                 "no replicas, cluster mode off", "elasticache", node_type)]

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        client = ctx.client("elasticache")
        group_id = args["group_id"]
        existing = describe_group(ctx, group_id)
        if existing is None:
            groups = args["security_group_ids"] or [default_security_group(ctx)]
            resource = ctx.find_recorded(GROUP) or ctx.intend(GROUP, group_id)
            request = dict(ReplicationGroupId=group_id, ReplicationGroupDescription=args["description"],
                           Engine=args["engine"], CacheNodeType=args["node_type"], NumCacheClusters=1,
                           AutomaticFailoverEnabled=False, Port=args["port"], SecurityGroupIds=groups,
                           Tags=ctx.tags())
            if args["engine_version"]:
                request["EngineVersion"] = args["engine_version"]
            created = ctx.call(client.create_replication_group, **request)["ReplicationGroup"]
            members = created.get("MemberClusters") or [f"{group_id}-001"]
            ctx.created(resource, security_group_ids=groups, node_type=args["node_type"], engine=args["engine"])
            return {"group_id": group_id, "cluster_id": members[0], "security_group_id": groups[0]}
        groups = group_security_groups(ctx, existing)
        members = existing.get("MemberClusters") or [""]
        if _tagged_ours(ctx, existing):
            recorded = ctx.find_recorded(GROUP) or ctx.intend(GROUP, group_id)
            ctx.created(recorded, verb="resumed", security_group_ids=groups, node_type=existing.get("CacheNodeType"))
        else:
            ctx.adopted(GROUP, group_id, security_group_ids=groups)
        return {"group_id": group_id, "cluster_id": members[0], "security_group_id": groups[0] if groups else ""}

    def wait(self) -> Dict[str, Any]:
        ctx = self.ctx
        group_id = self.args["group_id"]
        ctx.wait(f"replication group {group_id}", _check(ctx, "replication_group_available", group_id),
                 "elasticache.create")
        endpoint = describe_group(ctx, group_id)["NodeGroups"][0]["PrimaryEndpoint"]
        return {"address": endpoint["Address"], "port": endpoint["Port"],
                "endpoint": f"{endpoint['Address']}:{endpoint['Port']}"}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        group = describe_group(ctx, resource.id)
        if group is None:
            return
        if resource.status == "intent" and not _tagged_ours(ctx, group):
            return  # our create call never answered, and this group is not ours
        if group["Status"] != "deleting":
            # Refused while creating/modifying/snapshotting (InvalidReplicationGroupState): wait
            # for a deletable state, and try again while it still refuses, until the deadline.
            client = ctx.client("elasticache")

            def status():
                return (describe_group(ctx, resource.id) or {}).get("Status")

            def send():
                return ctx.call(client.delete_replication_group, ReplicationGroupId=resource.id)

            ctx.wait(f"replication group {resource.id} to be deletable",
                     delete_when_allowed(status, send, "InvalidReplicationGroupState", "ReplicationGroupNotFoundFault"),
                     "elasticache.create")
        ctx.wait(f"replication group {resource.id} deletion", _check(ctx, "replication_group_deleted", resource.id),
                 "elasticache.delete")


def _check(ctx, waiter: str, group_id: str):
    from ..waiting import waiter_check

    return waiter_check(ctx.aws, ctx.client("elasticache"), waiter, lambda r: r["ReplicationGroups"][0]["Status"],
                        ReplicationGroupId=group_id)

