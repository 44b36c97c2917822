"""Plumbing shared by the fakes: the state store, error and response shapes.

A fake (or an overlay on moto) is a Backend: for each operation in `operations`, the world's
transport (transport.py) calls `answer(op, params)` with the caller's parameters, after
botocore validated them against the service model; the dict it returns is the answer (put on
the wire in the service's protocol by wire.py), a SimError is the service's error answer, and
None lets moto answer. For each operation in `amended`, moto's successful answer is passed
to `amend(op, params, parsed)` to change before it is sent back.
"""

import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, ContextManager, Dict, Optional

from botocore import xform_name

PARAMS_KEY = "ops_sim_params"
ACCOUNT_ID = "123456789012"  # moto's default account


class SimError(Exception):
    """An AWS error response: subclasses set `code` (the wire error code) and `status`."""

    code = "InternalFailure"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SimStore:
    """All simulated state, as plain JSON-serializable dicts under one lock.

    Runtime handles (processes, threads, local Redis servers) live beside it in the
    backends, keyed by the ids stored here, so the store alone can be persisted
    (persist.py). Backends look their sections up on each use, under the lock, rather
    than keeping references: a persistent store reloads its data in place.
    """

    def __init__(self):
        self.data: Dict[str, Dict[str, Any]] = {}
        self.lock: ContextManager[Any] = threading.RLock()  # a PersistentStore's is a file transaction

    def write_ahead(self) -> None:
        """Nothing to save: this store lives and dies with its process (persist.py's does not)."""

    def section(self, name: str) -> Dict[str, Any]:
        with self.lock:
            return self.data.setdefault(name, {})


def request_id() -> str:
    return str(uuid.uuid4())


class Backend:
    """A fake service: `service` is the hyphenized botocore service id; every public
    method named after an operation in `operations` answers that operation."""

    service = ""
    operations: tuple = ()
    amended: tuple = ()  # operations whose moto answer amend_<operation>(params, parsed) changes
    unlocked: tuple = ()  # operations that take the store lock themselves (they may block)
    # every operation in `operations` is answered here, never by moto: their requests go
    # unsigned (transport.py checks that the claim holds)
    answers_alone = False

    def __init__(self, world):
        self.world = world
        self.lock = world.store.lock

    def settle(self) -> None:
        """Apply whatever the clock says has happened since the last call."""

    def close(self) -> None:
        """Release runtime resources (processes, servers) when the world stops."""

    def answer(self, operation: str, params: dict) -> Optional[dict]:
        """The answer to `operation` (None: moto's), under the store lock unless the
        operation takes it itself."""
        method = getattr(self, xform_name(operation))
        if operation in self.unlocked:
            return method(params)
        with self.lock:
            return method(params)

    def amend(self, operation: str, params: dict, parsed: dict) -> None:
        """Change moto's successful answer to `operation` in place (see `amended`)."""
        with self.lock:
            getattr(self, "amend_" + xform_name(operation))(params, parsed)

    def now(self) -> float:
        return self.world.now()

    def timestamp(self, at: float) -> datetime:
        return self.world.timestamp(at)


def wall_anchor(clock) -> Dict[str, float]:
    """Pin clock time to the calendar once, so virtual instants become plausible datetimes."""
    from ..clock import wall_time

    return {"clock": clock.now(), "epoch": wall_time()}


def to_datetime(anchor: Dict[str, float], at: float) -> datetime:
    return datetime.fromtimestamp(anchor["epoch"], timezone.utc) + timedelta(seconds=at - anchor["clock"])


def tag_list_to_dict(tags: Optional[list], key: str = "Key", value: str = "Value") -> Dict[str, str]:
    return {t[key]: t.get(value, "") for t in tags or []}


def tag_dict_to_list(tags: Dict[str, str], key: str = "Key", value: str = "Value") -> list:
    return [{key: k, value: v} for k, v in tags.items()]
