"""`ops report --waits`: what earlier runs taught about how long each wait takes (per region,
wait and size), and which expectation a run would use now: the config's, the learned one or
the built-in default (ops/engine/wait_history.py)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List

from ..durations import format_duration
from ..engine.wait_history import (
    FALLBACK,
    HistoryStore,
    HistoryUnreadable,
    LocalHistory,
    Samples,
    SharedHistory,
    expectation,
    learned_median,
)
from ..errors import BadInput
from ..output import aligned

if TYPE_CHECKING:
    from ..engine.target import RunTarget

COLUMNS = ("region", "wait", "size", "samples", "median", "default", "in use")


@dataclass
class LearnedWaits:
    where: str  # the history's file or S3 object
    simulated: bool  # dry runs' history (simulated seconds) or real runs'
    rows: List[Dict[str, Any]]

    def to_json(self) -> Dict[str, Any]:
        return {"history": self.where, "simulated": self.simulated, "waits": self.rows}

    def lines(self) -> List[str]:
        runs = "dry runs (simulated time)" if self.simulated else "real runs"
        if not self.rows:
            other = "real runs: without --dry-run" if self.simulated else "dry runs: --dry-run"
            return [f"ops: no waits learned yet from {runs} in {self.where} (for {other})."]
        table = [list(COLUMNS)] + [
            [
                row["region"],
                row["wait"],
                row["size"] or "-",
                str(len(row["samples"])),
                format_duration(row["median"]) if row["median"] is not None else "-",
                format_duration(row["default"]),
                f"{format_duration(row['in_use'])} ({row['source']})",
            ]
            for row in self.rows
        ]
        return [f"waits learned from {runs}, {self.where}:", *aligned(table)]


def learned_rows(learned: Samples, settings: Dict[str, Any], built_in: Dict[str, float]) -> List[Dict[str, Any]]:
    """One row per (region, wait, size) in the history: its samples, their median, the
    built-in default, and the expectation a run uses now (from the config, learned, or default)."""
    rows = []
    for (region, wait, size), samples in sorted(learned.items()):
        now = expectation(settings, learned, region, wait, size)
        rows.append(
            {
                "region": region,
                "wait": wait,
                "size": size,
                "samples": samples,
                "median": learned_median(learned, (region, wait, size)),
                "default": float(built_in.get(wait, FALLBACK)),
                "in_use": now.seconds,
                "source": now.source,
            }
        )
    return rows


def learned_waits(target: "RunTarget", settings: Dict[str, Any], built_in: Dict[str, float]) -> LearnedWaits:
    """The target's history (real or dry runs'; in S3 when its records are there), as a table."""
    if target.location is None:
        return _table(LocalHistory(target.root, target.dry_run), target, settings, built_in)
    with target.open() as aws:
        return _table(SharedHistory(target.shared_records(aws)), target, settings, built_in)


def _table(store: HistoryStore, target: "RunTarget", settings, built_in) -> LearnedWaits:
    try:
        learned = store.read()
    except HistoryUnreadable as exc:
        raise BadInput(
            f"the wait history {store.where()} is unreadable ({exc}).",
            "Runs ignore it and replace it with their own wait times; remove it to start afresh now.",
        ) from None
    return LearnedWaits(store.where(), target.dry_run, learned_rows(learned, settings, built_in))
