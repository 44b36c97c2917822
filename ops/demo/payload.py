"""The cache's wire format: a namespaced, versioned key and a versioned JSON value.

Bump CACHE_VERSION when the value's shape changes: new code then reads under a new key,
and anything it finds with another version inside is treated as a miss.
"""

import json
from typing import Union

from .entities import RestaurantSummary

CACHE_VERSION = 1
KEY_NAMESPACE = "ops-demo"


class CacheFormatError(ValueError):
    """The cached value is not a summary this code can read."""


def summary_key(restaurant_name: str) -> str:
    return f"{KEY_NAMESPACE}:v{CACHE_VERSION}:restaurant-summary:{restaurant_name}"


def encode_summary(summary: RestaurantSummary) -> str:
    return json.dumps({"version": CACHE_VERSION, **summary.to_dict()}, ensure_ascii=False, separators=(",", ":"))


def decode_summary(raw: Union[bytes, str], restaurant_name: str) -> RestaurantSummary:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheFormatError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise CacheFormatError(f"version {version!r}, expected {CACHE_VERSION}")
    try:
        summary = RestaurantSummary.from_dict(data)
    except ValueError as exc:
        raise CacheFormatError(f"wrong shape: {exc}") from None
    if summary.restaurant.name != restaurant_name:
        raise CacheFormatError(f"holds {summary.restaurant.name!r}, expected {restaurant_name!r}")
    return summary
