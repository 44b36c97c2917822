"""The single-table DynamoDB layout that serves a restaurant summary with one Query.

    item        PK                   SK
    restaurant  RESTAURANT#<name>    RESTAURANT#<name>
    review      RESTAURANT#<name>    #REVIEW#<timestamp>#<username>

DynamoDB orders sort keys by UTF-8 bytes and "#" (0x23) sorts before "R" (0x52), so querying
the partition in DESCENDING order yields the restaurant item first, then the reviews newest
first (fixed-width timestamps order as text). `Limit = 1 + 5` is then exactly the summary.
Prefixing the restaurant with "#" instead would put it LAST in descending order.
"""

from typing import Union

from .entities import Restaurant, RestaurantSummary, Review

SUMMARY_REVIEW_COUNT = 5
RESTAURANT_PREFIX = "RESTAURANT#"
REVIEW_PREFIX = "#REVIEW#"


class RestaurantNotFound(LookupError):
    def __init__(self, name: str, table_name: str):
        super().__init__(f"no restaurant named {name!r} in table {table_name!r}")
        self.name = name
        self.table_name = table_name


class DuplicateReview(ValueError):
    pass


def table_definition() -> dict:
    """Keyword arguments for `create_table(TableName=..., **table_definition())`."""
    return {
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def partition_key(restaurant_name: str) -> str:
    return RESTAURANT_PREFIX + restaurant_name


def restaurant_key(name: str) -> dict:
    return {"PK": {"S": partition_key(name)}, "SK": {"S": RESTAURANT_PREFIX + name}}


def review_key(review: Review) -> dict:
    return {
        "PK": {"S": partition_key(review.restaurant)},
        "SK": {"S": f"{REVIEW_PREFIX}{review.timestamp}#{review.username}"},
    }


def restaurant_item(restaurant: Restaurant) -> dict:
    return {
        **restaurant_key(restaurant.name),
        "Type": {"S": "Restaurant"},
        "name": {"S": restaurant.name},
        "cuisine": {"S": restaurant.cuisine},
        "address": {"S": restaurant.address},
    }


def review_item(review: Review) -> dict:
    return {
        **review_key(review),
        "Type": {"S": "Review"},
        "restaurant": {"S": review.restaurant},
        "username": {"S": review.username},
        "timestamp": {"S": review.timestamp},
        "rating": {"N": str(review.rating)},
        "text": {"S": review.text},
    }


def entity_from_item(item: dict) -> Union[Restaurant, Review]:
    kind = item["Type"]["S"]
    if kind == "Restaurant":
        return Restaurant(name=item["name"]["S"], cuisine=item["cuisine"]["S"], address=item["address"]["S"])
    if kind == "Review":
        return Review(
            restaurant=item["restaurant"]["S"],
            username=item["username"]["S"],
            timestamp=item["timestamp"]["S"],
            rating=int(item["rating"]["N"]),
            text=item["text"]["S"],
        )
    raise ValueError(f"unknown item type {kind!r}")


class ReviewTable:
    """Reads and writes the demo's items through a low-level boto3 DynamoDB client."""

    def __init__(self, dynamodb_client, table_name: str):
        self._client = dynamodb_client
        self.name = table_name

    def fetch_summary(self, restaurant_name: str, consistent: bool = False) -> RestaurantSummary:
        response = self._client.query(
            TableName=self.name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": partition_key(restaurant_name)}},
            ScanIndexForward=False,
            Limit=1 + SUMMARY_REVIEW_COUNT,
            ConsistentRead=consistent,
        )
        entities = [entity_from_item(item) for item in response["Items"]]
        if not entities or not isinstance(entities[0], Restaurant):
            raise RestaurantNotFound(restaurant_name, self.name)
        reviews = tuple(e for e in entities[1:] if isinstance(e, Review))
        if len(reviews) != len(entities) - 1:  # the layout above allows one restaurant item a partition
            raise ValueError(
                f"partition {partition_key(restaurant_name)!r} of {self.name!r} holds a second restaurant item"
            )
        return RestaurantSummary(restaurant=entities[0], reviews=reviews)

    def put_review(self, review: Review) -> None:
        """Write a review, in one transaction with a check that its restaurant exists."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.name,
                            "Key": restaurant_key(review.restaurant),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": review_item(review),
                            "ConditionExpression": "attribute_not_exists(SK)",
                        }
                    },
                ]
            )
        except self._client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise RestaurantNotFound(review.restaurant, self.name) from exc
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise DuplicateReview(f"{review} already exists") from exc
            raise
