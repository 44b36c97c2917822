"""An EventBridge Scheduler fake that runs its one-time schedules on the account's clock.

moto stores schedules but never runs them, and keeps them in its server's memory, out of
reach of the settling that every call does; it also answers a schedule in a missing group
with a Python KeyError (a 500) and takes a second group of the same name. This fake keeps
schedules in the account's store and, when a schedule's time comes (settle(), before each
call), calls its universal target against the simulated account, as the execution role would.

What it reproduces, and where from (botocore's model; the Scheduler user guide):

- Names of schedules and groups: 1-64 of [0-9a-zA-Z-_.] (ValidationException). A second
  group or schedule of a name answers ConflictException; a schedule in a group that does
  not exist (or is being deleted), and any unknown name, ResourceNotFoundException.
- Only schedule groups carry tags (TagResource on a schedule: ResourceNotFoundException;
  tag keys starting aws: are reserved).
- CreateSchedule needs FlexibleTimeWindow and a Target with an Arn and RoleArn (the model);
  the role must exist and trust scheduler.amazonaws.com, and IAM must have propagated it
  (`iam.propagation` after CreateRole, ValidationException "The execution role you provide
  must allow AWS EventBridge Scheduler to assume the role." until then, as AWS words it).
- Deleting a group deletes its schedules, asynchronously: the group is DELETING for
  `scheduler.group_delete` seconds, then gone with them.
- A universal target (`arn:aws:scheduler:::aws-sdk:SERVICE:apiAction`) is checked when its
  schedule runs: the service and operation must exist in botocore's model, read-only
  prefixes (describe, get, list, ...) are refused, and Input is the operation's request as
  modelled (validated by botocore's own validator). Then the operation is called in the
  account, with no fault plan (the Scheduler retries on its own). ActionAfterCompletion
  DELETE removes the schedule after its one run, failed or not.
- Only `at(yyyy-mm-ddThh:mm:ss)` expressions are simulated (what ops makes); rate() and
  cron() answer ValidationException naming the simulator's limit. Not simulated: retry
  policies and dead-letter queues (a failed run is kept on the schedule, `ops_error`), KMS,
  start and end dates. The simulator does not evaluate IAM policies, so the execution
  role's policy is not checked at run time (moto does not evaluate them either).
"""

import json
import re
from datetime import datetime
from typing import Any, Dict, List, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import ACCOUNT_ID, Backend, SimError, tag_dict_to_list, tag_list_to_dict

NAME = re.compile(r"^[0-9a-zA-Z_.-]{1,64}$")
AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
UNIVERSAL = re.compile(r"^arn:[a-z-]+:scheduler:::aws-sdk:([a-z0-9-]+):([a-zA-Z0-9]+)$")
READ_ONLY = (
    "get",
    "describe",
    "list",
    "poll",
    "receive",
    "search",
    "scan",
    "query",
    "select",
    "read",
    "lookup",
    "discover",
    "validate",
    "batchGet",
    "batchDescribe",
    "batchRead",
    "transactGet",
)
ASSUME_ROLE = "The execution role you provide must allow AWS EventBridge Scheduler to assume the role."


class ValidationException(SimError):
    code = "ValidationException"


class ConflictException(SimError):
    code = "ConflictException"
    status = 409


class ResourceNotFoundException(SimError):
    code = "ResourceNotFoundException"
    status = 404


def _name(kind: str, value: str) -> str:
    if not NAME.match(value or ""):
        raise ValidationException(f"{kind} name '{value}' must be 1-64 characters of [0-9a-zA-Z-_.].")
    return value


def due_time(expression: str, zone: Optional[str]) -> float:
    """When an at() expression in its time zone falls, in seconds since the epoch."""
    match = AT.match(expression)
    if not match:
        raise ValidationException(
            f"Invalid Schedule Expression {expression}. (ops's simulator runs one-time at() schedules only.)"
        )
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationException(f"Invalid ScheduleExpressionTimezone {zone}.") from None
    try:
        local = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise ValidationException(f"Invalid Schedule Expression {expression}.") from None
    return local.replace(tzinfo=tz).timestamp()


