"""The demo's sample data (seed.json) and a BatchWriteItem loader for it."""

import json
import time
from importlib import resources
from typing import Callable, List, Union

from .entities import Restaurant, Review
from .table import restaurant_item, review_item

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 8


class SeedLoadError(RuntimeError):
    pass


def seed_entities() -> List[Union[Restaurant, Review]]:
    data = json.loads(resources.files("ops.demo").joinpath("seed.json").read_text(encoding="utf-8"))
    entities: List[Union[Restaurant, Review]] = []
    for entry in data["restaurants"]:
        restaurant = Restaurant.from_dict(entry)
        entities.append(restaurant)
        entities.extend(Review.from_dict({**review, "restaurant": restaurant.name}) for review in entry["reviews"])
    return entities


def seed_items() -> List[dict]:
    return [restaurant_item(e) if isinstance(e, Restaurant) else review_item(e) for e in seed_entities()]


def load_seed(dynamodb_client, table_name: str, *, sleep: Callable[[float], None] = time.sleep) -> int:
    """Write every seed item (idempotent: puts overwrite), 25 per BatchWriteItem call.
    Returns the number of items."""
    items = seed_items()
    for start in range(0, len(items), BATCH_SIZE):
        _write_batch(dynamodb_client, table_name, items[start : start + BATCH_SIZE], sleep)
    return len(items)


def _write_batch(dynamodb_client, table_name: str, batch: List[dict], sleep: Callable[[float], None]) -> None:
    """One batch, its UnprocessedItems re-sent with exponential backoff. A BatchWriteItem that
    leaves items unprocessed (a throttled partition) was answered 200, so the client's own
    retries (botocore's, for throttled or failed calls) never see it: this is the one retry
    layer of the demo's own."""
    from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_exponential

    pending = {table_name: [{"PutRequest": {"Item": item}} for item in batch]}

    def write() -> dict:
        nonlocal pending
        pending = dynamodb_client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        return pending

    retrying = Retrying(
        retry=retry_if_result(bool),
        stop=stop_after_attempt(MAX_ATTEMPTS),
        wait=wait_exponential(multiplier=0.05, max=2.0),
        sleep=sleep,
    )
    try:
        retrying(write)
    except RetryError:
        left = sum(len(requests) for requests in pending.values())
        raise SeedLoadError(
            f"{left} seed items were still unprocessed after {MAX_ATTEMPTS} "
            f"attempts (table {table_name!r} is being throttled)"
        ) from None
