"""DynamoDB table lifecycles on top of moto, whose tables are ACTIVE at once and gone at once.

A new table is CREATING for `dynamodb.create`: DescribeTable says so, item operations get
ResourceNotFoundException ("Requested resource not found") and DeleteTable/UpdateTable get
ResourceInUseException, as on AWS. A deleted table is DELETING for `dynamodb.delete`:
DescribeTable still shows it and its name cannot be reused yet. The waiters table_exists
and table_not_exists then behave as they do against AWS. Items are moto's throughout.
"""

from datetime import datetime

from .base import Backend, SimError

_ITEM_OPERATIONS = ("PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchWriteItem", "BatchGetItem")


class ResourceNotFoundException(SimError):
    code = "ResourceNotFoundException"

    def __init__(self):
        super().__init__("Requested resource not found")


class ResourceInUseException(SimError):
    code = "ResourceInUseException"


def _without_timestamps(value):
    """A JSON-safe copy of a table description (its datetimes are dropped)."""
    if isinstance(value, dict):
        return {k: _without_timestamps(v) for k, v in value.items() if not isinstance(v, datetime)}
    if isinstance(value, list):
        return [_without_timestamps(v) for v in value]
    return value


class DynamoDBOverlay(Backend):
    service = "dynamodb"
    operations = ("CreateTable", "DescribeTable", "DeleteTable", "UpdateTable") + _ITEM_OPERATIONS
    amended = ("CreateTable", "DescribeTable", "DeleteTable")

    @property
    def tables(self):
        """name -> {"created_at", "deleted_at", "description" (kept while DELETING)}"""
        return self.world.store.section("dynamodb").setdefault("tables", {})

    def settle(self) -> None:
        now = self.now()
        for name, table in list(self.tables.items()):
            if table["deleted_at"] is not None and now >= table["deleted_at"] + self.world.durations["dynamodb.delete"]:
                del self.tables[name]

    def _phase(self, name: str):
        table = self.tables.get(name)
        if table is None:
            return None
        if table["deleted_at"] is not None:
            return "DELETING"
        if self.now() < table["created_at"] + self.world.durations["dynamodb.create"]:
            return "CREATING"
        return None

    # refuse what AWS refuses, else let moto answer (None)

    def create_table(self, params):
        if self._phase(params["TableName"]) == "DELETING":
            raise ResourceInUseException(f"Table already exists: {params['TableName']}")

    def describe_table(self, params):
        if self._phase(params["TableName"]) == "DELETING":
            return {"Table": {**self.tables[params["TableName"]]["description"], "TableStatus": "DELETING"}}

    def delete_table(self, params):
        return self._refuse_changes(params["TableName"])

    def update_table(self, params):
        return self._refuse_changes(params["TableName"])

    def _refuse_changes(self, name):
        phase = self._phase(name)
        if phase:
            verb = "created" if phase == "CREATING" else "deleted"
            raise ResourceInUseException(
                f"Attempt to change a resource which is still in use: Table is being {verb}: {name}"
            )

    def _refuse_items(self, params):
        names = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        if any(self._phase(name) for name in names):
            raise ResourceNotFoundException()

    put_item = get_item = update_item = delete_item = query = scan = _refuse_items
    batch_write_item = batch_get_item = _refuse_items

    # stamp moto's answers with the simulated status

    def amend_create_table(self, params, parsed):
        description = parsed["TableDescription"]
        self.tables[description["TableName"]] = {"created_at": self.now(), "deleted_at": None, "description": None}
        description["TableStatus"] = "CREATING"

    def amend_delete_table(self, params, parsed):
        description = parsed["TableDescription"]
        self.tables[description["TableName"]] = {
            "created_at": None,
            "deleted_at": self.now(),
            "description": _without_timestamps(description),
        }
        description["TableStatus"] = "DELETING"

    def amend_describe_table(self, params, parsed):
        if self._phase(parsed["Table"]["TableName"]) == "CREATING":
            parsed["Table"]["TableStatus"] = "CREATING"
