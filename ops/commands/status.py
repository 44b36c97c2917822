"""`ops status`: every lab recorded here, what of it exists now, and what it is costing."""

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..clock import wall_time
from ..durations import format_duration
from ..engine.state import RunState
from ..model import Resource
from ..steps import resource_kinds
from .pricing import Prices

if TYPE_CHECKING:
    from ..engine.target import RunTarget


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
    locked_by: Optional[str] = None  # records in S3: who holds the lab's lock now
    now: float = field(default_factory=wall_time)  # a dry run's: the simulated account's calendar

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.now > self.expires and bool(self.rows)

    @property
    def time_left(self) -> Optional[float]:
        return None if self.expires is None else self.expires - self.now

    @property
    def switch(self) -> str:
        """Whether the dead man's switch is armed: a schedule for each billable resource."""
        from ..steps.deadman import SCHEDULE, switch_of

        if self.expires is None:
            return "no expiry: nothing deletes this lab but ops"
        billable = [r for r in self.rows if switch_of(r.resource) and r.live != "gone"]
        armed = [r for r in self.rows if r.resource.base_kind == SCHEDULE and r.live not in ("gone", "unknown")]
        if self.now >= self.expires:
            left = ", ".join(f"{r.resource.label()} ({r.live})" for r in billable)
            return f"switch ran; still there: {left}" if billable else "switch ran: nothing billable left"
        if not billable:
            return "nothing billable to guard"
        if len(armed) >= len(billable):
            return f"switch armed ({len(armed)} schedule(s) delete what bills then)"
        return f"switch NOT armed for {len(billable) - len(armed)} of {len(billable)} billable resource(s)"

    @property
    def hourly(self) -> float:
        return sum(r.hourly or 0 for r in self.rows)

    @property
    def cost(self) -> float:
        return sum(r.cost or 0 for r in self.rows)


def _live_state(aws, resource: Resource) -> str:
    """What AWS says of a recorded resource now ('gone' when it no longer exists; 'recorded'
    for a kind AWS cannot be asked about on its own, such as a policy attachment)."""
    found = resource_kinds().get(resource.base_kind)
    return found[0].state_of(aws, resource.id) if found else "recorded"


def lab_status(state: RunState, aws, prices: Prices, now: Optional[float] = None) -> LabStatus:
    now = now or (aws.clock.wall() if aws is not None and aws.dry_run else wall_time())
    status = LabStatus(state.data["lab"], state.run_id, state.region, state.data.get("expires_at"), now=now)
    rows = state.data["resources"]
    for resource, row in zip(state.resources(), rows):
        if resource.status not in ("created", "adopted", "intent"):
            continue
        live = _live_state(aws, resource) if aws else "unknown"
        created = _parse_time(row.get("recorded_at"))
        found = resource_kinds().get(resource.base_kind)
        price = found[0].price if found else None
        hourly = None
        if price and resource.ours and live != "gone":
            service, attr = price
            hourly = prices.hourly(state.region, service, resource.attrs.get(attr, ""))
        status.rows.append(Row(resource, live, None if created is None else now - created, hourly))
    return status


def all_states(store) -> List[RunState]:
    """Every lab record in a store (records.py): this folder's, or a team's S3 prefix."""
    return [state for state in (RunState.load(slot) for slot in store.slots()) if state is not None]


def team_status(target: "RunTarget") -> "StatusReport":
    """The status of every lab with live resources (or, in S3, a lock) in this folder's records
    or in the target's S3 prefix, each looked up live in its region."""
    prices = Prices.load()
    if target.location is None:
        states = [s for s in all_states(target.local_records()) if s.live()]
        statuses = []
        for state in states:
            with target.open(target.chosen_region or state.region) as aws:
                live = aws if getattr(aws, "persistent", not target.dry_run) else None
                statuses.append(lab_status(state, live, prices))
        return StatusReport(statuses, prices)
    from ..engine.lock import LabLock

    with target.open() as aws:
        store = target.shared_records(aws)
        statuses = []
        for state in all_states(store):
            holder, _ = LabLock(store, state.data["lab"]).current()
            if not state.live() and holder is None:
                continue
            if state.region == aws.region:
                status = lab_status(state, aws, prices)
            else:
                with target.open(state.region) as there:
                    status = lab_status(state, there, prices)
            status.locked_by = holder.describe() if holder else None
            statuses.append(status)
        return StatusReport(statuses, prices, target.location.url)


@dataclass
class StatusReport:
    """What `ops status` found: each lab's status, the prices used, and where the records are
    (an S3 URL, or None for this folder)."""

    labs: List[LabStatus]
    prices: Prices
    where: Optional[str] = None

    def lines(self) -> List[str]:
        return _lines(self.labs, self.prices, self.where)

    def to_json(self) -> List[Dict[str, Any]]:
        return [
            {
                "lab": s.lab,
                "run_id": s.run_id,
                "region": s.region,
                "expires_at": s.expires,
                "expired": s.expired,
                "time_left_s": s.time_left,
                "switch": s.switch,
                "hourly_usd": round(s.hourly, 4),
                "cost_usd": round(s.cost, 4),
                "locked_by": s.locked_by,
                "resources": [
                    {
                        "kind": r.resource.kind,
                        "id": r.resource.id,
                        "state": r.live,
                        "ours": r.resource.ours,
                        "age_s": r.age,
                        "hourly_usd": r.hourly,
                    }
                    for r in s.rows
                ],
            }
            for s in self.labs
        ]


def _lines(statuses: List[LabStatus], prices: Prices, where: Optional[str] = None) -> List[str]:
    if not statuses:
        return [f"ops: no labs recorded {'in ' + where if where else 'here'}."]
    out = []
    every = [row.resource for lab in statuses for row in lab.rows]
    kind_width = max([len(r.kind) for r in every] + [4])
    id_width = max([len(r.id) for r in every] + [2])
    for lab in statuses:
        flag = f"  EXPIRED: ops sweep --expired{' --state ' + where if where else ''} removes it" if lab.expired else ""
        expiry = ""
        if lab.expires is not None and lab.time_left is not None:
            left = f"in {format_duration(lab.time_left)}" if lab.time_left > 0 else "passed"
            expiry = f", expires {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(lab.expires))} ({left})"
        out.append(f"{lab.lab}  run {lab.run_id}  {lab.region}{expiry}{flag}")
        out.append(f"  {lab.switch}")
        if lab.locked_by:
            out.append(f"  locked by {lab.locked_by}")
        if not lab.rows:
            out.append("  (nothing recorded as existing)")
        for row in lab.rows:
            price = f"${row.hourly:.4f}/h  ${row.cost:.4f} so far" if row.hourly is not None else ""
            owner = "" if row.resource.ours else "  (not created by ops)"
            age = format_duration(row.age) if row.age is not None else "?"
            out.append(
                f"  {row.resource.kind:<{kind_width}} {row.resource.id:<{id_width}} {row.live:<10} {age:>9}  "
                f"{price}{owner}".rstrip()
            )
    hourly = sum(s.hourly for s in statuses)
    cost = sum(s.cost for s in statuses)
    out.append(f"total: ${hourly:.4f}/hour now, about ${cost:.4f} so far (prices taken {prices.taken})")
    return out
