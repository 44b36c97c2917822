import pytest

from .conftest import PATIENT

TABLE = dict(
    TableName="reviews",
    BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
)


def status(dynamodb):
    return dynamodb.describe_table(TableName="reviews")["Table"]["TableStatus"]


def test_table_is_creating_then_active_then_deleting_then_gone(world, session, clock):
    dynamodb = session.client("dynamodb")
    assert dynamodb.create_table(**TABLE)["TableDescription"]["TableStatus"] == "CREATING"
    assert status(dynamodb) == "CREATING"
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.put_item(TableName="reviews", Item={"id": {"S": "1"}})
    with pytest.raises(dynamodb.exceptions.ResourceInUseException, match="being created"):
        dynamodb.delete_table(TableName="reviews")

    clock.sleep(world.durations["dynamodb.create"])
    assert status(dynamodb) == "ACTIVE"
    dynamodb.put_item(TableName="reviews", Item={"id": {"S": "1"}})
    assert dynamodb.get_item(TableName="reviews", Key={"id": {"S": "1"}})["Item"] == {"id": {"S": "1"}}

    assert dynamodb.delete_table(TableName="reviews")["TableDescription"]["TableStatus"] == "DELETING"
    assert status(dynamodb) == "DELETING"
    with pytest.raises(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(**TABLE)
    clock.sleep(world.durations["dynamodb.delete"])
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.describe_table(TableName="reviews")
    dynamodb.create_table(**TABLE)


def test_table_waiters(fast_world):
    dynamodb = fast_world.session().client("dynamodb")
    dynamodb.create_table(**TABLE)
    dynamodb.get_waiter("table_exists").wait(TableName="reviews", WaiterConfig=PATIENT)
    assert status(dynamodb) == "ACTIVE"
    dynamodb.delete_table(TableName="reviews")
    dynamodb.get_waiter("table_not_exists").wait(TableName="reviews", WaiterConfig=PATIENT)
