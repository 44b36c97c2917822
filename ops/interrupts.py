"""Ctrl-C and SIGTERM during a run: the first asks for a stop at the next safe point, the
second stops at once.

A safe point is between two AWS calls: a running create call finishes and is recorded, a
wait stops between polls, no new step starts. The record is consistent either way, since
every write of it is atomic.
"""

import signal
import threading
from contextlib import contextmanager

import click

stop_requested = threading.Event()


@contextmanager
def graceful_interrupts():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stop_requested.clear()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, _frame):
        if stop_requested.is_set():
            raise KeyboardInterrupt
        stop_requested.set()
        click.echo("ops: stopping at the next safe point (press Ctrl-C again to stop at once)...", err=True)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        stop_requested.clear()
