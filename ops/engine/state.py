"""The run's record: what each run created or changed, written as it goes.

One JSON document per lab, kept in a slot of a record store (records.py): a file under
.ops/state/ (dry runs under .ops/dry-run/state/), owner-only (0600) and replaced atomically,
or an object in a team's S3 prefix, written conditionally. Before a call that creates
something, the resource is recorded with status "intent" (its name is known); after,
"created" with its ids. Teardown reads only this record, so it works after a crash or from
another process (or machine, with a shared store).

When the shared store cannot take a write (S3 unreachable, or the record was changed by
someone else), the record is kept in a local file instead and `problem` is set: the run
stops at its next safe point, and nothing it made is forgotten.
"""

from __future__ import annotations

import os
import secrets
import socket
import string
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..errors import OpsError
from ..model import Resource
from .record_schema import FORMAT_VERSION
from .records import LocalSlot

LIVE = ("intent", "created", "adopted")
FIELDS = {f.name for f in fields(Resource)}


def writer() -> str:
    """Who writes a record: this machine and process. Asked at each write, not once at import:
    a process forked from one that imported this module (the test suite's warm ops processes,
    tests/ops_forkserver.py) is a writer of its own."""
    return f"{socket.gethostname()}:{os.getpid()}"


def new_run_id() -> str:
    """8 characters, a letter first: fits in ElastiCache ids (40) with a lab prefix."""
    alphabet = string.ascii_lowercase + string.digits
    return "r" + "".join(secrets.choice(alphabet) for _ in range(7))


def _slot(where) -> Any:
    return LocalSlot(where) if isinstance(where, Path) else where


class RunState:
    """The record of one lab: its current run id and every resource, in creation order."""

    def __init__(
        self, slot, data: Dict[str, Any], revision: Optional[str] = None, fallback: Optional[LocalSlot] = None
    ):
        self.slot = slot
        self.data = data
        self.revision = revision  # what the store knows this copy as (S3: its ETag)
        self.fallback = fallback  # where the record goes when the shared store fails
        self.problem: Optional[OpsError] = None  # set when the shared store failed: stop soon
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        """The local file (records kept here only)."""
        return self.slot.path

    def where(self) -> str:
        return self.slot.where()

    # --- loading -------------------------------------------------------------------
    @classmethod
    def load(cls, where: Union[Path, Any], fallback: Optional[LocalSlot] = None) -> Optional["RunState"]:
        slot = _slot(where)
        data, revision = slot.read()  # checked (record_schema.py): bad input if ops cannot act on it
        return None if data is None else cls(slot, data, revision, fallback)

    @classmethod
    def start(
        cls,
        where: Union[Path, Any],
        lab: str,
        playbook: str,
        region: str,
        dry_run: bool,
        run_id: Optional[str] = None,
        revision: Optional[str] = None,
        fallback: Optional[LocalSlot] = None,
    ) -> "RunState":
        """A new record; `revision` is that of the record it replaces (S3), if any."""
        data = {
            "version": FORMAT_VERSION,
            "lab": lab,
            "playbook": playbook,
            "region": region,
            "dry_run": dry_run,
            "run_id": run_id or new_run_id(),
            "started_at": _now_iso(),
            "resources": [],
        }
        state = cls(_slot(where), data, revision, fallback)
        state.save()
        return state

    # --- access ----------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def region(self) -> str:
        return self.data["region"]

    def resources(self) -> List[Resource]:
        with self._lock:
            return [Resource(**{k: v for k, v in r.items() if k in FIELDS}) for r in self.data["resources"]]

    def live(self) -> List[Resource]:
        return [r for r in self.resources() if r.status in LIVE]

    def to_delete(self) -> List[Resource]:
        """What teardown deletes, newest first: live resources that are ours."""
        return [r for r in reversed(self.live()) if r.ours]

    # --- recording -----------------------------------------------------------------
    def record(self, resource: Resource) -> None:
        """Add or update a resource (a step records at most one of each kind), then save."""
        with self._lock:
            rows = self.data["resources"]
            row = asdict(resource)
            row["updated_at"] = _now_iso()
            for index, existing in enumerate(rows):
                if (existing["step"], existing["kind"]) == (resource.step, resource.kind):
                    row.setdefault("recorded_at", existing.get("recorded_at"))
                    rows[index] = {**existing, **row}
                    break
            else:
                row["recorded_at"] = row["updated_at"]
                rows.append(row)
            self.save()

    def set(self, key: str, value) -> None:
        with self._lock:
            self.data[key] = value
            self.save()

    def save(self) -> None:
        with self._lock:
            self.data["serial"] = self.data.get("serial", 0) + 1
            self.data["written_by"] = writer()
            try:
                self.revision = self.slot.write(self.data, self.revision)
            except OpsError as exc:
                if self.fallback is None or not self.slot.remote:
                    raise
                self._keep_locally(exc)

    def _keep_locally(self, exc: OpsError) -> None:
        """The shared store failed: go on in a local file, and ask the run to stop."""
        shared = self.slot.where()
        self.slot, self.revision = self.fallback, None
        self.slot.write(self.data)
        self.problem = RecordKeptLocally(
            f"{exc.message} The run stopped at a safe point; its record (run {self.run_id}) is kept in "
            f"{self.slot.where()} instead of {shared}.",
            f"Tear down from it with 'ops teardown {self.data['lab']}', or, once S3 answers again, move it "
            f"back with 'ops state push {self.data['lab']} --state s3://...' (after 'ops unlock' if its lock "
            "lease ran out).",
        )

    def lose_lock(self, lost: OpsError) -> None:
        """The lab's lock is gone: write nothing more to the shared store."""
        with self._lock:
            if self.problem is None and self.slot.remote and self.fallback is not None:
                self._keep_locally(lost)


class RecordKeptLocally(OpsError):
    """The run stopped because the shared record store failed; the record is kept locally."""


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
