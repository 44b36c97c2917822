"""`ops status LAB --names alice,bob` (or --count N): an instructor's table of a class's copies
of a lab, named as `ops run --names/--count` names them: each copy's state (kept: something of
it is live; torn down: its record says nothing is; none: no record), its host's URL (`ops
open`'s), its time left and its cost so far (`ops status`'s figures).

The account is opened once per region the kept copies are in, not once per copy.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..engine.state import RunState
from ..errors import BadInput
from ..output import aligned
from .lab import lab_states
from .lab_host import host_of
from .open_lab import host_url, time_left_text
from .pricing import Prices
from .status import all_states, lab_status

if TYPE_CHECKING:
    from ..engine.target import RunTarget

KEPT, TORN_DOWN, NONE = "kept", "torn down", "none"


@dataclass(frozen=True)
class CopyRow:
    lab: str
    state: str  # KEPT, TORN_DOWN or NONE
    url: Optional[str] = None  # None: no host (left)
    time_left: Optional[float] = None  # None: no expiry, or not kept
    cost: Optional[float] = None  # dollars so far, for what is live; None: not kept
    hourly: Optional[float] = None


def roster(target: "RunTarget", labs: List[str]) -> List[CopyRow]:
    """One row per lab name, in the order given."""
    if target.location is None:
        return _rows(target, all_states(target.local_records()), labs, None)
    with target.open() as aws:
        return _rows(target, all_states(target.shared_records(aws)), labs, aws)


def recorded_copies(target: "RunTarget", lab: str) -> List[str]:
    """The lab and its copies that have a record (what `ops status LAB` lists without --names)."""
    if target.location is None:
        states = lab_states(target.local_records(), lab)
    else:
        with target.open() as aws:
            states = lab_states(target.shared_records(aws), lab)
    return sorted({s.data["lab"] for s in states}) or [lab]


def _rows(target: "RunTarget", states: List[RunState], labs: List[str], opened) -> List[CopyRow]:
    by_lab: Dict[str, List[RunState]] = {}
    for state in states:
        by_lab.setdefault(state.data["lab"], []).append(state)
    kept: Dict[str, RunState] = {}
    for lab in labs:
        live = [state for state in by_lab.get(lab, []) if state.live()]
        if live:
            kept[lab] = live[0]
    found: Dict[str, CopyRow] = {}
    prices = Prices.load()
    for region in sorted({state.region for state in kept.values()}):
        here = {lab: state for lab, state in kept.items() if state.region == region}
        if opened is not None and opened.region == region:
            found.update(_kept_rows(opened, here, prices))
            continue
        with target.open(target.chosen_region or region) as aws:
            found.update(_kept_rows(aws, here, prices))
    return [found.get(lab) or CopyRow(lab, TORN_DOWN if lab in by_lab else NONE) for lab in labs]


def _kept_rows(aws, kept: Dict[str, RunState], prices: Prices) -> Dict[str, CopyRow]:
    rows = {}
    for lab, state in kept.items():
        status = lab_status(state, aws, prices)
        try:
            url: Optional[str] = host_url(host_of(aws, state))
        except BadInput:  # its host was torn down or never made
            url = None
        rows[lab] = CopyRow(lab, KEPT, url, status.time_left, status.cost, status.hourly)
    return rows


def roster_lines(rows: List[CopyRow]) -> List[str]:
    """LAB / STATE / URL / TIME LEFT / COST SO FAR, one copy a line, then the total."""
    header = ("LAB", "STATE", "URL", "TIME LEFT", "COST SO FAR")
    cells = [
        (
            r.lab,
            r.state,
            r.url or "-",
            time_left_text(r.time_left) if r.state == KEPT else "-",
            f"${r.cost:.4f}" if r.cost is not None else "-",
        )
        for r in rows
    ]
    lines = aligned([header, *cells])
    kept = [r for r in rows if r.state == KEPT]
    total = sum(r.cost or 0 for r in kept)
    lines.append(f"{len(kept)} of {len(rows)} kept; about ${total:.4f} so far")
    return lines


def roster_json(rows: List[CopyRow]) -> Dict[str, Any]:
    return {
        "copies": [
            {
                "lab": r.lab,
                "state": r.state,
                "url": r.url,
                "time_left_s": r.time_left,
                "cost_usd": None if r.cost is None else round(r.cost, 4),
                "hourly_usd": None if r.hourly is None else round(r.hourly, 4),
            }
            for r in rows
        ]
    }
