"""Environment memberships in the Cloud9 fake (cloud9.py): who an environment is shared with.

What it reproduces (botocore's cloud9 model for shapes and error codes; the rest as noted):

- The model's patterns and enums, which botocore does not check: environmentId
  [a-zA-Z0-9]{8,32}, userArn (an IAM user, an assumed role's session, a federated user or
  root; a role's own ARN is not one), permissions read-write | read-only ("owner" is
  refused), maxResults at most 25 and a permissions filter of owner | read-write | read-only:
  BadRequestException with AWS's "1 validation error detected" text.
- An unknown or deleted environment: NotFoundException.
- A principal the account does not have: an IAM user (by name and path), the role of an
  assumed role's session, or any principal of another account or partition:
  NotFoundException. An assumption: no source says which code Cloud9 answers; it needs the
  principal's IAM id (the membership's userId), and the model's NotFoundException is "the
  target resource cannot be found".
- A member already (the owner included): ConflictException.
- The owner is listed as a member with permissions "owner"; it cannot be changed or removed
  (BadRequestException). Removing or changing one that is no member: NotFoundException.
- DescribeEnvironmentMemberships by environmentId and/or userArn, filtered by permissions, in
  pages of maxResults (default 25) with nextToken; with neither an id nor an ARN, the
  caller's own memberships (the environments shared with the caller: an assumption).
- Memberships live in their environment's entry of the store (persisted with it), so deleting
  the environment removes them.
"""

import functools
import re
from typing import Any, Dict, List, Optional

from .base import ACCOUNT_ID, Backend
from .cloud9 import BadRequestException, ConflictException, NotFoundException

MEMBER_PERMISSIONS = ("read-write", "read-only")
PAGE = 25  # DescribeEnvironmentMemberships' maxResults at most (botocore's model; botocore checks only the minimum)


@functools.lru_cache(maxsize=None)
def _pattern(shape: str) -> "re.Pattern[str]":
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloud9")
    return re.compile(model.shape_for(shape).metadata["pattern"], re.ASCII)


def _invalid(value: Any, field: str, constraint: str) -> BadRequestException:
    return BadRequestException(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    )


def _check_ids(params: Dict[str, Any]) -> None:
    for field, shape in (("environmentId", "EnvironmentId"), ("userArn", "UserArn")):
        value = params.get(field)
        if value is not None and not _pattern(shape).fullmatch(value):
            raise _invalid(value, field, f"Member must satisfy regular expression pattern: {_pattern(shape).pattern}")


def _check_permissions(value: str) -> None:
    if value not in MEMBER_PERMISSIONS:
        raise _invalid(value, "permissions", f"Member must satisfy enum value set: [{', '.join(MEMBER_PERMISSIONS)}]")


def _members(env) -> Dict[str, Dict[str, Any]]:
    return env.setdefault("members", {})  # environments stored before memberships were simulated have none


def _owner(env) -> Dict[str, Any]:
    return {
        "permissions": "owner",
        "userId": env["ownerUserId"],
        "userArn": env["ownerArn"],
        "environmentId": env["id"],
    }


def _view(env, user_arn: str, member: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "permissions": member["permissions"],
        "userId": member["userId"],
        "userArn": user_arn,
        "environmentId": env["id"],
    }


class Cloud9Memberships(Backend):
    """The membership operations of the Cloud9 fake, on the environments Cloud9Backend keeps."""

    service = "cloud9"
    answers_alone = True
    operations = (
        "CreateEnvironmentMembership",
        "DescribeEnvironmentMemberships",
        "UpdateEnvironmentMembership",
        "DeleteEnvironmentMembership",
    )

    def create_environment_membership(self, params):
        _check_ids(params)
        _check_permissions(params["permissions"])
        env = self.world.cloud9.environment(params["environmentId"])
        user_arn = params["userArn"]
        if user_arn == env["ownerArn"] or user_arn in _members(env):
            raise ConflictException(f"User {user_arn} is already a member of environment {env['id']}")
        user_id = self._user_id(user_arn)
        if user_id is None:
            raise NotFoundException(f"User {user_arn} does not exist")
        member = {"permissions": params["permissions"], "userId": user_id}
        _members(env)[user_arn] = member
        self.world.store.write_ahead()  # made: whatever becomes of the answer
        return {"membership": _view(env, user_arn, member)}

    def describe_environment_memberships(self, params):
        _check_ids(params)
        wanted = params.get("permissions") or []
        for value in wanted:
            if value not in ("owner", *MEMBER_PERMISSIONS):
                raise _invalid(
                    value, "permissions", "Member must satisfy enum value set: [owner, read-write, read-only]"
                )
        page = params.get("maxResults") or PAGE
        if page > PAGE:
            raise _invalid(page, "maxResults", f"Member must have value less than or equal to {PAGE}")
        token = params.get("nextToken")
        if token is not None and not token.isdigit():
            raise BadRequestException(f"Invalid nextToken: {token}")
        env_id, user_arn = params.get("environmentId"), params.get("userArn")
        if env_id is None and user_arn is None:
            user_arn = self.world.client("sts").get_caller_identity()["Arn"]
        cloud9 = self.world.cloud9
        environments = [cloud9.environment(env_id)] if env_id is not None else list(cloud9.environments.values())
        found: List[Dict[str, Any]] = []
        for env in environments:
            found += [_owner(env)] + [_view(env, arn, member) for arn, member in _members(env).items()]
        found = [m for m in found if user_arn in (None, m["userArn"]) and (not wanted or m["permissions"] in wanted)]
        start = int(token or 0)
        result: Dict[str, Any] = {"memberships": found[start : start + page]}
        if start + page < len(found):
            result["nextToken"] = str(start + page)
        return result

    def update_environment_membership(self, params):
        _check_ids(params)
        _check_permissions(params["permissions"])
        env, user_arn = self.world.cloud9.environment(params["environmentId"]), params["userArn"]
        member = self._member(env, user_arn, "change")
        member["permissions"] = params["permissions"]
        return {"membership": _view(env, user_arn, member)}

    def delete_environment_membership(self, params):
        _check_ids(params)
        env, user_arn = self.world.cloud9.environment(params["environmentId"]), params["userArn"]
        self._member(env, user_arn, "remove")
        del _members(env)[user_arn]
        return {}

    @staticmethod
    def _member(env, user_arn: str, verb: str) -> Dict[str, Any]:
        if user_arn == env["ownerArn"]:
            raise BadRequestException(f"Cannot {verb} the owner of environment {env['id']}")
        if user_arn not in _members(env):
            raise NotFoundException(f"User {user_arn} is not a member of environment {env['id']}")
        return _members(env)[user_arn]

    def _user_id(self, user_arn: str) -> Optional[str]:
        """The principal's IAM id, as Cloud9 records it; None when the account has no such principal."""
        _, partition, _, _, account, name = user_arn.split(":", 5)
        if account != ACCOUNT_ID:
            return None
        iam = self.world.client("iam")
        try:
            if name.startswith("user/"):
                user = iam.get_user(UserName=name.rsplit("/", 1)[1])["User"]
                return user["UserId"] if user["Arn"] == user_arn else None
            if name.startswith("assumed-role/"):
                _, role_name, session = name.split("/")
                role = iam.get_role(RoleName=role_name)["Role"]
                return f"{role['RoleId']}:{session}" if role["Arn"].split(":")[1] == partition else None
        except iam.exceptions.NoSuchEntityException:
            return None
        return f"{account}:{name.split('/', 1)[-1]}"  # a federated user or root: IAM holds nothing to look up
