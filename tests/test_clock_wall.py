"""The calendar as a run's clock sees it (Clock.wall): what --ttl expiries are measured on."""

import time

from harness import move_calendar

import ops.clock
from ops.clock import VirtualClock, WallClock


def test_the_wall_clock_reads_the_calendar(monkeypatch):
    before = time.time()
    assert before <= WallClock().wall() <= time.time()
    move_calendar(monkeypatch, 3600)
    assert WallClock().wall() >= before + 3600


def test_simulated_time_passes_on_a_virtual_clocks_calendar(monkeypatch):
    monkeypatch.setattr(ops.clock, "calendar", lambda: 1_000_000.0)
    clock = VirtualClock()
    assert clock.wall() == 1_000_000.0
    clock.sleep(726)  # a lab's simulated twelve minutes
    assert clock.wall() == 1_000_726.0


def test_a_resumed_accounts_past_is_not_this_processs_future(monkeypatch):
    """A simulated account reopened at its time 5000 resumes there; the calendar does not
    jump 5000 s ahead."""
    monkeypatch.setattr(ops.clock, "calendar", lambda: 2_000_000.0)
    clock = VirtualClock()
    clock.advance_to(5000)
    assert clock.now() == 5000 and clock.wall() == 2_000_000.0
    clock.sleep(60)
    assert clock.wall() == 2_000_060.0