class SchedulerBackend(Backend):
    service = "scheduler"
    answers_alone = True
    operations = (
        "CreateScheduleGroup",
        "GetScheduleGroup",
        "DeleteScheduleGroup",
        "ListScheduleGroups",
        "CreateSchedule",
        "GetSchedule",
        "UpdateSchedule",
        "DeleteSchedule",
        "ListSchedules",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    )

    @property
    def groups(self) -> Dict[str, Any]:
        return self.world.store.section("scheduler").setdefault("groups", {})

    @property
    def schedules(self) -> Dict[str, Any]:
        """'group/name' -> schedule"""
        return self.world.store.section("scheduler").setdefault("schedules", {})

    # lifecycle

    def settle(self) -> None:
        now = self.now()
        for name, group in list(self.groups.items()):
            gone_at = group.get("deleting_at", now) + self.world.durations["scheduler.group_delete"]
            if group["State"] == "DELETING" and now >= gone_at:
                for key in [k for k, s in self.schedules.items() if s["GroupName"] == name]:
                    del self.schedules[key]
                del self.groups[name]
        calendar = self.world.calendar()
        for key, schedule in sorted(self.schedules.items(), key=lambda item: item[1]["due"]):
            if schedule["State"] == "ENABLED" and schedule["due"] <= calendar and not schedule.get("ran"):
                with self.world.acting_at(now - (calendar - schedule["due"])):  # it ran when it fell due
                    self._run(key, schedule)

    @property
    def log(self) -> List[str]:
        """What each schedule that ran did, oldest first (`ops sim advance` shows it)."""
        return self.world.store.section("scheduler").setdefault("log", [])

    def _run(self, key: str, schedule: Dict[str, Any]) -> None:
        """Call the schedule's universal target as its execution role (once: recorded first)."""
        schedule["ran"] = True
        self.world.store.write_ahead()
        action = schedule["Target"]["Arn"].rsplit(":", 2)[-2:]
        try:
            self.world.invoke(*self.target_call(schedule["Target"]))
            schedule.pop("ops_error", None)
            self.log.append(f"{key} ran {':'.join(action)} {schedule['Target'].get('Input', '')}")
        except Exception as exc:  # noqa: BLE001 - the Scheduler records a failed invocation and goes on
            schedule["ops_error"] = f"{type(exc).__name__}: {exc}"
            self.log.append(f"{key} failed {':'.join(action)}: {schedule['ops_error']}")
        if schedule.get("ActionAfterCompletion") == "DELETE":
            self.schedules.pop(key, None)

    def target_call(self, target: Dict[str, Any]):
        """(service, operation, parameters) a universal target calls: refused as AWS would."""
        match = UNIVERSAL.match(target["Arn"])
        if not match:
            raise ValidationException(f"ops's simulator runs universal targets only, not {target['Arn']}.")
        service, action = match.groups()
        if action.startswith(READ_ONLY):
            raise ValidationException(f"EventBridge Scheduler does not support read-only API actions ({action}).")
        model = self.world.service_model(service)
        operation = action[0].upper() + action[1:]
        if operation not in model.operation_names:
            raise ValidationException(f"{service} has no API action {action}.")
        try:
            params = json.loads(target.get("Input") or "{}")
        except ValueError:
            raise ValidationException("Target Input must be well-formed JSON.") from None
        from botocore.validate import validate_parameters

        validate_parameters(params, model.operation_model(operation).input_shape)
        return service, operation, params

    # operations

    def create_schedule_group(self, params):
        name = _name("Schedule group", params["Name"])
        if name in self.groups or name == "default":
            raise ConflictException(f"Schedule group {name} already exists.")
        tags = tag_list_to_dict(params.get("Tags"))
        if any(key.lower().startswith("aws:") for key in tags):
            raise ValidationException("Tag keys starting with 'aws:' are reserved.")
        arn = f"arn:aws:scheduler:{self.world.region}:{ACCOUNT_ID}:schedule-group/{name}"
        self.groups[name] = {"Arn": arn, "Name": name, "State": "ACTIVE", "tags": tags, "made": self.now()}
        return {"ScheduleGroupArn": arn}

    def get_schedule_group(self, params):
        return self._group_view(self._group(params["Name"]))

    def delete_schedule_group(self, params):
        name = params["Name"]
        if name == "default":
            raise ValidationException("The default schedule group cannot be deleted.")
        group = self._group(name)
        if group["State"] != "DELETING":
            group.update(State="DELETING", deleting_at=self.now())
        return {}

    def list_schedule_groups(self, params):
        prefix = params.get("NamePrefix") or ""
        views = [self._group_view(g) for n, g in sorted(self.groups.items()) if n.startswith(prefix)]
        return self._page(views, params, "ScheduleGroups")

    def create_schedule(self, params):
        name = _name("Schedule", params["Name"])
        group = self._group(params.get("GroupName") or "default", usable=True)
        key = f"{group['Name']}/{name}"
        if key in self.schedules:
            raise ConflictException(f"Schedule {name} already exists.")
        schedule = self._schedule_from(params, group["Name"])
        schedule["CreationDate"] = schedule["LastModificationDate"] = self.now()
        self.schedules[key] = schedule
        return {"ScheduleArn": schedule["Arn"]}

    def update_schedule(self, params):
        key = self._key(params)
        old = self.schedules[key]
        schedule = self._schedule_from(params, old["GroupName"])
        schedule["CreationDate"], schedule["LastModificationDate"] = old["CreationDate"], self.now()
        self.schedules[key] = schedule
        return {"ScheduleArn": schedule["Arn"]}

    def get_schedule(self, params):
        schedule = self.schedules[self._key(params)]
        view = {k: v for k, v in schedule.items() if k[0].isupper()}
        view["CreationDate"] = self.timestamp(schedule["CreationDate"])
        view["LastModificationDate"] = self.timestamp(schedule["LastModificationDate"])
        return view

    def delete_schedule(self, params):
        del self.schedules[self._key(params)]
        return {}

    def list_schedules(self, params):
        group, prefix, state = params.get("GroupName"), params.get("NamePrefix") or "", params.get("State")
        if group is not None:
            self._group(group)
        views = [
            {
                "Arn": s["Arn"],
                "Name": s["Name"],
                "GroupName": s["GroupName"],
                "State": s["State"],
                "CreationDate": self.timestamp(s["CreationDate"]),
                "LastModificationDate": self.timestamp(s["LastModificationDate"]),
                "Target": {"Arn": s["Target"]["Arn"]},
            }
            for _, s in sorted(self.schedules.items())
            if (group is None or s["GroupName"] == group)
            and s["Name"].startswith(prefix)
            and (state is None or s["State"] == state)
        ]
        return self._page(views, params, "Schedules")

    def tag_resource(self, params):
        group = self._group_by_arn(params["ResourceArn"])
        tags = tag_list_to_dict(params["Tags"])
        if any(key.lower().startswith("aws:") for key in tags):
            raise ValidationException("Tag keys starting with 'aws:' are reserved.")
        group["tags"].update(tags)
        return {}

    def untag_resource(self, params):
        group = self._group_by_arn(params["ResourceArn"])
        for key in params["TagKeys"]:
            group["tags"].pop(key, None)
        return {}

    def list_tags_for_resource(self, params):
        return {"Tags": tag_dict_to_list(self._group_by_arn(params["ResourceArn"])["tags"])}

    # helpers

    def _schedule_from(self, params, group: str) -> Dict[str, Any]:
        due = due_time(params["ScheduleExpression"], params.get("ScheduleExpressionTimezone"))
        target = dict(params["Target"])
        self._check_role(target["RoleArn"])
        action = params.get("ActionAfterCompletion", "NONE")
        return {
            "Arn": f"arn:aws:scheduler:{self.world.region}:{ACCOUNT_ID}:schedule/{group}/{params['Name']}",
            "Name": params["Name"],
            "GroupName": group,
            "ScheduleExpression": params["ScheduleExpression"],
            "ScheduleExpressionTimezone": params.get("ScheduleExpressionTimezone") or "UTC",
            "FlexibleTimeWindow": params["FlexibleTimeWindow"],
            "Target": {
                **target,
                "RetryPolicy": target.get("RetryPolicy")
                or {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
            },
            "ActionAfterCompletion": action,
            "State": params.get("State") or "ENABLED",
            **({"Description": params["Description"]} if params.get("Description") else {}),
            "due": due,
        }

    def _check_role(self, role_arn: str) -> None:
        """The execution role exists, trusts the Scheduler, and IAM has propagated it."""
        prefix = f"arn:aws:iam::{ACCOUNT_ID}:role/"
        if not role_arn.startswith(prefix):
            raise ValidationException(ASSUME_ROLE)
        iam = self.world.client("iam")
        try:
            role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
        except iam.exceptions.NoSuchEntityException:
            raise ValidationException(ASSUME_ROLE) from None
        trust = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(trust, str):
            from urllib.parse import unquote

            trust = json.loads(unquote(trust))
        principals = [
            s.get("Principal", {}).get("Service")
            for s in trust.get("Statement", [])
            if s.get("Effect") == "Allow" and "sts:AssumeRole" in json.dumps(s.get("Action"))
        ]
        trusted = any("scheduler.amazonaws.com" in (p if isinstance(p, list) else [p]) for p in principals)
        if not trusted or not self.world.iam.visible_to_services("role", role["RoleName"]):
            raise ValidationException(ASSUME_ROLE)

    def _key(self, params) -> str:
        key = f"{params.get('GroupName') or 'default'}/{params['Name']}"
        if key not in self.schedules:
            raise ResourceNotFoundException(f"Schedule {params['Name']} does not exist.")
        return key

    def _group(self, name: str, usable: bool = False) -> Dict[str, Any]:
        group = self.groups.get(name)
        if name == "default" and group is None:
            group = self.groups.setdefault(
                "default",
                {
                    "Arn": f"arn:aws:scheduler:{self.world.region}:{ACCOUNT_ID}:schedule-group/default",
                    "Name": "default",
                    "State": "ACTIVE",
                    "tags": {},
                    "made": self.now(),
                },
            )
        if group is None or (usable and group["State"] == "DELETING"):
            raise ResourceNotFoundException(f"Schedule group {name} does not exist.")
        return group

    def _group_by_arn(self, arn: str) -> Dict[str, Any]:
        prefix = f"arn:aws:scheduler:{self.world.region}:{ACCOUNT_ID}:schedule-group/"
        if not arn.startswith(prefix):
            raise ResourceNotFoundException(f"Resource {arn} does not exist.")  # schedules carry no tags
        return self._group(arn[len(prefix) :])

    def _group_view(self, group) -> Dict[str, Any]:
        made = self.timestamp(group["made"])
        return {
            "Arn": group["Arn"],
            "Name": group["Name"],
            "State": group["State"],
            "CreationDate": made,
            "LastModificationDate": made,
        }

    @staticmethod
    def _page(items, params, key: str) -> Dict[str, Any]:
        start = int(params.get("NextToken") or 0)
        size = params.get("MaxResults") or 100
        page: Dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["NextToken"] = str(start + size)
        return page
