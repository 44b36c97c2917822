"""Wall-clock timing of repeated calls, summarised as percentiles."""

import math
import time
from typing import Callable, List, Sequence


def time_calls_ms(call: Callable[[], object], count: int) -> List[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least pct% of samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]
