"""How long each wait took in earlier runs, so that a run polls when readiness is likely in
this account and region rather than when a built-in guess says.

Every successful wait adds one sample, keyed by (region, wait, size): the wait's name (`elasticache.create`, the keys of `expected:`) and what makes
one resource slower than another of its kind (`cache.t3.micro redis cluster`, an instance
type; "" when nothing does). A sample is the time from the start of the wait to midway
between the last look that found the resource not ready and the first that found it ready:
the moment of readiness to within half a poll interval, where the ready look's own time is
up to a whole interval late, and a late guess would only teach the next run to be late.
A wait that was over at its first look teaches nothing (the resource was ready before ops
looked: waited for by an earlier step, or adopted), nor does a wait of a step that resumed an
earlier run's work (it times only the rest of a creation).

The last KEEP samples of each key are kept; their median is the key's expectation from
MIN_SAMPLES on. MIN_SAMPLES is 1: one measured run of this account, region and size says
more than a default written for everyone, and the cost of a wrong expectation is bounded,
since `expected` only shapes the poll schedule, never the deadline. The median of nine
keeps one odd run from steering later ones once there are a few, and lets a change in
AWS's speed take over within five runs.

The history is kept in .ops/waits.json (dry runs: .ops/dry-run/waits.json; owner-only,
replaced atomically, merged under a lock file so concurrent processes keep each other's
samples) and, with records in S3, also at `<prefix>_waits.json`, merged with conditional
writes; there the shared copy is read, since it holds every machine's runs. A run reads the
history once, at its start (its own waits do not change its expectations as it goes), and
adds its samples at its end. All of it is best-effort: a history that cannot be read or
written is reported in a note and never fails a run.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import statistics
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple

from ..names import shown
from ..paths import private_dir, wait_history_file
from .records import OPS_OWN, RecordStore, S3Records

if TYPE_CHECKING:  # the target imports the records too; this module needs it for types only
    from .target import RunTarget

KEEP = 9
MIN_SAMPLES = 1
SHARED_NAME = f"{OPS_OWN}waits.json"  # under the records' prefix, named like no lab's record
MAX_SAMPLE = 24 * 3600.0  # a wait longer than a day is not something to learn from
NAME = re.compile(r"[A-Za-z0-9 ._:/-]{0,100}")  # a region, wait or size, as ops writes them: printable as they are
WRITE_TRIES = 5  # conditional writes to S3 refused by a concurrent writer, before giving up

FALLBACK = 60.0  # the expectation of a wait that no setting names

CONFIG, LEARNED, DEFAULT = "config", "learned", "default"

Key = Tuple[str, str, str]  # (region, wait, size)
Samples = Dict[Key, List[float]]


class HistoryUnreadable(Exception):
    """A history file that is not what ops writes (corrupt, truncated, edited)."""


@dataclass(frozen=True)
class Expectation:
    """How long a wait is expected to take, and where that figure comes from: the user's
    config, the history (learned), or the built-in default."""

    seconds: float
    source: str


def expectation(settings: Dict[str, Any], learned: Samples, region: str, wait: str, size: str) -> Expectation:
    """A value the user's config set wins; then what earlier runs took; then the built-in default."""
    if wait in settings.get("expected_configured", ()):
        return Expectation(float(settings["expected"][wait]), CONFIG)
    median = learned_median(learned, (region, wait, size))
    if median is not None:
        return Expectation(median, LEARNED)
    return Expectation(float(settings.get("expected", {}).get(wait, FALLBACK)), DEFAULT)


def learned_median(learned: Samples, key: Key) -> Optional[float]:
    samples = learned.get(key, [])
    return statistics.median(samples) if len(samples) >= MIN_SAMPLES else None


def merged(old: Samples, new: Samples) -> Samples:
    """old's samples then new's, the last KEEP of each key."""
    result = {key: list(samples) for key, samples in old.items()}
    for key, samples in new.items():
        result[key] = (result.get(key, []) + samples)[-KEEP:]
    return result


# --- the file format ---------------------------------------------------------------------------


def to_json(samples: Samples) -> Dict[str, Any]:
    waits = [
        {"region": region, "wait": wait, "size": size, "seconds": [round(s, 1) for s in values]}
        for (region, wait, size), values in sorted(samples.items())
    ]
    return {"version": 1, "waits": waits}


def from_json(data: Any) -> Samples:
    """The samples of a history document; HistoryUnreadable if it is not one ops wrote."""
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("waits"), list):
        raise HistoryUnreadable("not a version 1 wait history")
    samples: Samples = {}
    for entry in data["waits"]:
        if not isinstance(entry, dict) or not all(_name(entry.get(f)) for f in ("region", "wait", "size")):
            raise HistoryUnreadable(f"an entry without a region, wait and size ops would write: {shown(entry)}")
        values = entry.get("seconds")
        if not isinstance(values, list) or not all(_plausible(v) for v in values):
            raise HistoryUnreadable(f"{entry['wait']}: 'seconds' must list durations of more than 0 s, up to a day")
        if values:
            samples[(entry["region"], entry["wait"], entry["size"])] = [float(v) for v in values][-KEEP:]
    return samples


