"""Human durations ("90s", "20m", "1h30m", 45) to seconds, and back.

Only finite, positive durations up to a maximum pass: NaN, infinities and 1e300 seconds
validate as numbers but cannot work as timeouts or waits. Callers pass a tighter maximum
where one is known (a step's timeout, a wait); nothing a lab tool measures exceeds a year.
"""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")
HOUR = 3600
DAY = 24 * HOUR
MAX_DURATION = 366 * DAY


def parse_duration(value, maximum: float = MAX_DURATION) -> float:
    """Seconds from an int/float (seconds) or a string like '20m', '1h30m', '45s', at most
    `maximum`. ValueError if not."""
    seconds = _seconds(value)
    if seconds > maximum:  # compared before float(): a 400-digit int would overflow it
        shown = str(value) if len(str(value)) <= 20 else "that"
        raise ValueError(f"{shown} is longer than the maximum of {format_limit(maximum)}")
    return float(seconds)


def _seconds(value):
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 20m or 1h")
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("a duration must be a number, not NaN")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError("a duration must be finite, not infinite")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return value
    text = str(value).strip().lower().replace(" ", "")
    if text.isdigit():
        return _seconds(int(text))
    if not text or _PART.sub("", text) != "":
        raise ValueError(f"'{value}' is not a duration like 90s, 20m or 1h30m")
    total = 0.0
    for number, unit in _PART.findall(text):
        total += float(number) * {"h": HOUR, "m": 60, "s": 1}[unit]
    if total <= 0:
        raise ValueError("a duration must be positive")
    return total


def parse_wait(value, maximum: float = MAX_DURATION) -> float:
    """Like parse_duration, but 0 (or '0s') is allowed: do not wait at all."""
    if not isinstance(value, bool) and str(value).strip().lower() in ("0", "0s", "0m", "0.0"):
        return 0.0
    return parse_duration(value, maximum)


def format_limit(seconds: float) -> str:
    """A maximum as people write it: '24h', '720h', '90m'."""
    if seconds % HOUR == 0:
        return f"{int(seconds // HOUR)}h"
    return f"{int(seconds // 60)}m" if seconds % 60 == 0 else f"{int(seconds)}s"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def parse_ttl(value) -> "float | None":
    """A lab's time to live: a duration, or 'none' (None: the lab never expires)."""
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    return parse_duration(value)
