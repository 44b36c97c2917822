"""ElastiCache replication group: one node, no replicas, Redis OSS or Valkey.

What the console creates for a "Redis OSS" or "Valkey" cache with cluster mode off and no
replicas: a replication group with NumCacheClusters=1 (its one member cluster is the
primary). Valkey exists only as replication groups (or serverless), not as a bare cache
cluster, which is why this type exists beside elasticache.cluster. Deleted without a final
snapshot; the endpoint is NodeGroups[0].PrimaryEndpoint.

With `transit_encryption: true` the group speaks TLS only; `auth_token` then names where its
AUTH token comes from (auth_token.py: generate, env:NAME or ssm:/name, never the token
itself). AWS offers in-transit encryption for Redis/Valkey only on replication groups, and
only in a subnet group the call names (`subnet_group`, made by an elasticache.subnet_group
step): a playbook without one is refused when loaded.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..model import Change, Found, Resource, ResourceKind, Switch
from ..permissions import ANY, REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn, merged
from ..shared_describe import SharedDescribe, shared_describe
from . import auth_token
from .base import Output, Param, StepType, register
from .elasticache import (
    CACHE_HINTS,
    EC2_DESCRIBE,
    NODE_PARAMS,
    NODE_TYPE,
    SUBNET_GROUP_VPC,
    _tagged_ours,
    cache_answers,
    cache_retag,
    check_cluster_id,
    default_groups,
    delete_cache,
    describe_cluster,
    find_caches,
    node_policy_names,
    node_request,
    vanished,
)
from .node_types import check_node_type_offered

GROUP = "replication-group"


def _find_groups(aws) -> List[Found]:
    return find_caches(aws, GROUP, "describe_replication_groups", "ReplicationGroups", "ReplicationGroupId", "Status")


GROUP_KIND = ResourceKind(
    GROUP,
    creation_order=32,
    find=_find_groups,
    live_state=lambda aws, group_id: aws.call(
        aws.client("elasticache").describe_replication_groups, ReplicationGroupId=group_id
    )["ReplicationGroups"][0]["Status"],
    not_found=("ReplicationGroupNotFoundFault",),
    price=("elasticache", "node_type"),
    actions=("elasticache:DescribeReplicationGroups",),
    switch=Switch(
        "elasticache",
        "deleteReplicationGroup",
        lambda group_id: {"ReplicationGroupId": group_id},
        arn("elasticache", "replicationgroup:*"),
    ),
    retag=cache_retag(
        arn("elasticache", "replicationgroup:*"),
        "describe_replication_groups",
        "ReplicationGroupId",
        "ReplicationGroups",
    ),
)
# what creating a group names: the group and its member cluster(s), <group id>-001
GROUP_AND_MEMBERS = [arn("elasticache", "replicationgroup:{group_id}"), arn("elasticache", "cluster:{group_id}-*")]


def check_group_id(value: str) -> Optional[str]:
    problem = check_cluster_id(value)
    return problem.replace("cluster id", "replication group id") if problem else None


def describe_group(ctx, group_id: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("elasticache")
    try:
        found = ctx.call(client.describe_replication_groups, ReplicationGroupId=group_id)
    except client.exceptions.ReplicationGroupNotFoundFault:
        return None
    return found["ReplicationGroups"][0]


def groups(aws) -> SharedDescribe:
    """Every wait on a replication group in this run shares its DescribeReplicationGroups calls."""
    return shared_describe(
        aws,
        GROUP,
        lambda aws, ids: cache_answers(
            aws,
            ids,
            "describe_replication_groups",
            "ReplicationGroups",
            "ReplicationGroupId",
            "ReplicationGroupNotFoundFault",
        ),
    )


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
    summary = (
        "An ElastiCache replication group (Redis OSS or Valkey) with one node and no replicas, "
        "cluster mode off; deleted without a final snapshot."
    )
    params = [
        Param(
            "group_id",
            required=True,
            check=check_group_id,
            doc="replication group name: 1-40 lowercase letters, digits, hyphens",
        ),
        Param("description", default="ops lab cache", doc="the group's description"),
        *NODE_PARAMS,
        Param(
            "transit_encryption",
            type="boolean",
            default=False,
            doc="in-transit encryption: the endpoint speaks TLS only (clients use rediss://)",
        ),
        Param(
            "auth_token",
            default=None,
            check=auth_token.check_source,
            secret=True,
            doc="where the AUTH token comes from, never the token: generate, env:NAME or ssm:/parameter/name "
            "(needs transit_encryption)",
        ),
    ]
    outputs = {
        "group_id": Output("the replication group id", early=True),
        "cluster_id": Output("its one member cluster (the primary)", early=True),
        "security_group_id": Output("the group's (first) security group", early=True),
        "endpoint": Output("host:port of the primary endpoint"),
        "address": Output("host name of the primary endpoint"),
        "port": Output("port of the primary endpoint"),
        "tls": Output("whether clients must use TLS", early=True),
        "auth_token_parameter": Output(
            'the SSM SecureString holding the AUTH token (its name; "" when none)', early=True
        ),
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
    engine: valkey
    node_type: cache.t3.micro
    subnet_group: ${{ steps.subnets.outputs.name }}
    transit_encryption: true
    auth_token: generate
"""
    default_timeout = 2400.0
    kinds = (auth_token.PARAMETER_KIND, GROUP_KIND)
    hints = CACHE_HINTS

    @classmethod
    def preflight(cls, playbook, step, account, dry_run: bool) -> None:
        check_node_type_offered(playbook, step, account, dry_run)
        auth_token.check_source_readable(playbook, step, account)

    permissions = [
        Grant(["elasticache:CreateReplicationGroup"], GROUP_AND_MEMBERS, merged(REQUEST_TAGGED, NODE_TYPE)),
        Grant(["elasticache:AddTagsToResource"], GROUP_AND_MEMBERS, REQUEST_TAGGED),
        default_groups("elasticache:CreateReplicationGroup"),
        Grant(
            ["elasticache:DescribeReplicationGroups", "elasticache:ListTagsForResource"],
            [arn("elasticache", "replicationgroup:{group_id}")],
        ),
        Grant(["elasticache:DescribeCacheClusters"], [arn("elasticache", "cluster:{group_id}-*")]),
        # many labs' waits share one listing of the account's groups (groups(), above)
        Grant(["elasticache:DescribeReplicationGroups"], [arn("elasticache", "replicationgroup:*")]),
        Grant(
            ["elasticache:DeleteReplicationGroup"], [arn("elasticache", "replicationgroup:{group_id}")], RESOURCE_TAGGED
        ),
        SUBNET_GROUP_VPC,
        Grant(["ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"], why=EC2_DESCRIBE),
        # the AUTH token's SecureString: made, read and deleted (ops's own), or only read (the user's)
        Grant(
            ["ssm:PutParameter", "ssm:AddTagsToResource"],
            [arn("ssm", "parameter/{own_token_parameter_path}")],
            REQUEST_TAGGED,
        ),
        Grant(["ssm:GetParameter", "ssm:ListTagsForResource"], [arn("ssm", "parameter/{auth_token_parameter_path}")]),
        Grant(["ssm:DeleteParameter"], [arn("ssm", "parameter/{own_token_parameter_path}")], RESOURCE_TAGGED),
        Grant(["ssm:DescribeParameters"], why="SSM defines no resource type for listing parameters (ops sweep)"),
    ]

    @classmethod
    def policy_names(cls, names, lab, step):
        source = names.get("auth_token")
        if source is None:
            return {"auth_token_parameter": None, "own_token_parameter": None, **node_policy_names(names)}
        kind, name = auth_token.parse_source(source) if source != ANY else ("generate", "")
        own = None if kind == "ssm" else auth_token.parameter_name(f"{lab}*", ANY, step)
        return {
            "auth_token_parameter": name if kind == "ssm" else own,
            "own_token_parameter": own,
            **node_policy_names(names),
        }

    @classmethod
    def check_args(cls, args):
        if args.get("auth_token") is not None and args.get("transit_encryption") is False:
            return (
                "auth_token",
                "an AUTH token needs in-transit encryption (AWS refuses it without)",
                "Add 'transit_encryption: true' to the step.",
            )
        if args.get("transit_encryption") is True and args.get("subnet_group") is None:
            return (
                "transit_encryption",
                "AWS creates an encrypted replication group only in a subnet group the call names "
                '("If you enable in-transit encryption, you must also specify a value for CacheSubnetGroup.")',
                "Add a step of type elasticache.subnet_group before this one and give this step "
                "'subnet_group: ${{ steps.<that step's name>.outputs.name }}' (playbooks/lab-secure.yaml does).",
            )
        return None

    def preview(self) -> List[Change]:
        group_id, node_type = self.args["group_id"], self.args["node_type"]
        if describe_group(self.ctx, group_id) is not None:
            return [Change("adopt", f"replication group {group_id} (exists; used, never deleted)")]
        changes = []
        placement = f", in subnet group {self.args['subnet_group']}" if self.args["subnet_group"] else ""
        security = ", in-transit encryption (TLS)" if self.args["transit_encryption"] else ""
        source = self.args["auth_token"]
        if source:
            kind, name = auth_token.parse_source(source)
            if kind == "ssm":
                security += f", AUTH token from SSM parameter {name} (used, never deleted)"
            else:
                run_id = self.ctx.state.run_id if self.ctx.state is not None else "<run id>"
                name = auth_token.parameter_name(self.ctx.lab, run_id, self.step_name)
                origin = "a generated AUTH token" if kind == "generate" else f"the AUTH token from ${name}"
                changes.append(Change("create", f"SSM SecureString {name} holding {origin}"))
                security += f", AUTH token from {name}"
        changes.append(
            Change(
                "create",
                f"replication group {group_id}: {self.args['engine']}, 1 x {node_type}, "
                f"no replicas, cluster mode off{placement}{security}",
                "elasticache",
                node_type,
            )
        )
        return changes

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        client = ctx.client("elasticache")
        group_id = args["group_id"]
        existing = describe_group(ctx, group_id)
        parameter = ""
        if existing is None:
            request = node_request(ctx, args)
            groups = request["SecurityGroupIds"]
            token, parameter = auth_token.token_for(ctx, args["auth_token"]) if args["auth_token"] else (None, "")
            resource = ctx.find_recorded(GROUP) or ctx.intend(GROUP, group_id)
            request.update(
                ReplicationGroupId=group_id,
                ReplicationGroupDescription=args["description"],
                NumCacheClusters=1,
                AutomaticFailoverEnabled=False,
            )
            if args["transit_encryption"]:
                request["TransitEncryptionEnabled"] = True
            if token is not None:
                request["AuthToken"] = token
            try:
                created = ctx.call(client.create_replication_group, **request)["ReplicationGroup"]
            except client.exceptions.ReplicationGroupAlreadyExistsFault:
                # a re-sent create whose first answer was lost (or another's group of that name,
                # made since we looked): look at it as at one found before creating
                existing = describe_group(ctx, group_id)
                if existing is None:
                    raise
            else:
                members = created.get("MemberClusters") or [f"{group_id}-001"]
                ctx.created(resource, security_group_ids=groups, node_type=args["node_type"], engine=args["engine"])
                return {
                    "group_id": group_id,
                    "cluster_id": members[0],
                    "security_group_id": groups[0],
                    "tls": bool(args["transit_encryption"]),
                    "auth_token_parameter": parameter,
                }
        groups = group_security_groups(ctx, existing)
        members = existing.get("MemberClusters") or [""]
        made_with, parameter = parameter, ""  # the parameter our create call was made with, if it was
        if _tagged_ours(ctx, existing):
            if args["auth_token"]:  # resumed: the token it was made with
                parameter = made_with or auth_token.token_for(ctx, args["auth_token"])[1]
            recorded = ctx.find_recorded(GROUP) or ctx.intend(GROUP, group_id)
            ctx.created(recorded, verb="resumed", security_group_ids=groups, node_type=existing.get("CacheNodeType"))
        else:
            ctx.adopted(GROUP, group_id, security_group_ids=groups)
            kind, name = auth_token.parse_source(args["auth_token"]) if args["auth_token"] else ("", "")
            if kind == "ssm":  # the user's parameter: the host reads the token from it
                parameter = name
        return {
            "group_id": group_id,
            "cluster_id": members[0],
            "security_group_id": groups[0] if groups else "",
            "tls": bool(existing.get("TransitEncryptionEnabled")),
            "auth_token_parameter": parameter,
        }

    def wait(self) -> Dict[str, Any]:
        ctx = self.ctx
        group_id = self.args["group_id"]
        shared = groups(ctx.aws)
        with shared.watching(group_id):
            ctx.wait(
                f"replication group {group_id}",
                _check(ctx, "replication_group_available", group_id, shared),
                "elasticache.create",
                size=f"{self.args['node_type']} {self.args['engine']} replication group",
            )
            try:  # the answer the wait ended on (with the primary endpoint), not another call
                group = shared.answer(group_id)["ReplicationGroups"][0]
            except ctx.client("elasticache").exceptions.ReplicationGroupNotFoundFault:
                raise vanished(ctx.step, f"replication group {group_id}") from None
        endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
        return {
            "address": endpoint["Address"],
            "port": endpoint["Port"],
            "endpoint": f"{endpoint['Address']}:{endpoint['Port']}",
        }

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        if resource.kind == auth_token.PARAMETER:  # recorded before the group: deleted after it
            if resource.ours:
                auth_token.delete_parameter(ctx, resource.id)
            return
        client = ctx.client("elasticache")
        delete_cache(
            ctx,
            resource,
            f"replication group {resource.id}",
            groups(ctx.aws),
            "ReplicationGroups",
            "Status",
            lambda: ctx.call(client.delete_replication_group, ReplicationGroupId=resource.id),
            client.exceptions.InvalidReplicationGroupStateFault,
            client.exceptions.ReplicationGroupNotFoundFault,
            _check(ctx, "replication_group_deleted", resource.id, groups(ctx.aws)),
        )


def _check(ctx, waiter: str, group_id: str, shared: SharedDescribe):
    from ..waiting import waiter_check

    return waiter_check(
        ctx.aws,
        ctx.client("elasticache"),
        waiter,
        lambda r: r["ReplicationGroups"][0]["Status"],
        # botocore's ReplicationGroupAvailable waiter never gives up on create-failed
        failed=("create-failed",),
        answer=lambda: shared.answer(group_id),
    )
