import pytest

from ops.demo.entities import Restaurant, Review
from ops.demo.table import (
    DuplicateReview,
    RestaurantNotFound,
    entity_from_item,
    restaurant_item,
    review_item,
    table_definition,
)

VINEYARD = Restaurant("The Vineyard", "Fine Dining", "12 Cellar Lane, Napa, CA")


def test_table_definition_is_what_create_table_needs(dynamodb):
    dynamodb.create_table(TableName="t", **table_definition())
    table = dynamodb.describe_table(TableName="t")["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_one_query_returns_the_restaurant_and_its_five_latest_reviews_newest_first(seeded_table, vineyard_lines):
    assert seeded_table.fetch_summary("The Vineyard").lines() == vineyard_lines


def test_restaurant_sort_key_is_the_greatest_in_its_partition():
    # A descending query yields the restaurant first only if its SK outranks every review's.
    latest_possible = Review(VINEYARD.name, "~~~", "9999-12-31T23:59:59", 1, "")
    assert restaurant_item(VINEYARD)["SK"]["S"].encode() > review_item(latest_possible)["SK"]["S"].encode()


def test_items_convert_back_to_entities():
    review = Review("The Vineyard", "amy", "2021-01-02T03:04:05", 3, "Fine.")
    assert entity_from_item(review_item(review)) == review
    assert entity_from_item(restaurant_item(VINEYARD)) == VINEYARD


def test_summary_of_a_restaurant_with_few_reviews_has_them_all(seeded_table):
    summary = seeded_table.fetch_summary("Smoke & Barrel")
    assert [r.username for r in summary.reviews] == ["jwhite", "sgarcia"]


def test_unknown_restaurant_raises(seeded_table):
    with pytest.raises(RestaurantNotFound, match="'Nowhere'"):
        seeded_table.fetch_summary("Nowhere")


def test_put_review_checks_the_restaurant_exists(seeded_table, dynamodb):
    with pytest.raises(RestaurantNotFound):
        seeded_table.put_review(Review("Nowhere", "amy", "2021-01-02T03:04:05", 3, "?"))
    orphans = dynamodb.query(
        TableName=seeded_table.name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "RESTAURANT#Nowhere"}},
    )
    assert orphans["Items"] == []


def test_put_review_refuses_a_duplicate(seeded_table):
    review = Review("The Vineyard", "amy", "2021-01-02T03:04:05", 3, "Fine.")
    seeded_table.put_review(review)
    with pytest.raises(DuplicateReview):
        seeded_table.put_review(review)
