"""An ElastiCache fake (moto's has no lifecycle and no endpoint): Redis cache clusters and
single-node replication groups, each served, once available, by a real loopback Redis.

What it reproduces, and where the behaviour comes from:

- Identifiers: 1-40 letters, digits or hyphens, starting with a letter, no trailing hyphen
  or `--`, stored lowercase; AWS's message for a bad one is "The parameter
  CacheClusterIdentifier is not a valid identifier. Identifiers must begin with a letter;
  must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or
  contain two consecutive hyphens." (seen in the wild). botocore's documentation says 50
  for CacheClusterId, but that paragraph is copied from the node-group id ("The node group
  (shard) identifier"); the user guide and replication groups say 40.
- Engine: CreateCacheCluster takes redis (and memcached, not simulated); valkey only comes
  through CreateReplicationGroup (or serverless): the API documents "memcached | redis"
  and Terraform removed valkey from aws_elasticache_cluster for that reason.
- Node types: the current-generation list from botocore's documentation. Previous
  generation types (T2 included) exist but "creation of new clusters is not supported";
  CloudFormation users see "Invalid Cache Node Type: cache.t2.medium". Both unknown and
  previous-generation types get InvalidParameterValue with that text.
- NumCacheNodes must be 1 for Redis. SecurityGroupIds must exist in EC2 (moto); without
  them the cluster gets the default VPC's default group.
- Lifecycle: creating for `elasticache.create`, then available with
  CacheNodes[0].Endpoint = {Address: 127.0.0.1, Port}; deleting for `elasticache.delete`,
  then CacheClusterNotFound ("CacheCluster not found: <id>"). The local Redis stops when
  deletion starts. A deleted cluster's network interfaces stay in its VPC `ec2.eni_linger`
  seconds more, holding its security groups: deleting one of them meanwhile is refused
  (DependencyViolation, ec2.py), as AWS users meet it (a typical observation).
- DeleteCacheCluster outside available: InvalidCacheClusterState, "Can only delete cache
  clusters with state in: available, failed, incompatible-parameters, incompatible-network,
  restore-failed, recovering. Cluster <id> has state: creating." (Terraform's changelog
  quotes it). On a replication group's member: "Cannot delete the cache cluster since it
  is the only member of a replication group. Delete the replication group instead."
- DeleteReplicationGroup outside available: "Replication group <id> has status creating
  which is not valid for deletion." (boto3 issue #1277).
- While creating, a cluster's node is listed without an Endpoint and a replication group's
  node group without a PrimaryEndpoint (whether AWS lists them at all then is unverified).
- The endpoint is a loopback gate in front of the local Redis (network.py, endpoints.py): SSM
  commands reach it only if the cluster's security groups admit their instance on the
  cluster's Port (6379 unless given), as on AWS. The reported Port is the gate's, not
  6379: connect to the reported Port.
- In-transit encryption and AUTH (replication groups only, as on AWS for Redis/Valkey):
  TransitEncryptionEnabled=true makes the endpoint speak TLS only (certificate from the
  world's own CA, `world.ca_file`); AuthToken makes it require `AUTH <token>` (or HELLO
  ... AUTH), answering -NOAUTH / -WRONGPASS like Redis. AuthToken without TLS:
  InvalidParameterValue "The AUTH token is only supported when encryption-in-transit is
  enabled" (the CLI's text, aws-cli#5007), on CreateCacheCluster too. A token that is not
  16-128 printable ASCII characters from letters, digits and ! & # $ ^ < > - (the API
  reference's rules): InvalidParameterValue "Invalid AuthToken provided." (the text
  Terraform users quote; it never echoes the token). Describe output reports
  TransitEncryptionEnabled, TransitEncryptionMode and AuthTokenEnabled on the group and its
  member cluster. TransitEncryptionEnabled on CreateCacheCluster with redis is refused
  (InvalidParameterCombination; AWS documents it for memcached only; the text is ops's).
- Listings (DescribeCacheClusters / DescribeReplicationGroups without an id) come in pages
  of MaxRecords, 20 to 100 as the API reference says (100 by default), with a Marker to the
  next; out of range: InvalidParameterValue "Invalid value 5 for MaxRecords. Must be between
  20 and 100" (the text is RDS's for the same rule, assumed). The Marker is opaque on AWS;
  here it is the id the page ended on, so creations and deletions between pages shift nothing.
- Cache subnet groups (cache_subnet_groups.py): a cache is placed in the VPC of the group
  CacheSubnetGroupName names (`default` without one), and its cluster's description names the
  group. CreateReplicationGroup with TransitEncryptionEnabled and no CacheSubnetGroupName:
  InvalidParameterCombination quoting the model's rule ("If you enable in-transit encryption,
  you must also specify a value for CacheSubnetGroup."; the text around it is ops's).
- Not simulated: memcached, modify/snapshot operations (a FinalSnapshotIdentifier is
  recorded, nothing more), ModifyCacheSubnetGroup, multi-node groups.
"""

