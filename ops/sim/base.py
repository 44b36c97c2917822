"""Plumbing shared by the fakes: the state store, error and response shapes, the hook-up.

A fake answers a boto3 call from a `before-call.<service>.<Op>` handler: botocore then
skips HTTP and treats the returned `(http_response, parsed)` pair exactly like a parsed
wire response, so real clients keep their parameter validation, waiters and modelled
exception classes. The caller's parameters are not passed to `before-call` (only the
serialized request is), so a `before-parameter-build` handler stashes them in the per-call
`context` first. botocore validates the parameters between the two events, so a fake only
ever sees calls that passed the service model.
"""

import copy
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, ContextManager, Dict, Optional

from botocore import xform_name
from botocore.awsrequest import AWSResponse

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


def ok_response(parsed: Dict[str, Any]):
    parsed = copy.deepcopy(parsed)
    parsed["ResponseMetadata"] = {
        "RequestId": request_id(),
        "HTTPStatusCode": 200,
        "HTTPHeaders": {},
        "RetryAttempts": 0,
    }
    return AWSResponse(None, 200, {}, None), parsed


def error_response(code: str, message: str, status: int = 400):
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": request_id(),
            "HTTPStatusCode": status,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        },
    }
    return AWSResponse(None, status, {}, None), parsed


def stash_params(params, context, **_):
    context[PARAMS_KEY] = copy.deepcopy(params)


class Backend:
    """A fake service: `service` is the hyphenized botocore service id; every public
    method named after an operation in `operations` answers that operation."""

    service = ""
    operations: tuple = ()
    unlocked: tuple = ()  # operations that take the store lock themselves (they may block)

    def __init__(self, world):
        self.world = world
        self.lock = world.store.lock

    def settle(self) -> None:
        """Apply whatever the clock says has happened since the last call."""

    def close(self) -> None:
        """Release runtime resources (processes, servers) when the world stops."""

    def register(self, events) -> None:
        for op in self.operations:
            events.register(
                f"before-parameter-build.{self.service}.{op}",
                stash_params,
                unique_id=f"ops-sim-stash-{self.service}-{op}",
            )
            method = getattr(self, xform_name(op))
            events.register(
                f"before-call.{self.service}.{op}",
                answer(self.world, self.service, op, method, locked=op not in self.unlocked),
                unique_id=f"ops-sim-{self.service}-{op}",
            )

    def now(self) -> float:
        return self.world.clock.now()

    def timestamp(self, at: float) -> datetime:
        return self.world.timestamp(at)


def answer(world, service: str, op: str, method: Callable[[dict], Optional[dict]], locked: bool = True):
    """A before-call handler: injected faults first, then the clock's effects, then
    `method(params)`, whose dict is the parsed response (None: let moto answer)."""
    world.answered.add((service, op))

    def handler(model, context, **_):
        fault = world.preflight(model)
        if fault is not None:
            return fault
        params = context.get(PARAMS_KEY, {})
        try:
            if locked:
                with world.store.lock:
                    result = method(params)
            else:
                result = method(params)
        except SimError as e:
            return error_response(e.code, e.message, e.status)
        return None if result is None else ok_response(result)

    return handler


def wall_anchor(clock) -> Dict[str, float]:
    """Pin clock time to wall time once, so virtual instants become plausible datetimes."""
    return {"clock": clock.now(), "epoch": datetime.now(timezone.utc).timestamp()}


def to_datetime(anchor: Dict[str, float], at: float) -> datetime:
    return datetime.fromtimestamp(anchor["epoch"], timezone.utc) + timedelta(seconds=at - anchor["clock"])


def tag_list_to_dict(tags: Optional[list], key: str = "Key", value: str = "Value") -> Dict[str, str]:
    return {t[key]: t.get(value, "") for t in tags or []}


def tag_dict_to_list(tags: Dict[str, str], key: str = "Key", value: str = "Value") -> list:
    return [{key: k, value: v} for k, v in tags.items()]