def _name(value: Any) -> bool:
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def _plausible(value: Any) -> bool:
    """A duration a wait can have taken (a schedule needs a positive expectation)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_SAMPLE
    )


def _parse(body: bytes) -> Samples:
    try:
        return from_json(json.loads(body))
    except ValueError as exc:  # JSON that does not parse (UnicodeDecodeError is a ValueError too)
        raise HistoryUnreadable(f"not JSON ({exc})") from None


# --- where it is kept ------------------------------------------------------------------------


class HistoryStore(Protocol):
    """Where a history is kept (LocalHistory, SharedHistory)."""

    def where(self) -> str: ...

    def read(self) -> Samples: ...

    def add(self, new: Samples) -> None: ...


class LocalHistory:
    """.ops/[dry-run/]waits.json: 0600, replaced atomically, merged under an flock of waits.lock."""

    def __init__(self, root: Path, dry_run: bool):
        self.path = wait_history_file(root, dry_run)

    def where(self) -> str:
        return str(self.path)

    def read(self) -> Samples:
        try:
            return _parse(self.path.read_bytes())
        except FileNotFoundError:
            return {}

    def add(self, new: Samples) -> None:
        """Merge new samples into the file as it is now (another process may have written it)."""
        private_dir(self.path.parent)
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # held for a read and a write: milliseconds
            try:
                old = self.read()
            except HistoryUnreadable:
                old = {}  # reported when the run read it; replaced by what can be kept
            self._write(merged(old, new))
        finally:
            os.close(lock)  # closing releases the flock

    def _write(self, samples: Samples) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".waits-", suffix=".json")  # mkstemp: 0600
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(to_json(samples), handle, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class SharedHistory:
    """<prefix>_waits.json next to the lab records in S3, merged by conditional writes."""

    def __init__(self, records: S3Records):
        self.records = records
        self.key = f"{records.location.prefix}{SHARED_NAME}"

    def where(self) -> str:
        return f"s3://{self.records.location.bucket}/{self.key}"

    def read(self) -> Samples:
        body, _ = self.records.get(self.key, "read the wait history in")
        return {} if body is None else _parse(body)

    def add(self, new: Samples) -> None:
        """Read, merge, and write only if nobody wrote in between (If-Match / If-None-Match);
        when someone did, merge again with what they wrote."""
        for _ in range(WRITE_TRIES):
            body, etag = self.records.get(self.key, "read the wait history in")
            try:
                old = {} if body is None else _parse(body)
            except HistoryUnreadable:
                old = {}  # reported when the run read it; replaced by what can be kept
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            document = json.dumps(to_json(merged(old, new)), indent=1).encode()
            if self.records.put(self.key, document, condition, "write the wait history in") is not None:
                return
        raise RuntimeError(f"other runs kept writing it at the same time ({WRITE_TRIES} tries)")


# --- one command's history -----------------------------------------------------------------------


class WaitHistory:
    """What earlier runs taught (read once, when a command starts), and what this one adds
    (kept until save(), from the threads of every lab and step of the command)."""

    def __init__(self, stores: List[HistoryStore], note: Callable[[str], None]):
        """stores: where the history is kept, in the order to read them (SharedHistory
        before LocalHistory: the first readable one counts); note: says a problem with
        one, as a note event."""
        self.stores = stores
        self.note = note
        self.learned: Samples = {}
        self._new: Samples = {}
        self._lock = threading.Lock()
        for store in stores:
            try:
                self.learned = store.read()
                break
            except Exception as exc:  # noqa: BLE001 - whatever went wrong, the run goes on with the defaults
                note(
                    f"ops: note: the wait history {store.where()} could not be read ({_reason(exc)}); {_instead(store, stores)}"
                )

    def expectation(self, settings: Dict[str, Any], region: str, wait: str, size: str) -> Expectation:
        return expectation(settings, self.learned, region, wait, size)

    def add(self, region: str, wait: str, size: str, seconds: float) -> None:
        if _plausible(seconds):
            with self._lock:
                self._new.setdefault((region, wait, size), []).append(seconds)

    def save(self) -> None:
        """Add this command's samples to every store; a store that fails gets a note."""
        with self._lock:
            new, self._new = self._new, {}
        if not new:
            return
        for store in self.stores:
            try:
                store.add(new)
            except Exception as exc:  # noqa: BLE001 - a history that cannot be written never fails a run
                self.note(
                    f"ops: note: this run's wait times could not be added to {store.where()} ({_reason(exc)}); "
                    "later runs expect what they expected before."
                )


def _instead(store: HistoryStore, stores: List[HistoryStore]) -> str:
    rest = stores[stores.index(store) + 1 :]
    if rest:
        return f"using {rest[0].where()} instead."
    return "this run expects the built-in (or configured) wait times, and its own replace what could not be read."


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return text.rstrip(".")


def open_history(target: "RunTarget", records: RecordStore, note: Callable[[str], None]) -> WaitHistory:
    """The history of the target's runs (real or dry runs'), in .ops/ here and, when the
    command's records are in S3 (records: its RecordStore), under their prefix too, read first."""
    stores: List[HistoryStore] = [LocalHistory(target.root, target.dry_run)]
    if isinstance(records, S3Records):
        stores.insert(0, SharedHistory(records))
    return WaitHistory(stores, note)