import re
from typing import Any, Dict, Optional

from ..authtoken import valid_auth_token
from ..instance_types import CREATABLE
from .base import ACCOUNT_ID, Backend, tag_dict_to_list, tag_list_to_dict
from .cache_subnet_groups import CacheSubnetGroups
from .elasticache_rules import (
    ElastiCacheError,
    InvalidARN,
    InvalidParameterCombination,
    InvalidParameterValue,
    TagNotFound,
    check_tag_count,
    page,
    valid_id,
)

DELETABLE = ("available", "failed", "incompatible-parameters", "incompatible-network", "restore-failed", "recovering")
ENGINE_VERSIONS = {"redis": "7.1.0", "valkey": "8.0.1"}


class CacheClusterNotFound(ElastiCacheError):
    code, status = "CacheClusterNotFound", 404

    def __init__(self, cluster_id):
        super().__init__(f"CacheCluster not found: {cluster_id}")


class CacheClusterAlreadyExists(ElastiCacheError):
    code = "CacheClusterAlreadyExists"

    def __init__(self, cluster_id):
        super().__init__(f"Cache cluster {cluster_id} already exists.")


class InvalidCacheClusterState(ElastiCacheError):
    code = "InvalidCacheClusterState"


class ReplicationGroupNotFound(ElastiCacheError):
    code, status = "ReplicationGroupNotFoundFault", 404

    def __init__(self, group_id):
        super().__init__(f"Replication group {group_id} not found.")


class ReplicationGroupAlreadyExists(ElastiCacheError):
    code = "ReplicationGroupAlreadyExists"

    def __init__(self, group_id):
        super().__init__(f"Replication group {group_id} already exists.")


class InvalidReplicationGroupState(ElastiCacheError):
    code = "InvalidReplicationGroupState"


