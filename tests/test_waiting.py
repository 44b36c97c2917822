"""Waiting: deadlines, throttling tolerance and the poll schedule, on a virtual clock."""

import pytest
from botocore.exceptions import ClientError

from ops.clock import VirtualClock
from ops.waiting import FAILURE, RETRY, SUCCESS, Schedule, WaitFailed, WaitTimeout, wait_until


def throttled():
    return ClientError(
        {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "DescribeCacheClusters",
    )


def test_waits_until_ready_and_reports_each_poll():
    clock = VirtualClock()
    polls = []

    def check():
        return (SUCCESS, "available") if clock.now() >= 400 else (RETRY, "creating")

    status = wait_until(
        clock,
        check,
        what="cluster",
        timeout=3600,
        schedule=Schedule(expected=420),
        on_poll=lambda s, t: polls.append((s, t)),
    )
    assert status == "available"
    assert polls[-1][0] == "available"
    assert 400 <= clock.now() <= 405  # noticed within the dense interval
    assert all(s == "creating" for s, _ in polls[:-1])


def test_throttling_during_a_wait_does_not_fail_it():
    clock = VirtualClock()
    calls = {"n": 0}

    def check():
        calls["n"] += 1
        if calls["n"] % 2:
            raise throttled()
        return (SUCCESS, "ready") if clock.now() > 60 else (RETRY, "creating")

    assert wait_until(clock, check, what="env", timeout=600, schedule=Schedule(expected=60)) == "ready"


def test_deadline_raises_with_last_status():
    clock = VirtualClock()
    with pytest.raises(WaitTimeout) as caught:
        wait_until(clock, lambda: (RETRY, "creating"), what="cluster x", timeout=120, schedule=Schedule(expected=60))
    assert caught.value.status == "creating"
    assert clock.now() == pytest.approx(120)
    assert "cluster x was still 'creating' after 2m00s" in str(caught.value)


def test_failure_state_stops_at_once():
    clock = VirtualClock()
    with pytest.raises(WaitFailed, match="create-failed"):
        wait_until(clock, lambda: (FAILURE, "create-failed"), what="x", timeout=600, schedule=Schedule())
    assert clock.now() == 0


def test_other_errors_are_not_swallowed():
    def check():
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Describe")

    with pytest.raises(ClientError):
        wait_until(VirtualClock(), check, what="x", timeout=600, schedule=Schedule())


def test_schedule_is_sparse_early_and_dense_near_the_expected_time():
    schedule = Schedule(expected=360)
    assert schedule.delay(100) > schedule.delay(300)
    assert schedule.delay(300) == schedule.dense
    assert schedule.delay(2000) == schedule.ceiling  # long overdue: back off


def _detect(ready_at: float, expected: float):
    """(describe calls, seconds between readiness and the poll that saw it)."""
    schedule, t, calls = Schedule(expected=expected), 0.0, 0
    while True:
        calls += 1
        if t >= ready_at:
            return calls, t - ready_at
        t += schedule.delay(t)


@pytest.mark.parametrize("ready_at", [0.8 * 360, 0.9 * 360, 360, 400, 1.25 * 360])
def test_readiness_near_the_expected_time_is_noticed_within_the_dense_interval(ready_at):
    calls, lag = _detect(ready_at, expected=360)
    assert lag <= Schedule().dense


def test_a_six_minute_creation_costs_at_most_24_describe_calls():
    calls, lag = _detect(360, expected=360)
    assert calls <= 24 and lag <= 5
    waiter_calls = 360 // 15 + 1  # botocore's fixed 15 s waiter
    assert calls < waiter_calls
