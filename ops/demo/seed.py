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
    """Write every seed item (idempotent: puts overwrite), 25 per BatchWriteItem call,
    resending UnprocessedItems with exponential backoff. Returns the number of items."""
    items = seed_items()
    for start in range(0, len(items), BATCH_SIZE):
        pending = {table_name: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_SIZE]]}
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                sleep(min(0.05 * 2**attempt, 2.0))
            pending = dynamodb_client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            left = sum(len(requests) for requests in pending.values())
            raise SeedLoadError(
                f"{left} seed items were still unprocessed after {MAX_ATTEMPTS} "
                f"attempts (table {table_name!r} is being throttled)"
            )
    return len(items)
