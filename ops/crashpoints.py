"""Crash injection for the fault tests: OPS_CRASH_AT=EVENT[:STEP[:N]] makes ops SIGKILL itself
right after the N-th (default first) such event of that step is reported.

It exists so tests can kill a run at an exact point (a step boundary, the middle of a wait)
and prove that `ops teardown` still finds everything from the record. Unset, it does nothing.
"""

import os
import signal
from collections import Counter
from typing import Any, Dict, Optional

VARIABLE = "OPS_CRASH_AT"


class CrashPoint:
    def __init__(self, spec: str):
        parts = spec.split(":")
        self.event = parts[0]
        self.step = parts[1] if len(parts) > 1 and parts[1] else None
        self.nth = int(parts[2]) if len(parts) > 2 else 1
        self.seen: Counter = Counter()

    def __call__(self, name: str, _t: float, fields: Dict[str, Any]) -> None:
        if name != self.event or (self.step and fields.get("step") != self.step):
            return
        self.seen[name] += 1
        if self.seen[name] == self.nth:
            os.kill(os.getpid(), signal.SIGKILL)


def from_environment() -> Optional[CrashPoint]:
    spec = os.environ.get(VARIABLE)
    return CrashPoint(spec) if spec else None
