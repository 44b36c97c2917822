"""Waiting for AWS resources: polls on a schedule, with a deadline, on an injectable clock.

botocore's waiters are used for *what* counts as ready (their acceptors), ops decides *when*
to poll: botocore's own loop sleeps a fixed 15 s for at most 10 minutes on the wall clock,
too short for real ElastiCache creations and too coarse to notice readiness quickly.
"""

from __future__ import annotations

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

    Every `floor` seconds at first, then `ratio` of the time waited so far, never more than
    `ceiling` apart, and once at exactly the expected time. Whenever the resource turns out
    to be ready, after `a` seconds, the poll that sees it comes at most
    min(ceiling, max(floor, ratio * a)) later: within 5 s or 10 % of the time it took, and
    never more than 30 s, however wrong the expectation (tests/test_poll_schedule.py). A
    resource that takes exactly as long as expected is seen at once.

    The price: keeping every lag within max(5 s, 10 %) allows each poll at most
    max(5, 0.1 * p) after the one at p, so the fewest possible polls are 0, 5, 10 ... 50,
    then 10 % further each: 32 describe calls to see a resource ready at 6 minutes, more
    than the 24 hoped for in issue 16 (and botocore's fixed 15 s waiter's 25, which may be
    15 s late; 24 calls would need a bound of max(5 s, 16 %)). This schedule makes
    exactly those fewest calls up to 300 s; after that the ceiling costs a few more (56
    calls to 18 minutes rather than 44), to bound the lag at 30 s; the poll at the expected
    time costs at most one more. A resource long overdue is polled every 30 s: 2 calls a
    minute however long the wait.

    Just after the expected time (for `near` seconds) polls come every `floor` seconds: an
    expectation learned from earlier runs (ops/engine/wait_history.py) is the middle of the
    last interval those runs polled across, so readiness is as likely a moment after it as
    before, and is then seen within `floor` (two calls more at most).
    """

    expected: float = 300.0
    floor: float = 5.0
    ratio: float = 0.1
    ceiling: float = 30.0
    near: float = 10.0

    def delay(self, elapsed: float) -> float:
        gap = min(self.ceiling, max(self.floor, self.ratio * elapsed))
        if self.expected - 1e-6 <= elapsed < self.expected + self.near:
            gap = self.floor
        until_expected = self.expected - elapsed
        if 1e-6 < until_expected < gap:  # not for a poll that was already at it (float noise)
            return until_expected
        return gap


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
    aws,
    client,
    waiter_name: str,
    status_of: Callable[[dict], str],
    failed: Tuple[str, ...] = (),
    answer: Optional[Callable[[], dict]] = None,
    **params,
):
    """A check() for wait_until built from a botocore waiter's acceptors; `failed`: statuses
    that end the wait as a failure although the waiter has no acceptor for them. answer():
    the waiter's describe response for its resource (or the error that call raises), in place
    of calling it with `params` (a SharedDescribe's answer, ops/shared_describe.py)."""
    from botocore import xform_name
    from botocore.exceptions import ClientError

    config = client.get_waiter(waiter_name).config
    operation = getattr(client, xform_name(config.operation))
    describe = answer or (lambda: aws.call(operation, **params))

    def check() -> Tuple[str, str]:
        try:
            response = describe()
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
