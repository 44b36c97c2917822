import json

import pytest
import redis

from ops.demo.cache import SummaryCache, redis_from_url
from ops.demo.entities import Review
from ops.demo.payload import CACHE_VERSION, summary_key

KEY = summary_key("The Vineyard")
NEW_REVIEW = Review("The Vineyard", "newcomer", "2020-06-01T09:00:00", 5, "Came back twice.")


@pytest.fixture
def warnings():
    return []


@pytest.fixture
def cache(redis_client, seeded_table, warnings, fixed_rng):
    return SummaryCache(redis_client, seeded_table, ttl_s=900, rng=fixed_rng(0.5), warn=warnings.append)


def cached_usernames(redis_client):
    return [r["username"] for r in json.loads(redis_client.get(KEY))["reviews"]]


def test_first_read_misses_and_the_second_hits(cache, redis_client, vineyard_lines):
    first = cache.fetch_restaurant_summary("The Vineyard")
    assert not first.cached and redis_client.exists(KEY)
    second = cache.fetch_restaurant_summary("The Vineyard")
    assert second.cached
    assert first.summary == second.summary and second.summary.lines() == vineyard_lines
    assert (cache.stats.hits, cache.stats.misses, cache.stats.errors) == (1, 1, 0)


def test_cached_value_is_versioned_json(cache, redis_client):
    cache.fetch_restaurant_summary("The Vineyard")
    payload = json.loads(redis_client.get(KEY))
    assert payload["version"] == CACHE_VERSION
    assert payload["restaurant"]["cuisine"] == "Fine Dining" and len(payload["reviews"]) == 5


def test_key_carries_the_configured_ttl_plus_jitter(cache, redis_client):
    cache.fetch_restaurant_summary("The Vineyard")
    assert cache.expiry_s() == 945  # 900 s + 0.5 of the 10% jitter band
    assert 900 < redis_client.ttl(KEY) <= 945


@pytest.mark.parametrize("draw, expected", [(0.0, 900), (0.999999, 990)])
def test_jitter_stays_within_ten_percent(redis_client, seeded_table, fixed_rng, draw, expected):
    cache = SummaryCache(redis_client, seeded_table, ttl_s=900, rng=fixed_rng(draw))
    assert cache.expiry_s() == expected


def test_default_rng_ttl_lands_in_the_jitter_band(redis_client, seeded_table):
    SummaryCache(redis_client, seeded_table, ttl_s=600).fetch_restaurant_summary("The Vineyard")
    assert 590 < redis_client.ttl(KEY) <= 660


@pytest.mark.parametrize("drop", ["expire", "delete"])
def test_after_the_key_expires_or_is_deleted_the_next_read_misses(cache, redis_client, drop):
    cache.fetch_restaurant_summary("The Vineyard")
    if drop == "expire":
        redis_client.expire(KEY, 0)  # a non-positive TTL expires the key at once
    else:
        cache.invalidate("The Vineyard")
    assert not redis_client.exists(KEY)
    assert not cache.fetch_restaurant_summary("The Vineyard").cached
    assert cache.fetch_restaurant_summary("The Vineyard").cached
    assert cache.stats.misses == 2


@pytest.mark.parametrize(
    "bad",
    [
        b"not json at all",
        json.dumps({"version": CACHE_VERSION + 1, "restaurant": {}, "reviews": []}),
        json.dumps({"version": CACHE_VERSION, "restaurant": {"name": "The Vineyard"}, "reviews": []}),
    ],
)
def test_bad_data_in_the_cache_is_a_miss_and_is_overwritten(cache, redis_client, warnings, vineyard_lines, bad):
    redis_client.set(KEY, bad)
    fetched = cache.fetch_restaurant_summary("The Vineyard")
    assert not fetched.cached and fetched.summary.lines() == vineyard_lines
    assert json.loads(redis_client.get(KEY))["version"] == CACHE_VERSION
    assert redis_client.ttl(KEY) > 0
    assert cache.fetch_restaurant_summary("The Vineyard").cached
    assert len(warnings) == 1 and "unreadable cache entry" in warnings[0]


