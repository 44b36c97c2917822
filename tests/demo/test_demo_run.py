from ops.demo.run import run_demo


def test_run_demo_prints_the_uncached_then_the_cached_pass_and_a_report(
    local_redis, redis_client, seeded_table, dynamodb, vineyard_lines
):
    redis_client.set("ops-demo:v1:restaurant-summary:The Vineyard", "left over from an earlier run")
    lines = []
    report = run_demo(local_redis.url, seeded_table.name, dynamodb, reads=10, ttl=300, echo=lines.append)

    assert lines[:14] == (["Using uncached result!"] + vineyard_lines + ["Using cached result!"] + vineyard_lines)
    assert (report["hits"], report["misses"], report["cache_errors"]) == (11, 1, 0)
    assert report["redis_ok"] is True and report["reads"] == 10
    assert 0 < report["cached_p50_ms"] <= report["cached_p95_ms"]
    assert 0 < report["db_p50_ms"] <= report["db_p95_ms"]
    assert 290 < report["ttl_remaining"] <= 330
    assert "  cache hits / misses:  11 / 1" in lines[14:]
    assert any(line.startswith("  cached read   x10:  p50 ") for line in lines[14:])
    assert any(line.startswith("  database read x10:  p50 ") for line in lines[14:])


def test_run_demo_without_redis_still_answers_and_reports_it(seeded_table, dynamodb, closed_port_url, vineyard_lines):
    lines, warnings = [], []
    report = run_demo(closed_port_url, seeded_table.name, dynamodb, reads=3, echo=lines.append, warn=warnings.append)
    assert lines[:14] == (["Using uncached result!"] + vineyard_lines) * 2
    assert report["redis_ok"] is False and report["hits"] == 0 and report["misses"] == 2
    assert report["cached_p50_ms"] is None and report["ttl_remaining"] is None
    assert report["db_p50_ms"] is not None
    assert "  cached read   x3:  skipped (Redis unavailable)" in lines
    assert warnings and all("Redis unavailable" in w for w in warnings)
