import json

import pytest

from ops.demo.entities import Restaurant, RestaurantSummary, Review
from ops.demo.payload import CACHE_VERSION, CacheFormatError, decode_summary, encode_summary, summary_key

SUMMARY = RestaurantSummary(
    Restaurant("The Vineyard", "Fine Dining", "12 Cellar Lane"),
    (Review("The Vineyard", "kgraham", "2020-05-14T15:01:52", 4, "Nice."),),
)


def test_key_is_namespaced_and_versioned():
    assert summary_key("The Vineyard") == f"ops-demo:v{CACHE_VERSION}:restaurant-summary:The Vineyard"


def test_value_carries_the_version_and_round_trips():
    raw = encode_summary(SUMMARY)
    assert json.loads(raw)["version"] == CACHE_VERSION
    assert decode_summary(raw.encode(), "The Vineyard") == SUMMARY


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "version None"),
        (json.dumps({**SUMMARY.to_dict(), "version": CACHE_VERSION + 1}), "version 2"),
        (json.dumps({"version": CACHE_VERSION, "restaurant": {}}), "wrong shape"),
        (json.dumps({"version": CACHE_VERSION, **SUMMARY.to_dict(), "reviews": [{"username": 1}]}), "wrong shape"),
    ],
)
def test_unreadable_values_are_rejected(raw, reason):
    with pytest.raises(CacheFormatError, match=reason):
        decode_summary(raw, "The Vineyard")


def test_a_summary_of_another_restaurant_is_rejected():
    with pytest.raises(CacheFormatError, match="holds 'The Vineyard'"):
        decode_summary(encode_summary(SUMMARY), "Casa Verde")
