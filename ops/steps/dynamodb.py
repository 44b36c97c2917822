"""DynamoDB: the restaurant-review table (on-demand), loaded with the demo's seed data."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..model import Change, Found, Resource, ResourceKind, Retag, Switch, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn
from ..waiting import waiter_check
from .base import Output, Param, StepType, register

TABLE = "dynamodb-table"


def _find_tables(aws) -> List[Found]:
    client = aws.client("dynamodb")
    found = []
    for name in aws.listing(client, "list_tables", "TableNames"):
        table = aws.call(client.describe_table, TableName=name)["Table"]
        tags = tag_map(aws.call(client.list_tags_of_resource, ResourceArn=table["TableArn"]).get("Tags", []))
        found.append(Found(TABLE, name, table["TableStatus"], tags))
    return found


TABLE_KIND = ResourceKind(
    TABLE,
    creation_order=40,
    find=_find_tables,
    live_state=lambda aws, name: aws.call(aws.client("dynamodb").describe_table, TableName=name)["Table"][
        "TableStatus"
    ],
    not_found=("ResourceNotFoundException",),
    actions=("dynamodb:DescribeTable",),
    switch=Switch("dynamodb", "deleteTable", lambda name: {"TableName": name}, arn("dynamodb", "table/*")),
    retag=Retag(
        "dynamodb:TagResource", arn("dynamodb", "table/*"), lambda aws, name, tags: _tag_table(aws, name, tags)
    ),
)


def _tag_table(aws, name: str, tags: List[Dict[str, str]]) -> None:
    client = aws.client("dynamodb")
    table_arn = aws.call(client.describe_table, TableName=name)["Table"]["TableArn"]
    aws.call(client.tag_resource, ResourceArn=table_arn, Tags=tags)


def describe_table(ctx, name: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("dynamodb")
    try:
        return ctx.call(client.describe_table, TableName=name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        return None


def check_table_name(value: str) -> Optional[str]:
    import re

    if not re.match(r"^[A-Za-z0-9_.-]{3,255}$", value):
        return "must be 3-255 letters, digits, '_', '-' or '.'"
    return None


@register
class Table(StepType):
    name = "dynamodb.table"
    summary = "The restaurant-review DynamoDB table (single-table layout, on-demand), optionally seeded."
    params = [
        Param("table_name", required=True, check=check_table_name, doc="table name"),
        Param(
            "layout",
            default="restaurant-reviews",
            choices=("restaurant-reviews",),
            doc="key layout (the demo's single-table design)",
        ),
        Param("seed", type="boolean", default=True, doc="load the demo's seed data"),
    ]
    # Not early: whoever uses the table needs it ACTIVE and seeded.
    outputs = {"table_name": Output("the table name"), "table_arn": Output("the table ARN")}
    example = """\
- name: table
  type: dynamodb.table
  with:
    table_name: reviews-${{ run.id }}
"""
    default_timeout = 600.0
    kinds = (TABLE_KIND,)
    permissions = [
        Grant(
            ["dynamodb:CreateTable", "dynamodb:TagResource"], [arn("dynamodb", "table/{table_name}")], REQUEST_TAGGED
        ),
        Grant(
            ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:BatchWriteItem"],
            [arn("dynamodb", "table/{table_name}")],
        ),
        Grant(["dynamodb:DeleteTable"], [arn("dynamodb", "table/{table_name}")], RESOURCE_TAGGED),
    ]

    def preview(self) -> List[Change]:
        name = self.args["table_name"]
        if describe_table(self.ctx, name) is not None:
            return [Change("adopt", f"DynamoDB table {name} (exists; used, never deleted)")]
        seeded = ", loaded with the demo's seed data" if self.args["seed"] else ""
        return [Change("create", f"DynamoDB table {name}: on-demand (pay per request){seeded}")]

    def create(self) -> Dict[str, Any]:
        from ..demo.table import table_definition

        ctx, name = self.ctx, self.args["table_name"]
        client = ctx.client("dynamodb")
        table = describe_table(ctx, name)
        if table is None:
            resource = ctx.intend(TABLE, name)
            try:
                table = ctx.call(client.create_table, TableName=name, Tags=ctx.tags(), **table_definition())[
                    "TableDescription"
                ]
            except client.exceptions.ResourceInUseException:
                # "Table already exists": a re-sent create whose first answer was lost (or another's
                # table of that name, made since we looked), told apart by its tags below
                table = describe_table(ctx, name)
                if table is None or table.get("TableStatus") == "DELETING":  # not a name in use by a table
                    raise
            else:
                ctx.created(resource, arn=table["TableArn"])
                return {"table_name": name, "table_arn": table["TableArn"]}
        tags = ctx.call(client.list_tags_of_resource, ResourceArn=table["TableArn"]).get("Tags", [])
        ctx.resumed_or_adopted(TABLE, name, tags, arn=table["TableArn"])
        return {"table_name": name, "table_arn": table["TableArn"]}

    def wait(self) -> Dict[str, Any]:
        from ..demo.seed import load_seed

        ctx, name = self.ctx, self.args["table_name"]
        client = ctx.client("dynamodb")
        ctx.wait(
            f"table {name}",
            waiter_check(ctx.aws, client, "table_exists", lambda r: r["Table"]["TableStatus"], TableName=name),
            "dynamodb.create",
        )
        if self.args["seed"]:
            count = ctx.call(load_seed, dynamodb_client=client, table_name=name, sleep=ctx.clock.sleep)
            ctx.output(f"loaded {count} seed items into {name}")
        return {}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        client = ctx.client("dynamodb")
        if resource.status == "intent":  # our create call never answered: delete only a table tagged ours
            table = describe_table(ctx, resource.id)
            tags = (
                ctx.call(client.list_tags_of_resource, ResourceArn=table["TableArn"]).get("Tags", []) if table else []
            )
            if not table or not ctx.is_ours(tags):
                return
        try:
            ctx.call(client.delete_table, TableName=resource.id)
        except client.exceptions.ResourceNotFoundException:
            return
        except client.exceptions.ResourceInUseException:
            table = describe_table(ctx, resource.id)
            if table is not None and table["TableStatus"] != "DELETING":  # still creating/updating: wait, retry
                ctx.wait(
                    f"table {resource.id} to be deletable",
                    waiter_check(
                        ctx.aws, client, "table_exists", lambda r: r["Table"]["TableStatus"], TableName=resource.id
                    ),
                    "dynamodb.create",
                )
                try:
                    ctx.call(client.delete_table, TableName=resource.id)
                except (client.exceptions.ResourceNotFoundException, client.exceptions.ResourceInUseException):
                    pass  # in use now: being deleted, by this call's first attempt whose answer was lost
        ctx.wait(
            f"table {resource.id} deletion",
            waiter_check(
                ctx.aws, client, "table_not_exists", lambda r: r["Table"]["TableStatus"], TableName=resource.id
            ),
            "dynamodb.delete",
        )
