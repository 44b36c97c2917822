"""Waiting for AWS resources: polls on a schedule, with a deadline, on an injectable clock.

botocore's waiters are used for *what* counts as ready (their acceptors), ops decides *when*
to poll: botocore's own loop sleeps a fixed 15 s for at most 10 minutes on the wall clock,
too short for real ElastiCache creations and too coarse to notice readiness quickly.
"""

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from .aws import error_code, is_throttling, is_transient
from .durations import format_duration

SUCCESS, FAILURE, RETRY = "success", "failure", "retry"


class WaitTimeout(Exception):
    def __init__(self, what: str, waited: float, status: str):
        super().__init__(f"{what} was still '{status}' after {format_duration(waited)}")
        self.status = status


class WaitFailed(Exception):
    pass


@dataclass(frozen=True)
class Schedule:
    """When to poll a resource expected to take about `expected` seconds.

    Sparse early (a few checkpoints at fractions of the expected time, to notice early
    success or failure), then every `dense` seconds from `checkpoints[-1]` x expected to
    `dense_until` x expected, where readiness is likely, so it is noticed within `dense`
    seconds; then backing off to `ceiling` for a resource that is long overdue. For a
    6-minute creation that was expected, that is 20 describe calls and at most 5 s of lag,
    where botocore's waiter spends 24 calls and notices up to 15 s late.
    """

    expected: float = 300.0
    dense: float = 5.0
    checkpoints: Tuple[float, ...] = (0.25, 0.5, 0.7, 0.8)
    dense_until: float = 1.25
    ceiling: float = 30.0

    def delay(self, elapsed: float) -> float:
        for fraction in self.checkpoints:
            due = fraction * self.expected
            if elapsed < due:
                return max(self.dense, due - elapsed)
        overdue = elapsed - self.dense_until * self.expected
        if overdue <= 0:
            return self.dense
        return min(self.ceiling, self.dense + overdue / 6)


def wait_until(
    clock,
    check: Callable[[], Tuple[str, str]],
    *,
    what: str,
    timeout: float,
    schedule: Schedule,
    on_poll: Optional[Callable[[str, float], None]] = None,
) -> str:
    """Poll check() -> (SUCCESS|FAILURE|RETRY, status) until success; return the last status.

    Throttling and transient errors count as RETRY with a doubled delay, so a waiter's
    throttling never fails the step. Raises WaitTimeout at the deadline, WaitFailed on FAILURE.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    started = clock.now()
    status = "unknown"
    backoff = 1.0
    while True:
        try:
            outcome, status = check()
            backoff = 1.0
        except (ClientError, BotoCoreError) as exc:  # only the transient ones are waited out (is_transient)
            if not is_transient(exc):
                raise
            outcome = RETRY
            status = f"{status} ({'throttled' if is_throttling(exc) else error_code(exc) or 'transient error'})"
            backoff = min(backoff * 2, 8.0)
        elapsed = clock.now() - started
        if on_poll:
            on_poll(status, elapsed)
        if outcome == SUCCESS:
            return status
        if outcome == FAILURE:
            raise WaitFailed(f"{what} reached '{status}'")
        remaining = timeout - elapsed
        if remaining <= 0:
            raise WaitTimeout(what, elapsed, status)
        clock.sleep(min(schedule.delay(elapsed) * backoff, remaining))


def waiter_check(
    aws, client, waiter_name: str, status_of: Callable[[dict], str], failed: Tuple[str, ...] = (), **params
):
    """A check() for wait_until built from a botocore waiter's acceptors; `failed`: statuses
    that end the wait as a failure although the waiter has no acceptor for them."""
    from botocore import xform_name
    from botocore.exceptions import ClientError

    config = client.get_waiter(waiter_name).config
    operation = getattr(client, xform_name(config.operation))

    def check() -> Tuple[str, str]:
        try:
            response = aws.call(operation, **params)
        except ClientError as exc:  # an error answer some acceptors match (e.g. not found: deleted)
            response = exc.response
            if not response or is_transient(exc):
                raise
        for acceptor in config.acceptors:
            if acceptor.matcher_func(response):
                if "Error" in response:
                    return acceptor.state, response["Error"].get("Code", "error")
                return acceptor.state, status_of(response)
        if "Error" in response:
            raise WaitFailed(f"{response['Error'].get('Code')}: {response['Error'].get('Message', '')}")
        status = status_of(response)
        return (FAILURE if status in failed else RETRY), status

    return check
