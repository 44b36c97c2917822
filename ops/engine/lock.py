"""One lock per lab in S3, so two people (or CI jobs) never work on the same lab at once.

The lock is an object next to the lab's record (`<lab>.lock`), created with a conditional
put (If-None-Match: *): S3 lets exactly one of two racing creators succeed. It says who holds
it, where, since when, and until when its lease runs. The holder renews the lease while it
works (a conditional put naming the lock's current ETag) and deletes the lock when done
(a conditional delete, so it never deletes a lock that someone else has taken over).

A holder that dies leaves its lock until the lease runs out; then `ops unlock LAB` takes it
over, after confirmation. A holder that cannot renew (S3 unreachable) or finds its lock
changed (someone unlocked it) has lost the lock: it stops at the next safe point.

Leases are measured on the wall clock of the machines involved (the lock records absolute
times), so they need clocks that roughly agree, as Terraform's S3 lock does.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Union

from ..durations import format_duration
from ..errors import Interrupted, OpsError
from ..interrupts import stop_requested
from ..names import check_lab, inside
from ..output import Reporting
from ..paths import locks_dir, private_dir
from .records import LocalRecords, RecordStore, S3Records

EXIT_LOCKED = 3
DEFAULT_LEASE = 120.0


class Locked(OpsError):
    """Another run holds the lab's lock: nothing was done."""

    exit_code = EXIT_LOCKED


class LockLost(OpsError):
    """This run no longer holds its lab's lock."""


