"""Human durations ("90s", "20m", "1h30m", 45) to seconds, and back."""
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")


def parse_duration(value) -> float:
    """Seconds from an int/float (seconds) or a string like '20m', '1h30m', '45s'. ValueError if not."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 20m or 1h")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if text.isdigit():
        return parse_duration(int(text))
    if not text or _PART.sub("", text) != "":
        raise ValueError(f"'{value}' is not a duration like 90s, 20m or 1h30m")
    total = 0.0
    for number, unit in _PART.findall(text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    if total <= 0:
        raise ValueError("a duration must be positive")
    return total


def parse_wait(value) -> float:
    """Like parse_duration, but 0 (or '0s') is allowed: do not wait at all."""
    if not isinstance(value, bool) and str(value).strip().lower() in ("0", "0s", "0m", "0.0"):
        return 0.0
    return parse_duration(value)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