def test_new_review_is_written_through_to_the_cached_summary(cache, redis_client, seeded_table):
    cache.fetch_restaurant_summary("The Vineyard")
    cache.add_review(NEW_REVIEW)
    assert cached_usernames(redis_client) == ["newcomer", "markmartin", "kgraham", "ewilliams", "hannah21"]
    assert redis_client.ttl(KEY) > 0
    fetched = cache.fetch_restaurant_summary("The Vineyard")
    assert fetched.cached and fetched.summary.reviews[0] == NEW_REVIEW
    assert len(fetched.summary.reviews) == 5
    assert seeded_table.fetch_summary("The Vineyard").reviews[0] == NEW_REVIEW


class SetFails:
    """A Redis client whose SET fails; everything else passes through."""

    def __init__(self, client):
        self._client = client

    def set(self, *args, **kwargs):
        raise redis.ConnectionError("injected SET failure")

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_when_write_through_fails_the_stale_summary_is_deleted(cache, redis_client, seeded_table, warnings):
    cache.fetch_restaurant_summary("The Vineyard")
    failing = SummaryCache(SetFails(redis_client), seeded_table, warn=warnings.append)
    failing.add_review(NEW_REVIEW)
    assert not redis_client.exists(KEY)
    assert "injected SET failure" in warnings[0]
    fetched = cache.fetch_restaurant_summary("The Vineyard")
    assert not fetched.cached and fetched.summary.reviews[0] == NEW_REVIEW


class WriterDuringRead:
    """A table that lets a writer commit right after a reader's (now stale) query."""

    def __init__(self, table, write):
        self._table, self._write = table, write

    def fetch_summary(self, name, consistent=False):
        summary = self._table.fetch_summary(name, consistent)
        write, self._write = self._write, None
        if write:
            write()
        return summary


def test_a_slow_reader_does_not_overwrite_a_newer_written_through_summary(cache, redis_client, seeded_table):
    reader = SummaryCache(redis_client, WriterDuringRead(seeded_table, lambda: cache.add_review(NEW_REVIEW)))
    stale = reader.fetch_restaurant_summary("The Vineyard")
    assert NEW_REVIEW not in stale.summary.reviews
    assert cached_usernames(redis_client)[0] == "newcomer"


def test_redis_unavailable_answers_from_dynamodb_with_a_warning(seeded_table, closed_port_url, vineyard_lines, caplog):
    cache = SummaryCache(redis_from_url(closed_port_url), seeded_table)
    with caplog.at_level("WARNING", logger="ops.demo.cache"):
        fetched = cache.fetch_restaurant_summary("The Vineyard")
    assert not fetched.cached and fetched.summary.lines() == vineyard_lines
    assert "Redis unavailable" in caplog.text and "answering from DynamoDB" in caplog.text
    assert (cache.stats.hits, cache.stats.misses, cache.stats.errors) == (0, 1, 1)
    assert cache.ttl_remaining("The Vineyard") is None


def test_a_review_is_still_stored_when_redis_is_unavailable(seeded_table, closed_port_url, warnings):
    cache = SummaryCache(redis_from_url(closed_port_url), seeded_table, warn=warnings.append)
    summary = cache.add_review(NEW_REVIEW)
    assert summary.reviews[0] == NEW_REVIEW
    assert seeded_table.fetch_summary("The Vineyard").reviews[0] == NEW_REVIEW
    assert any("could not delete" in w for w in warnings)


def test_redis_client_takes_tls_urls_with_a_password_and_gives_up_fast():
    from redis.connection import SSLConnection

    client = redis_from_url("rediss://:s3cret@cache.example.internal:6379/0", timeout_s=0.5)
    pool = client.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["password"] == "s3cret"
    assert pool.connection_kwargs["socket_timeout"] == pool.connection_kwargs["socket_connect_timeout"] == 0.5
    assert pool.connection_kwargs["retry"].get_retries() == 0