class ElastiCacheBackend(CacheSubnetGroups, Backend):
    service = "elasticache"
    answers_alone = True
    operations = (
        "CreateCacheCluster",
        "DescribeCacheClusters",
        "DeleteCacheCluster",
        "CreateReplicationGroup",
        "DescribeReplicationGroups",
        "DeleteReplicationGroup",
        "CreateCacheSubnetGroup",
        "DescribeCacheSubnetGroups",
        "DeleteCacheSubnetGroup",
        "ListTagsForResource",
        "AddTagsToResource",
        "RemoveTagsFromResource",
    )

    # State is looked up on each use: a persistent store reloads it in place (see persist.py).

    @property
    def clusters(self):
        return self.world.store.section("elasticache").setdefault("clusters", {})

    @property
    def groups(self):
        return self.world.store.section("elasticache").setdefault("replication_groups", {})

    @property
    def snapshots(self):
        return self.world.store.section("elasticache").setdefault("final_snapshots", {})

    @property
    def lingering(self):
        """cluster id -> {security_group_ids, until}: the network interfaces of a deleted cluster"""
        return self.world.store.section("elasticache").setdefault("lingering_interfaces", {})

    # lifecycle

    def _duration(self, resource, phase: str) -> float:
        in_group = "member" in resource or resource.get("replication_group_id")
        kind = "elasticache.replication_group" if in_group else "elasticache"
        return self.world.durations[f"{kind}.{phase}"]

    def _stuck(self, resource_id: str) -> bool:
        return self.world.injector is not None and self.world.injector.is_stuck(resource_id)

    def _fails(self, group_id: Optional[str]) -> bool:
        """A replication group whose creation the fault plan makes fail (create-failed)."""
        injector = self.world.injector
        return group_id is not None and injector is not None and injector.creation_fails(group_id)

    def settle(self) -> None:
        now = self.now()
        for group in list(self.groups.values()):
            self._advance(group, now, group["id"], fails=self._fails(group["id"]))
            if group["status"] == "gone":
                del self.groups[group["id"]]
        for cluster in list(self.clusters.values()):
            group = cluster["replication_group_id"]
            self._advance(cluster, now, group or cluster["id"], fails=self._fails(group))
            if cluster["status"] == "available":
                self.world.endpoints.ensure(cluster)
            if cluster["status"] == "gone":
                gone_at = cluster["delete_started_at"] + self._duration(cluster, "delete")
                self.lingering[cluster["id"]] = {
                    "security_group_ids": cluster["security_group_ids"],
                    "until": gone_at + self.world.durations["ec2.eni_linger"],
                }
                del self.clusters[cluster["id"]]

    def _advance(self, resource, now, stuck_key, fails: bool = False) -> None:
        if (
            resource["status"] == "creating"
            and not self._stuck(stuck_key)
            and now >= resource["created_at"] + self._duration(resource, "create")
        ):
            resource["status"] = "create-failed" if fails else "available"
        elif resource["status"] == "deleting" and now >= resource["delete_started_at"] + self._duration(
            resource, "delete"
        ):
            resource["status"] = "gone"

    def close(self) -> None:
        self.world.endpoints.close()

    def clusters_using(self, group_id: str):
        """The clusters whose network interfaces hold this security group, deleted ones too."""
        now = self.now()
        for cluster_id, interfaces in list(self.lingering.items()):
            if now >= interfaces["until"]:
                del self.lingering[cluster_id]
        return [c["id"] for c in self.clusters.values() if group_id in c["security_group_ids"]] + [
            f"{cluster_id} (deleted; its network interfaces linger)"
            for cluster_id, interfaces in self.lingering.items()
            if group_id in interfaces["security_group_ids"]
        ]

    # cache clusters

    def create_cache_cluster(self, params):
        cluster_id = valid_id(params["CacheClusterId"], "CacheClusterIdentifier")
        if params.get("ReplicationGroupId"):
            raise InvalidParameterValue("ops sim: adding read replicas to a replication group is not simulated")
        engine = params.get("Engine")
        if engine is None:
            raise InvalidParameterValue("The parameter Engine must be provided.")
        if engine == "valkey":
            raise InvalidParameterValue(
                "Engine valkey is not supported by CreateCacheCluster; use CreateReplicationGroup."
            )
        if engine == "memcached":
            raise InvalidParameterValue("ops sim: memcached clusters are not simulated")
        if engine != "redis":
            raise InvalidParameterValue(f"Invalid engine: {engine}")
        if params.get("TransitEncryptionEnabled"):
            raise InvalidParameterCombination(
                "ops sim: TransitEncryptionEnabled on CreateCacheCluster is for memcached; "
                "for redis or valkey use CreateReplicationGroup."
            )
        if params.get("AuthToken") is not None:
            raise InvalidParameterValue(NO_TLS_FOR_TOKEN)
        if params.get("NumCacheNodes", 1) != 1:
            raise InvalidParameterValue("Cannot create a Redis cluster with a NumCacheNodes parameter greater than 1.")
        node_type = self._node_type(params.get("CacheNodeType"))
        network = self._network(params)
        if cluster_id in self.clusters:
            raise CacheClusterAlreadyExists(cluster_id)
        cluster = self._new_cluster(
            cluster_id,
            engine,
            params.get("EngineVersion"),
            node_type,
            network,
            check_tag_count(tag_list_to_dict(params.get("Tags"))),
            None,
            params.get("Port", 6379),
        )
        return {"CacheCluster": self._cluster_view(cluster, show_nodes=False)}

    def describe_cache_clusters(self, params):
        if params.get("CacheClusterId"):
            clusters = [self._cluster(params["CacheClusterId"])]
        else:
            clusters = list(self.clusters.values())
            if params.get("ShowCacheClustersNotInReplicationGroups"):
                clusters = [c for c in clusters if not c["replication_group_id"]]
        listed, marker = page(clusters, params)
        result = {"CacheClusters": [self._cluster_view(c, params.get("ShowCacheNodeInfo", False)) for c in listed]}
        if marker:
            result["Marker"] = marker
        return result

    def delete_cache_cluster(self, params):
        cluster = self._cluster(params["CacheClusterId"])
        if cluster["replication_group_id"]:
            raise InvalidCacheClusterState(
                "Cannot delete the cache cluster since it is the only member of a "
                "replication group. Delete the replication group instead."
            )
        state = cluster["status"]
        if (
            state == "available"
            and self.world.injector
            and self.world.injector.take_first_delete_failure(cluster["id"])
        ):
            state = "snapshotting"  # an automatic backup happened to be running
        if state not in DELETABLE:
            raise InvalidCacheClusterState(
                f"Can only delete cache clusters with state in: {', '.join(DELETABLE)}. "
                f"Cluster {cluster['id']} has state: {state}."
            )
        snapshot = params.get("FinalSnapshotIdentifier")
        if snapshot:
            self.snapshots[snapshot] = {"cluster": cluster["id"], "created_at": self.now()}
        self._begin_delete(cluster)
        return {"CacheCluster": self._cluster_view(cluster, show_nodes=False)}

    # replication groups

    def create_replication_group(self, params):
        group_id = valid_id(params["ReplicationGroupId"], "ReplicationGroupId")
        engine = params.get("Engine", "redis")
        if engine not in ("redis", "valkey"):
            raise InvalidParameterValue(f"Invalid engine: {engine}. The value must be set to valkey or redis.")
        if (
            params.get("NumCacheClusters", 1) != 1
            or params.get("ReplicasPerNodeGroup", 0) != 0
            or params.get("NumNodeGroups", 1) != 1
            or params.get("AutomaticFailoverEnabled")
            or params.get("PrimaryClusterId")
        ):
            raise InvalidParameterValue(
                "ops sim: only single-node replication groups (one node, no replicas) are simulated"
            )
        tls = bool(params.get("TransitEncryptionEnabled"))
        if tls and not params.get("CacheSubnetGroupName"):
            raise InvalidParameterCombination(
                "TransitEncryptionEnabled needs a CacheSubnetGroupName. If you enable in-transit encryption, "
                "you must also specify a value for CacheSubnetGroup."
            )
        token = params.get("AuthToken")
        if token is not None:
            if not tls:
                raise InvalidParameterValue(NO_TLS_FOR_TOKEN)
            if not valid_auth_token(token):
                raise InvalidParameterValue("Invalid AuthToken provided.")
        node_type = self._node_type(params.get("CacheNodeType"))
        network = self._network(params)
        if group_id in self.groups:
            raise ReplicationGroupAlreadyExists(group_id)
        member_id = f"{group_id}-001"
        if member_id in self.clusters:
            raise CacheClusterAlreadyExists(member_id)
        tags = check_tag_count(tag_list_to_dict(params.get("Tags")))
        self.groups[group_id] = {
            "id": group_id,
            "description": params["ReplicationGroupDescription"],
            "engine": engine,
            "node_type": node_type,
            "member": member_id,
            "tags": tags,
            "status": "creating",
            "created_at": self.now(),
            "delete_started_at": None,
            "transit_encryption": tls,
            "auth_token_enabled": token is not None,
            "arn": f"arn:aws:elasticache:{self.world.region}:{ACCOUNT_ID}:replicationgroup:{group_id}",
        }
        member = self._new_cluster(
            member_id, engine, params.get("EngineVersion"), node_type, network, tags, group_id, params.get("Port", 6379)
        )
        member["transit_encryption"] = tls
        if token is not None:
            member["auth_token"] = token  # the account's own secret, as AWS keeps it
        return {"ReplicationGroup": self._group_view(self.groups[group_id])}

    def describe_replication_groups(self, params):
        if params.get("ReplicationGroupId"):
            groups = [self._group(params["ReplicationGroupId"])]
        else:
            groups = list(self.groups.values())
        listed, marker = page(groups, params)
        result = {"ReplicationGroups": [self._group_view(g) for g in listed]}
        if marker:
            result["Marker"] = marker
        return result

    def delete_replication_group(self, params):
        group = self._group(params["ReplicationGroupId"])
        if params.get("RetainPrimaryCluster"):
            raise InvalidParameterCombination("ops sim: RetainPrimaryCluster is not simulated")
        if group["status"] not in ("available", "create-failed"):  # a failed one is deleted to clean up
            raise InvalidReplicationGroupState(
                f"Replication group {group['id']} has status {group['status']} which is not valid for deletion."
            )
        if params.get("FinalSnapshotIdentifier"):
            self.snapshots[params["FinalSnapshotIdentifier"]] = {
                "replication_group": group["id"],
                "created_at": self.now(),
            }
        group.update(status="deleting", delete_started_at=self.now())
        self._begin_delete(self.clusters[group["member"]])
        return {"ReplicationGroup": self._group_view(group)}

    # tags

    def list_tags_for_resource(self, params):
        return {"TagList": tag_dict_to_list(self._by_arn(params["ResourceName"])["tags"])}

    def add_tags_to_resource(self, params):
        resource = self._by_arn(params["ResourceName"])
        resource["tags"] = check_tag_count({**resource["tags"], **tag_list_to_dict(params["Tags"])})
        return {"TagList": tag_dict_to_list(resource["tags"])}

    def remove_tags_from_resource(self, params):
        resource = self._by_arn(params["ResourceName"])
        for key in params["TagKeys"]:
            if key not in resource["tags"]:
                raise TagNotFound(f"Tag with key {key} not found.")
            del resource["tags"][key]
        return {"TagList": tag_dict_to_list(resource["tags"])}

    # helpers

    def _cluster(self, cluster_id: str):
        cluster = self.clusters.get(cluster_id.lower())
        if cluster is None:
            raise CacheClusterNotFound(cluster_id)
        return cluster

    def _group(self, group_id: str):
        group = self.groups.get(group_id.lower())
        if group is None:
            raise ReplicationGroupNotFound(group_id)
        return group

    def _by_arn(self, arn: str):
        match = re.match(
            rf"^arn:aws:elasticache:{self.world.region}:{ACCOUNT_ID}:(cluster|replicationgroup|subnetgroup):(.+)$", arn
        )
        if not match:
            raise InvalidARN(arn)
        kind, name = match.groups()
        find = {"cluster": self._cluster, "replicationgroup": self._group, "subnetgroup": self.subnet_group}[kind]
        return find(name)

    def _node_type(self, node_type):
        if node_type is None:
            raise InvalidParameterValue("The parameter CacheNodeType must be provided.")
        if node_type not in CREATABLE:  # previous generations too: AWS no longer creates them
            raise InvalidParameterValue(f"Invalid Cache Node Type: {node_type}")
        return node_type

    def _network(self, params):
        """The security groups, subnet group, VPC and zone a new cluster lands in, as AWS would pick them."""
        if params.get("CacheSecurityGroupNames"):
            raise InvalidParameterCombination(
                "Use of cache security groups is not permitted in this API version for your account."
            )
        placement = self.placement(params.get("CacheSubnetGroupName"))
        vpc_id = placement["vpc_id"]
        ec2 = self.world.client("ec2")
        group_ids = params.get("SecurityGroupIds")
        if group_ids:
            groups = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": group_ids}])["SecurityGroups"]
            known = {g["GroupId"]: g for g in groups}
            for group_id in group_ids:
                if group_id not in known:
                    raise InvalidParameterValue(f"The security group '{group_id}' does not exist")
                if known[group_id]["VpcId"] != vpc_id:
                    raise InvalidParameterValue(
                        f"The security group '{group_id}' does not belong to VPC {vpc_id} of the cache subnet group"
                    )
        else:
            group_ids = [
                ec2.describe_security_groups(
                    Filters=[
                        {"Name": "vpc-id", "Values": [vpc_id]},
                        {"Name": "group-name", "Values": ["default"]},
                    ]
                )["SecurityGroups"][0]["GroupId"]
            ]
        return {"security_group_ids": list(group_ids), **placement}

    def _new_cluster(self, cluster_id, engine, version, node_type, network, tags, group_id, port):
        cluster = {
            "id": cluster_id,
            "engine": engine,
            "engine_version": version or ENGINE_VERSIONS[engine],
            "node_type": node_type,
            "tags": tags,
            "status": "creating",
            "created_at": self.now(),
            "delete_started_at": None,
            "endpoint": None,
            "replication_group_id": group_id,
            "port": port,
            "arn": f"arn:aws:elasticache:{self.world.region}:{ACCOUNT_ID}:cluster:{cluster_id}",
            **network,
        }
        self.clusters[cluster_id] = cluster
        return cluster

    def _begin_delete(self, cluster) -> None:
        cluster.update(status="deleting", delete_started_at=self.now())
        self.world.endpoints.stop(cluster)
        cluster["endpoint"] = None

    def _cluster_view(self, cluster, show_nodes: bool):
        view = {
            "CacheClusterId": cluster["id"],
            "ClientDownloadLandingPage": "https://console.aws.amazon.com/elasticache/home#client-download:",
            "CacheNodeType": cluster["node_type"],
            "Engine": cluster["engine"],
            "EngineVersion": cluster["engine_version"],
            "CacheClusterStatus": cluster["status"],
            "NumCacheNodes": 1,
            "PreferredAvailabilityZone": cluster["az"],
            "CacheClusterCreateTime": self.timestamp(cluster["created_at"]),
            "PreferredMaintenanceWindow": "sun:05:00-sun:06:00",
            "PendingModifiedValues": {},
            "CacheSecurityGroups": [],
            "CacheParameterGroup": {
                "CacheParameterGroupName": f"default.{cluster['engine']}7",
                "ParameterApplyStatus": "in-sync",
                "CacheNodeIdsToReboot": [],
            },
            "CacheSubnetGroupName": cluster.get("subnet_group", "default"),
            "AutoMinorVersionUpgrade": True,
            "SecurityGroups": [{"SecurityGroupId": g, "Status": "active"} for g in cluster["security_group_ids"]],
            "SnapshotRetentionLimit": 0,
            "SnapshotWindow": "03:30-04:30",
            **_encryption_view(cluster.get("transit_encryption", False), "auth_token" in cluster),
            "AtRestEncryptionEnabled": False,
            "ARN": cluster["arn"],
            "ReplicationGroupLogDeliveryEnabled": False,
            "LogDeliveryConfigurations": [],
            "NetworkType": "ipv4",
            "IpDiscovery": "ipv4",
        }
        if cluster["replication_group_id"]:
            view["ReplicationGroupId"] = cluster["replication_group_id"]
        if show_nodes:
            node = {
                "CacheNodeId": "0001",
                "CacheNodeStatus": cluster["status"],
                "CacheNodeCreateTime": self.timestamp(cluster["created_at"]),
                "ParameterGroupStatus": "in-sync",
                "CustomerAvailabilityZone": cluster["az"],
            }
            if cluster["endpoint"]:
                node["Endpoint"] = dict(cluster["endpoint"])
            view["CacheNodes"] = [node]
        return view

    def _group_view(self, group):
        member = self.clusters[group["member"]]
        node_group = {
            "NodeGroupId": "0001",
            "Status": group["status"],
            "NodeGroupMembers": [
                {
                    "CacheClusterId": member["id"],
                    "CacheNodeId": "0001",
                    "PreferredAvailabilityZone": member["az"],
                    "CurrentRole": "primary",
                }
            ],
        }
        if member["endpoint"]:
            node_group["PrimaryEndpoint"] = dict(member["endpoint"])
            node_group["ReaderEndpoint"] = dict(member["endpoint"])
            node_group["NodeGroupMembers"][0]["ReadEndpoint"] = dict(member["endpoint"])
        return {
            "ReplicationGroupId": group["id"],
            "Description": group["description"],
            "Status": group["status"],
            "PendingModifiedValues": {},
            "MemberClusters": [member["id"]],
            "NodeGroups": [node_group],
            "AutomaticFailover": "disabled",
            "MultiAZ": "disabled",
            "SnapshotRetentionLimit": 0,
            "SnapshotWindow": "03:30-04:30",
            "ClusterEnabled": False,
            "CacheNodeType": group["node_type"],
            **_encryption_view(group.get("transit_encryption", False), group.get("auth_token_enabled", False)),
            "AtRestEncryptionEnabled": False,
            "ARN": group["arn"],
            "LogDeliveryConfigurations": [],
            "ReplicationGroupCreateTime": self.timestamp(group["created_at"]),
            "DataTiering": "disabled",
            "AutoMinorVersionUpgrade": True,
            "NetworkType": "ipv4",
            "IpDiscovery": "ipv4",
            "ClusterMode": "disabled",
            "Engine": group["engine"],
        }


NO_TLS_FOR_TOKEN = "The AUTH token is only supported when encryption-in-transit is enabled"


def _encryption_view(tls: bool, auth: bool):
    view: Dict[str, Any] = {"AuthTokenEnabled": auth, "TransitEncryptionEnabled": tls}
    if tls:
        view["TransitEncryptionMode"] = "required"
    return view
