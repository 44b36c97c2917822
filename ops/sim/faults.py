"""Injected failures for fault-injection runs: throttling, server errors, dropped connections,
lost answers, stuck resources.

Whether a call fails is a pure function of (seed, service, operation, how many times that
operation was called before), so a run replays identically for a seed even when unrelated
calls interleave differently.

Faults happen on the simulated network (transport.py), inside botocore's retry loop, once
per attempt: a client's retry mode sees an injected throttle, 500 or dropped connection as it
would see AWS's, and absorbs it or gives up as it would on AWS. (A client made straight from
a sim session makes one attempt per call, so a test of the faults themselves sees each one.)

A lost answer is the meanest: the call is applied (moto or a fake answers it, the resource
exists), then the connection drops (ConnectionClosedError), as when it drops after AWS
processed the request. The retry meets what the first attempt made ("already exists",
"duplicate").
"""

import hashlib
from dataclasses import dataclass, field
from typing import FrozenSet, Iterable, Optional, Tuple

# Throttling as each protocol family reports it; EC2 has its own code and status.
_THROTTLE = {
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "cloud9": ("TooManyRequestsException", 400, "Rate exceeded"),
    "query": ("Throttling", 400, "Rate exceeded"),
    "json": ("ThrottlingException", 400, "Rate exceeded"),
}
_SERVER_ERROR = {
    "ec2": ("InternalError", 500, "An internal error has occurred"),
    "cloud9": ("InternalServerErrorException", 500, "Internal server error"),
    "ssm": ("InternalServerError", 500, "Internal server error"),
    "dynamodb": ("InternalServerError", 500, "Internal server error"),
}
_DEFAULT_SERVER_ERROR = ("InternalFailure", 500, "The request processing has failed because of an unknown error.")


def _frozen(ids: Optional[Iterable[str]]) -> FrozenSet[str]:
    return frozenset(i.lower() for i in ids or ())


@dataclass(frozen=True)
class FaultPlan:
    """seed: the replay key. throttle / server_error: the share (0..1) of calls that fail
    that way. dropped: the share of calls whose connection drops before the request is
    applied (ConnectionClosedError, nothing happens). lost_answer: the share of calls that
    are applied and whose answer is then lost (ConnectionClosedError, the effect stays).
    The four shares add up to at most 1. services: hyphenized service ids to affect (None: all).
    stuck_creating: cache cluster / replication group ids that never leave `creating`.
    create_failed: replication group ids that end `create-failed`, and Cloud9 environment
    names that end `CREATE_FAILED` with no instance (as when its stack cannot launch one).
    fail_first_delete: cache cluster ids whose first DeleteCacheCluster fails with
    InvalidCacheClusterState (as when a backup window is running).
    from_call: calls of an operation before this one (counted per operation) always pass,
    so a service can fail in the middle of a run (an S3 outage after the run began)."""

    seed: int
    throttle: float = 0.0
    server_error: float = 0.0
    dropped: float = 0.0
    lost_answer: float = 0.0
    services: Optional[Iterable[str]] = None
    stuck_creating: Iterable[str] = field(default=())
    create_failed: Iterable[str] = field(default=())
    fail_first_delete: Iterable[str] = field(default=())
    from_call: int = 0

    def __post_init__(self):
        shares = (self.throttle, self.server_error, self.dropped, self.lost_answer)
        if any(share < 0 for share in shares) or sum(shares) > 1:
            raise ValueError("throttle, server_error, dropped and lost_answer must be >= 0 and add up to at most 1")
        object.__setattr__(self, "services", None if self.services is None else frozenset(self.services))
        object.__setattr__(self, "stuck_creating", _frozen(self.stuck_creating))
        object.__setattr__(self, "create_failed", _frozen(self.create_failed))
        object.__setattr__(self, "fail_first_delete", _frozen(self.fail_first_delete))

    def draw(self, service: str, operation: str, n: int) -> Optional[str]:
        """'throttle', 'server_error', 'dropped', 'lost_answer' or None for the n-th call of
        service.operation (the later kinds take the shares above the earlier ones, so adding
        them leaves a seed's throttles and server errors where they were)."""
        if (self.services is not None and service not in self.services) or n < self.from_call:
            return None
        digest = hashlib.sha256(f"{self.seed}:{service}:{operation}:{n}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u < self.throttle:
            return "throttle"
        if u < self.throttle + self.server_error:
            return "server_error"
        if u < self.throttle + self.server_error + self.dropped:
            return "dropped"
        if u < self.throttle + self.server_error + self.dropped + self.lost_answer:
            return "lost_answer"
        return None


class FaultInjector:
    """Applies a FaultPlan; its call counters live in the world's store."""

    def __init__(self, plan: FaultPlan, store):
        self.plan = plan
        self.store = store
        self.lock = store.lock

    @property
    def state(self):
        """Looked up on each use: a persistent store reloads it in place."""
        state = self.store.section("faults")
        state.setdefault("calls", {})
        state.setdefault("failed_first_delete", [])
        return state

    def draw(self, service: str, operation: str) -> Optional[str]:
        """The fault of this attempt at service.operation (FaultPlan.draw), counted."""
        with self.lock:
            key = f"{service}.{operation}"
            n = self.state["calls"].get(key, 0)
            self.state["calls"][key] = n + 1
        return self.plan.draw(service, operation, n)

    @staticmethod
    def error_for(fault: str, service: str, protocol: str) -> Tuple[str, int, str]:
        """(code, HTTP status, message) of a 'throttle' or 'server_error' as `service` answers it."""
        if fault == "throttle":
            family = "query" if protocol in ("query", "ec2") else "json"
            return _THROTTLE.get(service) or _THROTTLE[family]
        return _SERVER_ERROR.get(service, _DEFAULT_SERVER_ERROR)

    def is_stuck(self, resource_id: str) -> bool:
        return resource_id.lower() in self.plan.stuck_creating

    def creation_fails(self, resource_id: str) -> bool:
        return resource_id.lower() in self.plan.create_failed

    def take_first_delete_failure(self, cluster_id: str) -> bool:
        """True exactly once per id listed in fail_first_delete."""
        cluster_id = cluster_id.lower()
        with self.lock:
            if cluster_id in self.plan.fail_first_delete and cluster_id not in self.state["failed_first_delete"]:
                self.state["failed_first_delete"].append(cluster_id)
                return True
        return False