@dataclass
class Holder:
    id: str
    who: str  # user@host
    pid: int
    command: str
    acquired_at: float
    renewed_at: float
    lease_seconds: float

    @property
    def expires_at(self) -> float:
        return self.renewed_at + self.lease_seconds

    def expired(self, now: Optional[float] = None) -> bool:
        return (now or time.time()) > self.expires_at

    def describe(self, now: Optional[float] = None) -> str:
        now = now or time.time()
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.acquired_at))
        lease = (
            f"its lease ran out {format_duration(now - self.expires_at)} ago"
            if self.expired(now)
            else f"lease renewed {format_duration(max(0.0, now - self.renewed_at))} ago, "
            f"runs {format_duration(self.expires_at - now)} more"
        )
        return f"{self.who} (pid {self.pid}, '{self.command}') since {since}; {lease}"

    def to_json(self) -> dict:
        return {**asdict(self), "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, data: dict) -> "Holder":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's uid with no name (no USER, no passwd entry)
        return f"uid {os.getuid()}"


def me(lease: float) -> Holder:
    now = time.time()
    return Holder(
        id=os.urandom(8).hex(),
        who=f"{_user()}@{socket.gethostname()}",
        pid=os.getpid(),
        command=" ".join(["ops", *sys.argv[1:]])[:200],
        acquired_at=now,
        renewed_at=now,
        lease_seconds=lease,
    )


LAB_LOCK_HINT = "Wait for that run to finish (or pass --lock-timeout 10m to wait for it)."


class _Turn:
    """Waiting for another holder of a lock to finish: until a deadline (Locked after), saying
    once that we wait, and giving up on Ctrl-C; the S3 locks and the local ones alike.
    subject: what is locked, for messages ("lab 'x'")."""

    def __init__(self, subject: str, wait: float, poll: float, hint: str = LAB_LOCK_HINT):
        self.subject = subject
        self.deadline = time.monotonic() + wait
        self.poll = poll
        self.hint = hint
        self.told = False

    def wait(self, described: str, tell: Callable[[], None]) -> None:
        """One more wait for the holder `described`; tell() the first time."""
        if time.monotonic() >= self.deadline:
            raise Locked(f"{self.subject} is locked by {described}.", self.hint)
        if not self.told:
            tell()
            self.told = True
        if stop_requested.wait(min(self.poll, max(0.05, self.deadline - time.monotonic()))):
            raise Interrupted(f"stopped while waiting for the lock of {self.subject}; nothing was done.")


class LabLock:
    """The lock of one lab in a store."""

    poll = 2.0  # seconds between looks at a lock another run holds
    hint = LAB_LOCK_HINT

    def __init__(self, store: S3Records, lab: str, lease: float = DEFAULT_LEASE, key: Optional[str] = None):
        self.store = store
        self.lab = lab
        self.lease = lease
        self.key = key or store.location.key(f"{lab}.lock")
        self.holder: Optional[Holder] = None
        self.lost: Optional[LockLost] = None
        self._etag: Optional[str] = None
        self._stop = threading.Event()
        self._renewer: Optional[threading.Thread] = None
        self._on_lost: Callable[[LockLost], None] = lambda lost: None

    def where(self) -> str:
        return f"s3://{self.store.location.bucket}/{self.key}"

    # --- reading -------------------------------------------------------------------
    def current(self):
        """(Holder, ETag) of whoever holds the lock now, or (None, None)."""
        body, etag = self.store.get(self.key, "read the lock")
        if body is None:
            return None, None
        try:
            return Holder.from_json(json.loads(body)), etag
        except (ValueError, KeyError, TypeError):
            # not a lock ops wrote: treat it as held by an unknown holder whose lease has run out
            return Holder("?", "an unknown holder", 0, "?", 0.0, 0.0, 0.0), etag

    # --- taking and giving back ------------------------------------------------------
    def acquire(
        self,
        wait: float = 0.0,
        on_wait: Callable[[Holder], None] = lambda holder: None,
        on_lost: Callable[[LockLost], None] = lambda lost: None,
    ) -> Holder:
        """Take the lock, waiting up to `wait` seconds for its holder to finish; then keep it
        renewed until release(). on_lost is called (from the renewing thread) if it is lost."""
        turn = _Turn(self.subject, wait, self.poll, self.hint)
        while True:
            holder = me(self.lease)
            if self._put(holder, {"IfNoneMatch": "*"}):
                self.holder = holder
                self._on_lost = on_lost
                self._start_renewing()
                return holder
            other, etag = self.current()
            if other is None:
                continue  # released in between: try again at once
            if other.expired():
                self._expired(other, etag)
                continue  # taken over: try again at once
            turn.wait(other.describe(), lambda: on_wait(other))  # noqa: B023 (called at once)

    @property
    def subject(self) -> str:
        return f"lab '{self.lab}'"

    def _expired(self, other: Holder, etag: str) -> None:
        """A holder whose lease ran out: a lab's lock is taken over by a person (ops unlock)."""
        raise Locked(
            f"lab '{self.lab}' is locked by {other.describe()}.",
            f"If that run is gone, take the lock over: ops unlock {self.lab} --state {self.store.location.url}",
        )

    def _put(self, holder: Holder, condition: dict) -> bool:
        """Write the lock object; False when S3 refused the condition."""
        etag = self.store.put(
            self.key, json.dumps(holder.to_json(), sort_keys=True).encode(), condition, "write the lock"
        )
        if etag is None:
            return False
        self._etag = etag
        return True

    def release(self) -> None:
        """Stop renewing and delete the lock, if it is still ours (a conditional delete)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
        if self.holder is None or self.lost is not None:
            return
        try:
            self.store.delete(self.key, self._etag, "delete the lock")  # not if taken over meanwhile
        except OpsError:
            pass  # S3 unreachable: the lease runs out on its own
        self.holder = None

    # --- renewing ------------------------------------------------------------------------
    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, daemon=True, name=f"lock-{self.lab}")
        self._renewer.start()

    def _renew_loop(self) -> None:
        """Renew every quarter lease; a refused renewal, or a lease that ran out while S3 did
        not answer, means the lock is lost."""
        while not self._stop.wait(self.lease / 4):
            holder = self.holder
            if holder is None:  # released: release() stopped waiting for this thread
                return
            renewed = Holder(**{**asdict(holder), "renewed_at": time.time()})
            try:
                if self._put(renewed, {"IfMatch": self._etag}):
                    self.holder = renewed
                    continue
                other, _ = self.current()
                self._lose(
                    f"its lock was taken over{' by ' + other.describe() if other else ' (deleted)'}",
                    "Someone ran 'ops unlock'",
                )
                return
            except OpsError as exc:
                if time.time() > holder.expires_at:
                    self._lose(f"its lease ran out while S3 did not answer ({exc.message})", "S3 was unreachable")
                    return

    def _lose(self, what: str, why: str) -> None:
        self.lost = LockLost(
            f"this run lost the lock of lab '{self.lab}': {what}.",
            f"{why}; the run stopped at a safe point and kept its record locally (see above).",
        )
        self._on_lost(self.lost)


def take_over(lock: LabLock, etag: str) -> None:
    """Delete another holder's lock (`ops unlock`), unless it changed since it was read."""
    if not lock.store.delete(lock.key, etag, "delete the lock"):
        raise Locked(
            f"the lock of lab '{lock.lab}' changed while you were deciding (its holder renewed it).",
            "Look again: ops status --state " + lock.store.location.url,
        )


class LocalLabLock:
    """A lab's lock when its records are kept in this folder: an exclusive flock on
    .ops/[dry-run/]locks/<lab>.lock, which says who holds it. The kernel releases it when
    its holder ends, however it ends, so it never goes stale and needs no lease or unlock."""

    lost: Optional[LockLost] = None  # a local lock cannot be taken over
    poll = 0.5
    hint = LAB_LOCK_HINT
    # A holder that ended a moment ago can hold on a little longer: a child process it was
    # starting shares its lock until the child starts its own program (closing the copy).
    letting_go = 2.0  # seconds

    def __init__(self, folder: Path, lab: str):
        self.lab = lab
        self.path = inside(folder, f"{check_lab(lab)}.lock")
        self._fd: Optional[int] = None

    @property
    def subject(self) -> str:
        return f"lab '{self.lab}'"

    def acquire(self, wait: float = 0.0, on_wait: Callable[[str], None] = lambda holder: None) -> None:
        """Take the lock, waiting up to `wait` seconds for its holder to finish (Locked after)."""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        turn = _Turn(self.subject, wait, self.poll, self.hint)
        let_go_by = time.monotonic() + self.letting_go
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = self._holder(fd)
                if self._ended(holder) and time.monotonic() < let_go_by:
                    time.sleep(0.05)
                    continue
                turn.wait(f"{holder} (its records are in this folder)", lambda: on_wait(holder))  # noqa: B023
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, self._text(me(0.0)).encode())
        self._fd = fd

    # What the lock file says of its holder, and how the holder's host and pid are read back.
    @staticmethod
    def _text(holder: Holder) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.acquired_at))
        return f"{holder.who}, pid {holder.pid} ('{holder.command}'), since {since}"

    _NAMED = re.compile(r"^[^,]*@(?P<host>[^,@]*), pid (?P<pid>\d+) ")

    @staticmethod
    def _holder(fd: int) -> str:
        text = os.pread(fd, 1000, 0).decode(errors="replace").strip()
        return text or "another ops process"

    @classmethod
    def _ended(cls, holder: str) -> bool:
        """Is the holder the lock names a process of this machine that has ended?"""
        from ..sim.processes import alive

        named = cls._NAMED.match(holder)
        return named is not None and named["host"] == socket.gethostname() and not alive(int(named["pid"]))

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


