"""The demo run: fetch a summary twice (uncached, then cached), then time and report."""

import logging
from typing import Callable, Optional

from .cache import SummaryCache, redis_from_url
from .latency import percentile, time_calls_ms
from .payload import summary_key
from .table import ReviewTable

logger = logging.getLogger(__name__)


def run_demo(
    redis_url: str,
    table_name: str,
    dynamodb_client,
    restaurant: str = "The Vineyard",
    reads: int = 50,
    ttl: int = 900,
    echo: Callable[[str], None] = print,
    *,
    warn: Optional[Callable[[str], None]] = None,
    redis_password: Optional[str] = None,
    ca_file: Optional[str] = None,
) -> dict:
    """Print both passes and the report through echo; return the report.

    The key is deleted first so the first pass always shows the miss, however often the demo
    has run before. Cached timings are skipped when Redis failed (they would time DynamoDB).
    redis_password: the AUTH token (kept out of the URL); ca_file: see redis_from_url.
    """
    table = ReviewTable(dynamodb_client, table_name)
    cache = SummaryCache(
        redis_from_url(redis_url, password=redis_password, ca_file=ca_file),
        table,
        ttl_s=ttl,
        warn=warn or logger.warning,
    )
    cache.invalidate(restaurant)
    for _ in range(2):
        fetched = cache.fetch_restaurant_summary(restaurant)
        echo("Using cached result!" if fetched.cached else "Using uncached result!")
        for line in fetched.summary.lines():
            echo(line)

    cached_ms = (
        time_calls_ms(lambda: cache.fetch_restaurant_summary(restaurant), reads) if cache.stats.errors == 0 else []
    )
    db_ms = time_calls_ms(lambda: table.fetch_summary(restaurant), reads)
    report = {
        "restaurant": restaurant,
        "key": summary_key(restaurant),
        "reads": reads,
        "hits": cache.stats.hits,
        "misses": cache.stats.misses,
        "cache_errors": cache.stats.errors,
        "cached_p50_ms": _rounded(percentile(cached_ms, 50)) if cached_ms else None,
        "cached_p95_ms": _rounded(percentile(cached_ms, 95)) if cached_ms else None,
        "db_p50_ms": _rounded(percentile(db_ms, 50)),
        "db_p95_ms": _rounded(percentile(db_ms, 95)),
        "ttl": ttl,
        "ttl_remaining": cache.ttl_remaining(restaurant),
    }
    report["redis_ok"] = cache.stats.errors == 0
    for line in report_lines(report):
        echo(line)
    return report


def report_lines(report: dict) -> list:
    if report["cached_p50_ms"] is None:
        cached = "skipped (Redis unavailable)"
    else:
        cached = f"p50 {report['cached_p50_ms']} ms, p95 {report['cached_p95_ms']} ms"
    if report["ttl_remaining"] is None:
        expiry = "unknown" if not report["redis_ok"] else "not cached"
    else:
        expiry = f"{report['ttl_remaining']} s remaining (TTL {report['ttl']} s + jitter)"
    return [
        "",
        "Report",
        f"  cache hits / misses:  {report['hits']} / {report['misses']}"
        + ("" if report["redis_ok"] else f"  (Redis errors: {report['cache_errors']})"),
        f"  cached read   x{report['reads']}:  {cached}",
        f"  database read x{report['reads']}:  p50 {report['db_p50_ms']} ms, p95 {report['db_p95_ms']} ms",
        f"  key {report['key']}:  {expiry}",
    ]


def _rounded(ms: float) -> float:
    return round(ms, 3)
