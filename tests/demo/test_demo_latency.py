import pytest

from ops.demo.latency import percentile, time_calls_ms


def test_percentile_is_nearest_rank():
    samples = [float(n) for n in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_time_calls_ms_calls_count_times():
    calls = []
    samples = time_calls_ms(lambda: calls.append(1), 7)
    assert len(calls) == len(samples) == 7
    assert all(s >= 0 for s in samples)
