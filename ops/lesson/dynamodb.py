"""Fetch Restaurant Summary from DynamoDB: one Query gives the restaurant and its latest reviews.

The restaurant's item and its reviews share a partition key, RESTAURANT#<name>; read newest
first, the restaurant item comes first, then the reviews.
"""

import os

import boto3

TABLE_NAME = os.environ["TABLE_NAME"]
REVIEWS = 5

client = boto3.client("dynamodb")


def fetch_restaurant_summary_from_db(restaurant_name):
    response = client.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RESTAURANT#{restaurant_name}"}},
        ScanIndexForward=False,
        Limit=1 + REVIEWS,
    )
    return response["Items"]
