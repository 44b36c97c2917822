"""Cache-aside restaurant summaries: Redis in front of the DynamoDB table.

Redis is an optimisation, never a dependency: when it is down, slow or holds bad data, reads
are answered from DynamoDB and a warning is given instead of an error.
"""

import logging
import random
from dataclasses import dataclass
from typing import Callable, Optional

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .entities import RestaurantSummary, Review
from .payload import CacheFormatError, decode_summary, encode_summary, summary_key
from .table import ReviewTable

DEFAULT_TTL_S = 900
DEFAULT_JITTER = 0.10  # up to +10%, so keys written together do not all expire together
REDIS_TIMEOUT_S = 1.0

logger = logging.getLogger(__name__)


def redis_from_url(
    url: str, timeout_s: float = REDIS_TIMEOUT_S, password: Optional[str] = None, ca_file: Optional[str] = None
) -> redis.Redis:
    """A client for redis:// or rediss:// (TLS) URLs, password included, that gives up fast:
    short socket timeouts and no retries (redis-py retries 10 times by default).

    password: the AUTH token, when not in the URL (so it never has to be on a command line);
    ca_file: CAs to verify a rediss:// server against instead of the system's (dry runs)."""
    extra = {}
    if password is not None:
        extra["password"] = password
    if ca_file is not None and url.startswith("rediss://"):
        extra["ssl_ca_certs"] = ca_file
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0), **extra
    )


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # reads answered from DynamoDB, including while Redis was unusable
    errors: int = 0  # Redis operations that failed


@dataclass(frozen=True)
class Fetched:
    summary: RestaurantSummary
    cached: bool


class SummaryCache:
    def __init__(
        self,
        redis_client: redis.Redis,
        table: ReviewTable,
        *,
        ttl_s: int = DEFAULT_TTL_S,
        jitter: float = DEFAULT_JITTER,
        rng: Optional[random.Random] = None,
        warn: Optional[Callable[[str], None]] = None,
    ):
        self._redis = redis_client
        self._table = table
        self.ttl_s = ttl_s
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._warn = warn or logger.warning
        self.stats = CacheStats()

    def expiry_s(self) -> int:
        """The TTL for the next write: ttl_s plus a random jitter of up to jitter * ttl_s."""
        return round(self.ttl_s * (1 + self.jitter * self._rng.random()))

    def fetch_restaurant_summary(self, restaurant_name: str) -> Fetched:
        key = summary_key(restaurant_name)
        try:
            raw = self._redis.get(key)
        except RedisError as exc:
            self._redis_failed(f"could not read {key}; answering from DynamoDB", exc)
            return Fetched(self._read_table(restaurant_name), cached=False)
        if raw is not None:
            try:
                summary = decode_summary(raw, restaurant_name)
            except CacheFormatError as exc:
                self._warn(f"ignoring unreadable cache entry {key} ({exc}); overwriting it")
            else:
                self.stats.hits += 1
                return Fetched(summary, cached=True)
        summary = self._read_table(restaurant_name)
        # On a plain miss, write only if still absent: a concurrent add_review may have just
        # stored a newer summary than the one this read fetched, and it must win.
        self._store(key, summary, only_if_absent=raw is None)
        return Fetched(summary, cached=False)

    def add_review(self, review: Review) -> RestaurantSummary:
        """Write the review to DynamoDB, then write the fresh summary through to the cache.
        If the cache cannot be updated the key is deleted, so no reader gets a stale summary."""
        self._table.put_review(review)
        key = summary_key(review.restaurant)
        try:
            summary = self._table.fetch_summary(review.restaurant, consistent=True)
        except Exception:  # noqa: BLE001 - whatever failed, no stale summary stays cached; re-raised
            self._discard(key)
            raise
        if not self._store(key, summary, only_if_absent=False):
            self._discard(key)
        return summary

    def invalidate(self, restaurant_name: str) -> None:
        self._discard(summary_key(restaurant_name))

    def ttl_remaining(self, restaurant_name: str) -> Optional[int]:
        """Seconds until the cached summary expires; None if it is absent or Redis is unusable."""
        try:
            seconds = self._redis.ttl(summary_key(restaurant_name))
        except RedisError as exc:
            self._redis_failed("could not read the key's TTL", exc)
            return None
        return seconds if seconds >= 0 else None

    def _read_table(self, restaurant_name: str) -> RestaurantSummary:
        summary = self._table.fetch_summary(restaurant_name)
        self.stats.misses += 1
        return summary

    def _store(self, key: str, summary: RestaurantSummary, *, only_if_absent: bool) -> bool:
        try:
            self._redis.set(key, encode_summary(summary), ex=self.expiry_s(), nx=only_if_absent)
        except RedisError as exc:
            self._redis_failed(f"could not write {key}", exc)
            return False
        return True

    def _discard(self, key: str) -> None:
        try:
            self._redis.delete(key)
        except RedisError as exc:
            self._redis_failed(
                f"could not delete {key} (a copy left in Redis expires within {self.ttl_s * (1 + self.jitter):.0f} s)",
                exc,
            )

    def _redis_failed(self, what: str, exc: RedisError) -> None:
        self.stats.errors += 1
        self._warn(f"Redis unavailable ({type(exc).__name__}: {exc}): {what}")