@dataclass(frozen=True)
class LockOptions:
    wait: float = 0.0  # --lock-timeout: how long to wait for another holder
    lease: float = DEFAULT_LEASE


@contextlib.contextmanager
def hold_locks(
    store: RecordStore,
    labs: List[str],
    options: LockOptions,
    reporter: Reporting,
    on_lost: Callable[[str, LockLost], None] = lambda lab, lost: None,
) -> Iterator[Dict[str, Union[LabLock, LocalLabLock]]]:
    """Hold the lock of each lab (in S3 beside shared records, or a local one for records kept
    here), released on the way out."""
    held: Dict[str, Union[LabLock, LocalLabLock]] = {}
    try:
        for lab in labs:
            if isinstance(store, LocalRecords):

                def announce(holder: str, lab: str = lab) -> None:
                    reporter.event(
                        "note",
                        text=f"ops: lab '{lab}' is locked by {holder}; waiting up to {format_duration(options.wait)}...",
                    )

                local = LocalLabLock(locks_dir(store.root, store.dry_run), lab)
                local.acquire(options.wait, on_wait=announce)
                held[lab] = local
                continue
            assert isinstance(store, S3Records)
            lock = LabLock(store, lab, options.lease)

            def on_wait(holder: Holder, lab: str = lab) -> None:
                reporter.event(
                    "note",
                    text=f"ops: lab '{lab}' is locked by {holder.describe()}; waiting up to "
                    f"{format_duration(options.wait)}...",
                )

            def on_lab_lost(lost: LockLost, lab: str = lab) -> None:
                on_lost(lab, lost)

            lock.acquire(options.wait, on_wait=on_wait, on_lost=on_lab_lost)
            held[lab] = lock
        yield held
    finally:
        for taken in held.values():
            taken.release()
