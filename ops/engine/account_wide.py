"""The account-wide pieces labs share (the Cloud9 SSM role, its instance profile and their
policies): one lock around "no lab uses it: delete it" and around "create or adopt it and
record the use", and which other labs' records use a piece.

The lock follows the records. Beside records in S3 it is an object, `<prefix>_account/iam.lock`,
with the labs' lease machinery (lock.py); it is held for a few IAM calls, so a holder whose
lease ran out is gone and its lock is taken over at once. Beside records in a folder it is
an flock on .ops/[dry-run/]locks/_account-iam.lock. Inside one process, threads (copies of a
lab) take turns on a lock of their own first. A record no store knows (a sweep's throwaway
one) shares the lock with its process only. Labs whose records are in another folder or
prefix share no lock and no records: for them AWS itself is the only common truth, which
steps/iam.py reads again right before each delete.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ..clock import Clock
from ..paths import locks_dir
from .lock import DEFAULT_LEASE, Holder, LabLock, LocalLabLock, Locked
from .records import OPS_OWN, LocalRecords, RecordSlot, S3Records
from .state import LIVE

ACCOUNT_LOCK_WAIT = 600.0  # wall seconds; each holder keeps it for a few IAM calls
HOLDER = f"{OPS_OWN}account"  # what the lock is taken for: named like no lab, as records.py keeps ops's own
S3_KEY = f"{HOLDER}/iam.lock"  # under the records' prefix
FILE_NAME = f"{HOLDER}-iam.lock"  # in the records folder's locks


class AccountLock(LabLock):
    """The account-wide lock beside records in S3."""

    poll = 0.25
    hint = "Its holder keeps it for a few IAM calls only; if it stays held, that process is stuck: stop it."

    def __init__(self, store: S3Records, lease: float = DEFAULT_LEASE):
        super().__init__(store, HOLDER, lease, key=f"{store.location.prefix}{S3_KEY}")

    @property
    def subject(self) -> str:
        return f"the account-wide IAM lock s3://{self.store.location.bucket}/{self.key}"

    def _expired(self, other: Holder, etag: str) -> None:
        """Its holder stopped renewing it long ago: gone. Take it over (unless it changed meanwhile)."""
        self.store.delete(self.key, etag, "take over the account-wide lock")


class LocalAccountLock(LocalLabLock):
    """The account-wide lock beside records in a folder."""

    poll = 0.05
    hint = AccountLock.hint

    def __init__(self, folder: Path):
        self.lab = HOLDER
        self.path = folder / FILE_NAME
        self._fd: Optional[int] = None

    @property
    def subject(self) -> str:
        return f"the account-wide IAM lock {self.path}"


class _Turns:
    """One process's turns on one account-wide lock: a re-entrant lock for its threads, and
    the cross-process lock while any of them holds it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0
        self.outer: Optional[Union[AccountLock, LocalAccountLock]] = None


_turns: Dict[str, _Turns] = {}
_turns_lock = threading.Lock()


def _turns_of(key: str) -> _Turns:
    with _turns_lock:
        return _turns.setdefault(key, _Turns())


class AccountWide:
    """How the labs whose records share a store share the account-wide pieces."""

    def __init__(
        self,
        key: str,
        make_lock: Optional[Callable[[], Union[AccountLock, LocalAccountLock]]],
        slots: Callable[[], Sequence[RecordSlot]],
    ):
        self.key = key
        self._make_lock = make_lock
        self._slots = slots

    @classmethod
    def of(cls, slot: Any) -> "AccountWide":
        """For the store of a record's slot."""
        store = getattr(slot, "store", None)
        if isinstance(store, S3Records):
            s3 = store
            return cls(f"{s3.location.url}/{S3_KEY}", lambda: AccountLock(s3), s3.slots)
        if isinstance(store, LocalRecords):
            folder = locks_dir(store.root, store.dry_run)
            return cls(str(folder / FILE_NAME), lambda: LocalAccountLock(folder), store.slots)
        return cls("this process", None, lambda: [])

    @contextlib.contextmanager
    def held(self, clock: Clock) -> Iterator[None]:
        """Hold the lock (re-entrant in a thread). Waiting for it does not hold up the clock."""
        turns = _turns_of(self.key)
        if not turns.lock.acquire(blocking=False):
            with clock.blocked():
                turns.lock.acquire()
        try:
            if turns.depth == 0 and self._make_lock is not None:
                turns.outer = self._take(clock)
            turns.depth += 1
        except BaseException:
            turns.lock.release()
            raise
        try:
            yield
        finally:
            turns.depth -= 1
            if turns.depth == 0 and turns.outer is not None:
                outer, turns.outer = turns.outer, None
                outer.release()
            turns.lock.release()

    def _take(self, clock: Clock) -> Union[AccountLock, LocalAccountLock]:
        assert self._make_lock is not None
        lock = self._make_lock()
        try:
            lock.acquire(0.0)
        except Locked:  # another process has it: wait, without holding up this process's clock
            with clock.blocked():
                lock.acquire(ACCOUNT_LOCK_WAIT)
        return lock

    def uses(self, kind: str, resource_id: str, own: Any, lab: str, run_id: str) -> List[Tuple[str, Dict[str, Any]]]:
        """(lab, row) for each live row of this kind and id in the store's records but `own`
        (the asking run's slot) and other copies of run `run_id` of `lab`: the labs that
        recorded using the same piece."""
        found = []
        for slot in self._slots():
            if slot.where() == own.where():
                continue
            data, _ = slot.read()
            if data is None or (data.get("lab"), data.get("run_id")) == (lab, run_id):
                continue
            found += [
                (data["lab"], row)
                for row in data.get("resources", [])
                if row.get("kind") == kind and row.get("id") == resource_id and row.get("status") in LIVE
            ]
        return found
