"""A kept lab's client host, found from its record: what `ops shell`, `ops exec` and `ops open` step into.

The record names the host (a Cloud9 environment or an EC2 instance) and the cache; the
account gives what the record does not keep: a Cloud9 environment's instance (by its
aws:cloud9:environment tag) and the cache's endpoint (the primary one of a replication group),
the value the lesson exports as REDIS_HOSTNAME.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

from ..engine.state import RunState
from ..errors import BadInput
from ..steps.cloud9 import ENVIRONMENT, environment_instance
from ..steps.cloud9_members import shared_with
from ..steps.ec2_host import INSTANCE
from ..steps.elasticache import CLUSTER
from ..steps.replication_group import GROUP as REPLICATION_GROUP
from .lab import lab_states


@dataclass(frozen=True)
class LabHost:
    """One lab's client host, and the cache it is there to reach."""

    lab: str
    run_id: str
    region: str
    kind: str  # "cloud9" or "ec2"
    instance_id: Optional[str]  # None: a Cloud9 environment whose instance is gone (stopped ones stay)
    environment_id: Optional[str] = None
    redis_host: Optional[str] = None
    redis_port: Optional[int] = None
    expires: Optional[float] = None
    members: Tuple[str, ...] = ()  # whom a Cloud9 environment is shared with (ops run --member)


def live_labs(store, lab: str) -> List[RunState]:
    """The live records of a lab and its copies, or bad input naming where ops looked."""
    states = [s for s in lab_states(store, lab) if s.live()]
    if not states:
        raise BadInput(
            f"no live lab '{lab}' is recorded in {store.where()}.",
            "Keep one with 'ops run PLAYBOOK --keep' (add --dry-run to practise offline); 'ops status' lists them.",
        )
    return states


def one_lab(states: List[RunState], lab: str, command: str) -> RunState:
    """The lab a command that steps into one host acts on; copies must be named."""
    exact = [s for s in states if s.data["lab"] == lab]
    if len(exact) == 1:
        return exact[0]
    copies = ", ".join(sorted(s.data["lab"] for s in states))
    raise BadInput(
        f"'{lab}' has {len(states)} copies ({copies}): say which one.",
        f"E.g. ops {command} {sorted(s.data['lab'] for s in states)[0]}.",
    )


def host_of(aws, state: RunState, cache: bool = False) -> LabHost:
    """The client host of one lab, looked up in its account; with cache, its cache's endpoint
    too (what ops shell exports: one ElastiCache call that exec and open do without)."""
    live = {r.base_kind: r for r in state.live()}
    common = dict(lab=state.data["lab"], run_id=state.run_id, region=state.region, expires=state.data.get("expires_at"))
    host, port = _cache_endpoint(aws, live) if cache else (None, None)
    if ENVIRONMENT in live:
        env_id = live[ENVIRONMENT].id
        instance = environment_instance(aws, env_id)
        return LabHost(
            kind="cloud9",
            instance_id=instance["InstanceId"] if instance else None,
            environment_id=env_id,
            redis_host=host,
            redis_port=port,
            members=tuple(shared_with(state.live())),
            **common,
        )
    if INSTANCE in live:
        return LabHost(kind="ec2", instance_id=live[INSTANCE].id, redis_host=host, redis_port=port, **common)
    raise BadInput(
        f"lab {state.data['lab']} has no client host (a cloud9.environment or ec2.client_host step) left.",
        "Its playbook's host was torn down or never made: 'ops status' shows what it has.",
    )


def _cache_endpoint(aws, live):
    """(address, port) of the lab's cache, or (None, None) when it has none (or it is not up)."""
    elasticache = aws.client("elasticache")
    try:
        if REPLICATION_GROUP in live:
            group = aws.call(elasticache.describe_replication_groups, ReplicationGroupId=live[REPLICATION_GROUP].id)
            endpoint = (group["ReplicationGroups"][0].get("NodeGroups") or [{}])[0].get("PrimaryEndpoint")
        elif CLUSTER in live:
            cluster = aws.call(
                elasticache.describe_cache_clusters, CacheClusterId=live[CLUSTER].id, ShowCacheNodeInfo=True
            )["CacheClusters"][0]
            nodes = cluster.get("CacheNodes") or [{}]
            endpoint = nodes[0].get("Endpoint")
        else:
            return None, None
    except (elasticache.exceptions.CacheClusterNotFoundFault, elasticache.exceptions.ReplicationGroupNotFoundFault):
        return None, None
    if not endpoint:
        return None, None
    return endpoint["Address"], endpoint["Port"]


@contextmanager
def lab_hosts(
    target, lab: str, command: str, every: bool = False, cache: bool = False
) -> Iterator[Tuple[Any, List[LabHost]]]:
    """(the account, the host of LAB) or, with every, the hosts of LAB and all its copies; the
    account opened (patiently: what follows may wait on it) in the records' region unless
    --region says otherwise."""
    if target.location is None:
        states = live_labs(target.local_records(), lab)
        chosen = states if every else [one_lab(states, lab, command)]
        with target.open(target.region or chosen[0].region, patient=True) as aws:
            yield aws, [host_of(aws, state, cache) for state in chosen]
        return
    with target.open(patient=True) as aws:
        states = live_labs(target.shared_records(aws), lab)
        chosen = states if every else [one_lab(states, lab, command)]
        yield aws, [host_of(aws, state, cache) for state in chosen]
