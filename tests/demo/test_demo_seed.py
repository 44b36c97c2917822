import pytest

from ops.demo.entities import Restaurant, Review
from ops.demo.seed import BATCH_SIZE, MAX_ATTEMPTS, SeedLoadError, load_seed, seed_entities, seed_items


def test_seed_has_several_restaurants_and_the_vineyard_has_more_than_five_reviews():
    entities = seed_entities()
    restaurants = [e for e in entities if isinstance(e, Restaurant)]
    vineyard_reviews = [e for e in entities if isinstance(e, Review) and e.restaurant == "The Vineyard"]
    assert len(restaurants) >= 4
    assert all(any(isinstance(e, Review) and e.restaurant == r.name for e in entities) for r in restaurants)
    assert len(vineyard_reviews) > 5


def test_loader_writes_every_seed_item(dynamodb, empty_table):
    written = load_seed(dynamodb, empty_table.name)
    stored = dynamodb.scan(TableName=empty_table.name)["Items"]
    assert written == len(seed_items()) > BATCH_SIZE
    key = lambda item: (item["PK"]["S"], item["SK"]["S"])  # noqa: E731
    assert sorted(stored, key=key) == sorted(seed_items(), key=key)


class FlakyClient:
    """A BatchWriteItem that leaves the last request of each call unprocessed, `flakes` times."""

    def __init__(self, flakes: int):
        self.flakes = flakes
        self.calls = []

    def batch_write_item(self, RequestItems):
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if self.flakes:
            self.flakes -= 1
            return {"UnprocessedItems": {table: requests[-1:]}}
        return {"UnprocessedItems": {}}


def test_loader_batches_by_25_and_resends_unprocessed_items():
    client, pauses = FlakyClient(flakes=2), []
    load_seed(client, "t", sleep=pauses.append)
    total = len(seed_items())
    assert client.calls == [BATCH_SIZE, 1, 1, total - BATCH_SIZE]
    assert pauses == sorted(pauses) and len(pauses) == 2


def test_loader_gives_up_when_items_stay_unprocessed():
    with pytest.raises(SeedLoadError, match="1 seed items were still unprocessed"):
        load_seed(FlakyClient(flakes=MAX_ATTEMPTS), "t", sleep=lambda s: None)
