"""`ops status`: every lab recorded here, what of it exists now, and what it is costing."""
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .aws import error_code
from .durations import format_duration
from .pricing import Prices
from .state import RunState, state_dir
from .steps.base import Resource

BILLABLE = {"cache-cluster": ("elasticache", "node_type"), "cloud9-environment": ("ec2", "instance_type")}


def _parse_time(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


@dataclass
class Row:
    resource: Resource
    live: str
    age: Optional[float]
    hourly: Optional[float]

    @property
    def cost(self) -> Optional[float]:
        return None if self.hourly is None or self.age is None else self.hourly * self.age / 3600


@dataclass
class LabStatus:
    lab: str
    run_id: str
    region: str
    expires: Optional[float]
    rows: List[Row] = field(default_factory=list)

    @property
    def expired(self) -> bool:
        return self.expires is not None and time.time() > self.expires and bool(self.rows)

    @property
    def hourly(self) -> float:
        return sum(r.hourly or 0 for r in self.rows)

    @property
    def cost(self) -> float:
        return sum(r.cost or 0 for r in self.rows)


def _live_state(aws, resource: Resource) -> str:
    """What AWS says of a recorded resource now ('gone' when it no longer exists)."""
    kind = resource.kind.split(":")[0]
    finders: Dict[str, Callable[[], str]] = {
        "cache-cluster": lambda: aws.call(aws.client("elasticache").describe_cache_clusters,
                                          CacheClusterId=resource.id)["CacheClusters"][0]["CacheClusterStatus"],
        "cloud9-environment": lambda: aws.call(aws.client("cloud9").describe_environment_status,
                                               environmentId=resource.id)["status"],
        "dynamodb-table": lambda: aws.call(aws.client("dynamodb").describe_table,
                                           TableName=resource.id)["Table"]["TableStatus"],
        "iam-role": lambda: aws.call(aws.client("iam").get_role, RoleName=resource.id) and "exists",
        "instance-profile": lambda: aws.call(aws.client("iam").get_instance_profile,
                                             InstanceProfileName=resource.id) and "exists",
    }
    if kind not in finders:
        return "recorded"
    try:
        return finders[kind]()
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ("CacheClusterNotFound", "NotFoundException", "ResourceNotFoundException",
                               "NoSuchEntity"):
            return "gone"
        raise


def lab_status(state: RunState, aws, prices: Prices, now: Optional[float] = None) -> LabStatus:
    now = now or time.time()
    status = LabStatus(state.data["lab"], state.run_id, state.region, state.data.get("expires_at"))
    rows = state.data["resources"]
    for resource, row in zip(state.resources(), rows):
        if resource.status not in ("created", "adopted", "intent"):
            continue
        live = _live_state(aws, resource) if aws else "unknown"
        created = _parse_time(row.get("recorded_at"))
        billable = BILLABLE.get(resource.kind)
        hourly = None
        if billable and resource.ours and live != "gone":
            service, attr = billable
            hourly = prices.hourly(state.region, service, resource.attrs.get(attr, ""))
        status.rows.append(Row(resource, live, None if created is None else now - created, hourly))
    return status


def all_states(root: Path, dry_run: bool) -> List[RunState]:
    """Every lab record in this folder (not the temporary files of an interrupted write)."""
    folder = state_dir(root, dry_run)
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    return [RunState.load(p) for p in paths]


def lines(statuses: List[LabStatus], prices: Prices) -> List[str]:
    if not statuses:
        return ["ops: no labs recorded here."]
    out = []
    every = [row.resource for lab in statuses for row in lab.rows]
    kind_width = max([len(r.kind) for r in every] + [4])
    id_width = max([len(r.id) for r in every] + [2])
    for lab in statuses:
        flag = "  EXPIRED: ops sweep --expired removes it" if lab.expired else ""
        expiry = f", expires {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(lab.expires))}" if lab.expires else ""
        out.append(f"{lab.lab}  run {lab.run_id}  {lab.region}{expiry}{flag}")
        if not lab.rows:
            out.append("  (nothing recorded as existing)")
        for row in lab.rows:
            price = f"${row.hourly:.4f}/h  ${row.cost:.4f} so far" if row.hourly is not None else ""
            owner = "" if row.resource.ours else "  (not created by ops)"
            age = format_duration(row.age) if row.age is not None else "?"
            out.append(f"  {row.resource.kind:<{kind_width}} {row.resource.id:<{id_width}} {row.live:<10} {age:>9}  "
                       f"{price}{owner}".rstrip())
    hourly = sum(s.hourly for s in statuses)
    cost = sum(s.cost for s in statuses)
    out.append(f"total: ${hourly:.4f}/hour now, about ${cost:.4f} so far (prices taken {prices.taken})")
    return out
