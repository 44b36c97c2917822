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
    assert 400 <= clock.now() <= 400 + 30  # within 10 % of the time it took, at most 30 s
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


def test_schedule_polls_every_5_s_then_10_percent_then_every_30_s():
    schedule = Schedule(expected=3600)
    assert schedule.delay(0) == schedule.delay(45) == 5
    assert schedule.delay(120) == pytest.approx(12)
    assert schedule.delay(2000) == schedule.delay(9000) == 30  # long overdue: the ceiling
    assert Schedule(expected=360).delay(350) == 10  # lands on the expected time
