"""The simulated account's state on disk, shared by every process that opens the account.

A PersistentStore is a SimStore whose lock is a transaction. The outermost `with
store.lock:` of a process takes an exclusive flock on home/store.lock, reloads
home/store.json if another process replaced it since, and on the way out writes the data
back if it changed (a temporary file renamed over the old one, so a reader or a crash sees
either version, never half of one). All simulator code already holds the store lock while
it reads or changes state, so every call becomes one or more load-modify-save transactions
and two processes never interleave inside one.

Data is reloaded in place: code must look sections up under the lock each time rather than
keep references to nested dicts across transactions.

The account's time (`now`, the clock of the world using the store) is kept at the end of
every transaction too, but in home/store.time, eight bytes rewritten in place: most calls
change nothing but the time (a wait's polls), and rewriting the whole store for each of them
was a tenth of a dry run's CPU. It only moves forward: a process whose clock is behind the
account's (another process's) leaves it as it is.
"""

import fcntl
import json
import marshal
import os
import struct
import threading
from pathlib import Path
from typing import Callable, Optional, Tuple

from .base import SimStore

STORE_FILE, LOCK_FILE, TIME_FILE = "store.json", "store.lock", "store.time"
_TIME = struct.Struct("<d")
_NO_TIME = float("-inf")  # the time file is new (empty)
# marshal's first format: exact for JSON's types, with no references or interned strings, so
# equal data (in the same order) gives the same bytes; at about half json.dumps's cost
_FORM = 0


def _form(data) -> bytes:
    """A quick exact image of the data, to tell whether a transaction changed it."""
    return marshal.dumps(data, _FORM)


class _Transaction:
    """A reentrant lock whose outermost holder in this process also holds the file lock."""

    def __init__(self, store: "PersistentStore"):
        self._store = store
        self._threads = threading.RLock()
        self._depth = 0

    def __enter__(self):
        self._threads.acquire()
        if self._depth == 0:
            try:
                self._store._begin()
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._store._commit()
        finally:
            self._threads.release()


class PersistentStore(SimStore):
    def __init__(self, home: Path):
        super().__init__()
        self.path = home / STORE_FILE
        self._lock_path = home / LOCK_FILE
        self._time_path = home / TIME_FILE
        self.lock = _Transaction(self)
        self.now: Optional[Callable[[], float]] = None  # the account's time, kept by every transaction
        self._fd: Optional[int] = None
        self._time_fd: Optional[int] = None
        self._kept_time = _NO_TIME  # what this process last read or wrote in the time file
        self._seen: Optional[Tuple[int, int, int]] = None  # (inode, mtime, size) of the file as last read or written
        self._saved: Optional[bytes] = None  # _form() of its data

    def write_ahead(self) -> None:
        """Save now (the data, and the time), inside a transaction or not, keeping any
        transaction open: what an operation has recorded so far survives the process being
        killed before the operation's next part."""
        with self.lock:
            self._save()

    def saved_time(self) -> Optional[float]:
        """The account's latest time, as kept by any process (None: a new account)."""
        with self.lock:
            latest = self._read_time()
            return None if latest == _NO_TIME else latest

    def close(self) -> None:
        for fd in (self._fd, self._time_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._time_fd = None

    def _begin(self) -> None:
        if self._fd is None:
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            self._reload_if_changed()
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise

    def _reload_if_changed(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return  # a new account: nothing saved yet
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self.data.clear()
            self.data.update(json.loads(self.path.read_text()))
            self._seen, self._saved = seen, _form(self.data)

    def _commit(self) -> None:
        try:
            self._save()
        finally:
            if self._fd is None:  # _begin opened it; only close() clears it
                raise RuntimeError("the simulated account's store was closed inside a transaction")
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _save(self) -> None:
        form = _form(self.data)
        if form != self._saved:
            self._write(json.dumps(self.data), form)
        if self.now is not None:
            self._keep_time(self.now())

    def _time_file(self) -> int:
        if self._time_fd is None:
            self._time_fd = os.open(self._time_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._time_fd

    def _read_time(self) -> float:
        raw = os.pread(self._time_file(), _TIME.size, 0)
        self._kept_time = _TIME.unpack(raw)[0] if len(raw) == _TIME.size else _NO_TIME
        return self._kept_time

    def _keep_time(self, now: float) -> None:
        """Under the file lock: the time file holds the later of its time and `now`."""
        if now > self._kept_time and now > self._read_time():
            os.pwrite(self._time_file(), _TIME.pack(now), 0)
            self._kept_time = now

    def _write(self, text: str, form: bytes) -> None:
        temporary = self.path.with_name(f".{STORE_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, self.path)
        stat = os.stat(self.path)
        self._seen, self._saved = (stat.st_ino, stat.st_mtime_ns, stat.st_size), form
