"""Cloud9: an EC2 environment reached through SSM (no inbound ports), the lab's client host.

boto3 has no Cloud9 waiters: an environment's creation is polled through its lifecycle in
DescribeEnvironments, which takes 25 ids a call, so the labs of a run share those calls
(ops/shared_describe.py); once created, describe_environment_status says when it is ready.
The environment's instance (tagged aws:cloud9:environment=<id>) and its security group
appear shortly after the create call; the group is what the cache's ingress rule admits.
Once it is ready, the run's members (`ops run --member`) get their memberships
(ops/steps/cloud9_members.py).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..aws import error_code
from ..errors import StepFailed
from ..instance_types import instance_type_problem
from ..model import Change, Found, Resource, ResourceKind, Retag, Switch, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn, iam_arn, managed_policy_arn, merged, partition_of
from ..shared_describe import SharedDescribe, not_found, shared_describe
from ..waiting import FAILURE, RETRY, SUCCESS
from . import cloud9_members
from .base import Output, Param, StepType, register
from .iam import (
    IAM_LAG,
    INSTANCE_ROLE_KINDS,
    SSM_CORE,
    delete_iam,
    ensure_instance_profile,
    ensure_managed_policy,
    ensure_role,
    instance_role_changes,
    instance_role_grants,
    read_settled,
)

SSM_ROLE, SSM_ROLE_PATH = "AWSCloud9SSMAccessRole", "/service-role/"
SSM_PROFILE, SSM_PROFILE_PATH = "AWSCloud9SSMInstanceProfile", "/cloud9/"
# what CreateEnvironmentEC2 offers today (botocore's model); amazonlinux-2-x86_64 is retired
IMAGES = ("amazonlinux-2023-x86_64", "ubuntu-22.04-x86_64")
ENVIRONMENT = "cloud9-environment"


def _find_environments(aws) -> List[Found]:
    client = aws.client("cloud9")
    ids = aws.listing(client, "list_environments", "environmentIds")
    found = []
    for chunk in (ids[i : i + 25] for i in range(0, len(ids), 25)):
        for env in aws.call(client.describe_environments, environmentIds=chunk)["environments"]:
            tags = tag_map(aws.call(client.list_tags_for_resource, ResourceARN=env["arn"])["Tags"])
            found.append(Found(ENVIRONMENT, env["id"], env["lifecycle"]["status"], tags, attrs={"name": env["name"]}))
    return found


ENVIRONMENT_KIND = ResourceKind(
    ENVIRONMENT,
    creation_order=22,
    find=_find_environments,
    live_state=lambda aws, env_id: aws.call(aws.client("cloud9").describe_environment_status, environmentId=env_id)[
        "status"
    ],
    not_found=("NotFoundException",),
    price=("ec2", "instance_type"),
    actions=("cloud9:DescribeEnvironmentStatus",),
    switch=Switch(
        "cloud9", "deleteEnvironment", lambda env_id: {"environmentId": env_id}, arn("cloud9", "environment:*")
    ),
    retag=Retag(
        "cloud9:TagResource",
        arn("cloud9", "environment:*"),
        lambda aws, env_id, tags: _tag_environment(aws, env_id, tags),
    ),
)


def _tag_environment(aws, env_id: str, tags: List[Dict[str, str]]) -> None:
    client = aws.client("cloud9")
    [environment] = aws.call(client.describe_environments, environmentIds=[env_id])["environments"]
    aws.call(client.tag_resource, ResourceARN=environment["arn"], Tags=tags)


def find_environment(ctx, env_id: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("cloud9")
    try:
        found = ctx.call(client.describe_environments, environmentIds=[env_id])["environments"]
    except client.exceptions.NotFoundException:
        return None
    return found[0] if found else None


DESCRIBE_BATCH = 25  # environmentIds a DescribeEnvironments call takes (botocore's model)


def _environment_answers(aws, ids: List[str]) -> Dict[str, Any]:
    """The answers of the shared describe of environments: DescribeEnvironments, 25 ids a call,
    each id's environment as the response of a call for it alone."""
    answers: Dict[str, Any] = {}
    for start in range(0, len(ids), DESCRIBE_BATCH):
        answers.update(_describe_batch(aws, ids[start : start + DESCRIBE_BATCH]))
    return answers


def _describe_batch(aws, ids: List[str]) -> Dict[str, Any]:
    """Cloud9 refuses the whole call (NotFoundException) when one id is gone: the account's
    list then says which are gone (answered with that error), and the others are asked again
    (one by one if the list still names one that is gone, deleted meanwhile)."""
    client = aws.client("cloud9")
    try:
        found = aws.call(client.describe_environments, environmentIds=ids)["environments"]
    except client.exceptions.NotFoundException as exc:
        if len(ids) == 1:
            return {ids[0]: exc}
        listed = set(aws.listing(client, "list_environments", "environmentIds"))
        present = [env_id for env_id in ids if env_id in listed]
        answers = {env_id: _gone(client, env_id) for env_id in ids if env_id not in listed}
        if len(present) == len(ids):
            for env_id in ids:
                answers.update(_describe_batch(aws, [env_id]))
        elif present:
            answers.update(_describe_batch(aws, present))
        return answers
    by_id = {env["id"]: env for env in found}
    return {env_id: {"environments": [by_id[env_id]]} if env_id in by_id else _gone(client, env_id) for env_id in ids}


def _gone(client, env_id: str) -> BaseException:
    return not_found(client, "DescribeEnvironments", "NotFoundException", f"environment {env_id} is not in the account")


def environments(aws) -> SharedDescribe:
    """Every wait on a Cloud9 environment in this run shares its DescribeEnvironments calls."""
    return shared_describe(aws, ENVIRONMENT, _environment_answers)


def environment_instance(ctx, env_id: str) -> Optional[Dict[str, Any]]:
    ec2 = ctx.client("ec2")
    reservations = ctx.call(
        ec2.describe_instances,
        Filters=[
            {"Name": "tag:aws:cloud9:environment", "Values": [env_id]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ],
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return instances[0] if instances else None


@register
class Cloud9Environment(StepType):
    name = "cloud9.environment"
    summary = (
        "A Cloud9 EC2 environment connected through SSM, with the IAM role and instance profile "
        "CONNECT_SSM needs; outputs its instance and security group. Shared, read-write, with each "
        "principal the run's --member names (removed on teardown)."
    )
    params = [
        Param("name", required=True, doc="environment name"),
        Param(
            "instance_type",
            default="t3.micro",
            check=instance_type_problem,
            doc="EC2 instance type (t2.micro or t3.micro are free-tier)",
        ),
        Param("image_id", default="amazonlinux-2023-x86_64", choices=IMAGES, doc="Cloud9 image alias"),
        Param(
            "automatic_stop_minutes",
            type="integer",
            default=30,
            minimum=0,
            maximum=20160,
            doc="stop the instance after this many idle minutes",
        ),
        Param("subnet_id", default=None, doc="subnet; omit for the default VPC"),
        Param(
            "ssm_run_command",
            type="boolean",
            default=True,
            doc="let SSM Run Command reach the instance (attach AmazonSSMManagedInstanceCore for the run)",
        ),
    ]
    outputs = {
        "environment_id": Output("the environment id", early=True),
        "instance_id": Output("its EC2 instance", early=True),
        "security_group_id": Output("its instance's security group", early=True),
        "role_name": Output("the instance's IAM role", early=True),
    }
    example = """\
- name: cloud9
  type: cloud9.environment
  with:
    name: lab-${{ run.id }}
    instance_type: t3.micro
"""
    default_timeout = 1200.0
    kinds = (ENVIRONMENT_KIND, *INSTANCE_ROLE_KINDS, cloud9_members.MEMBERSHIP_KIND)
    hints = {
        "VPCIdNotSpecified": "This region has no default VPC: create one with 'aws ec2 create-default-vpc'.",
        "NotFoundException": "Cloud9 did not find what the call named: check that each --member names an IAM "
        "user or role of this account, and that nobody deleted the environment meanwhile.",
    }
    permissions = [
        Grant(
            ["cloud9:CreateEnvironmentEC2"],
            conditions=merged(
                REQUEST_TAGGED,
                {"StringLike": {"cloud9:EnvironmentName": "{name}", "cloud9:InstanceType": "{instance_type}"}},
            ),
            why="Cloud9 defines no resource type for creating an environment; its name, instance type and "
            "tags are conditions instead",
        ),
        Grant(["cloud9:TagResource"], [arn("cloud9", "environment:*")], REQUEST_TAGGED),
        Grant(["cloud9:DescribeEnvironments", "cloud9:DescribeEnvironmentStatus"], [arn("cloud9", "environment:*")]),
        Grant(["cloud9:DeleteEnvironment"], [arn("cloud9", "environment:*")], RESOURCE_TAGGED),
        Grant(
            ["cloud9:ListEnvironments"],
            why="listing environments (ops doctor; what uses the SSM role before teardown deletes it) names none",
        ),
        Grant(["ec2:DescribeInstances"], why="EC2 defines no resource type for Describe* calls"),
        # Cloud9's first environment in an account creates its service-linked role
        Grant(
            ["iam:CreateServiceLinkedRole"],
            [iam_arn("role/aws-service-role/cloud9.amazonaws.com/AWSServiceRoleForAWSCloud9*")],
            {"StringEquals": {"iam:AWSServiceName": "cloud9.amazonaws.com"}},
        ),
        *instance_role_grants(
            SSM_ROLE_PATH.lstrip("/") + SSM_ROLE,
            SSM_PROFILE_PATH.lstrip("/") + SSM_PROFILE,
            ["AWSCloud9SSMInstanceProfile", SSM_CORE],
        ),
        *cloud9_members.GRANTS,
    ]

    @classmethod
    def policy_names(cls, names, lab, step):
        return {"role_name": SSM_ROLE_PATH.lstrip("/") + SSM_ROLE}  # with its path, as in its ARN

    def preview(self) -> List[Change]:
        changes = instance_role_changes(
            self.ctx,
            SSM_ROLE,
            SSM_PROFILE,
            ("account-wide, what CONNECT_SSM needs",) * 2,
            SSM_CORE if self.args["ssm_run_command"] else None,
        )
        changes.append(
            Change(
                "create",
                f"Cloud9 environment {self.args['name']}: {self.args['instance_type']}, "
                f"{self.args['image_id']}, stops after {self.args['automatic_stop_minutes']} "
                "idle minutes",
                "ec2",
                self.args["instance_type"],
            )
        )
        return changes + cloud9_members.preview(self.ctx)

    def create(self) -> Dict[str, Any]:
        ctx = self.ctx
        self._ensure_iam()
        env_id = self._find_or_create()
        self._ensure_iam(unless_in_place=True)
        instance = self._wait_for_instance(env_id)
        groups = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
        if not groups:
            raise StepFailed(
                ctx.step, f"the instance {instance['InstanceId']} of environment {env_id} has no security group."
            )
        return {
            "environment_id": env_id,
            "instance_id": instance["InstanceId"],
            "security_group_id": groups[0],
            "role_name": SSM_ROLE,
        }

    # --- the account-wide role and instance profile (steps/iam.py) ------------------------

    def _policies(self) -> List[str]:
        return ["AWSCloud9SSMInstanceProfile"] + ([SSM_CORE] if self.args["ssm_run_command"] else [])

    def _ensure_iam(self, unless_in_place: bool = False) -> None:
        """Make or adopt the role, its profile and its policies, and record them, under the
        account-wide lock: a lab sharing our records that decides meanwhile whether they are
        unused sees our record. A lab elsewhere sees the use only once the environment exists;
        so, after the create call, unless_in_place: put back whatever such a lab deleted before."""
        ctx = self.ctx
        with ctx.account_lock():
            if unless_in_place and self._iam_in_place():
                return
            ensure_role(
                ctx,
                SSM_ROLE,
                SSM_ROLE_PATH,
                ["cloud9.amazonaws.com", "ec2.amazonaws.com"],
                "Cloud9 CONNECT_SSM instances (created by ops)",
            )
            ensure_instance_profile(ctx, SSM_PROFILE, SSM_PROFILE_PATH, SSM_ROLE)
            for policy in self._policies():
                ensure_managed_policy(ctx, SSM_ROLE, policy)

    def _iam_in_place(self) -> bool:
        """Are they all there still? One that IAM does not show for IAM_LAG seconds is not."""
        ctx = self.ctx
        iam = ctx.client("iam")
        what = f"instance profile {SSM_PROFILE}"
        profile = read_settled(
            ctx, what, iam.get_instance_profile, "InstanceProfile", IAM_LAG, InstanceProfileName=SSM_PROFILE
        )
        what = f"role {SSM_ROLE}"
        attached = read_settled(
            ctx, what, iam.list_attached_role_policies, "AttachedPolicies", IAM_LAG, RoleName=SSM_ROLE
        )
        if profile is None or attached is None:
            return False
        wanted = {managed_policy_arn(partition_of(ctx.region), name) for name in self._policies()}
        return any(r["RoleName"] == SSM_ROLE for r in profile.get("Roles", [])) and wanted <= {
            p["PolicyArn"] for p in attached
        }

    def _find_or_create(self) -> str:
        from botocore.exceptions import ClientError

        ctx, args = self.ctx, self.args
        recorded = ctx.find_recorded(ENVIRONMENT)
        if recorded and recorded.status == "created" and find_environment(ctx, recorded.id):
            ctx.created(recorded, verb="resumed")
            return recorded.id
        client = ctx.client("cloud9")
        request = dict(
            name=args["name"],
            instanceType=args["instance_type"],
            imageId=args["image_id"],
            connectionType="CONNECT_SSM",
            automaticStopTimeMinutes=args["automatic_stop_minutes"],
            # the same token on a re-run makes Cloud9 answer with the same environment
            clientRequestToken=f"ops-{ctx.lab}-{ctx.run_id}-{ctx.step}",
            tags=ctx.tags(),
        )
        if args["subnet_id"]:
            request["subnetId"] = args["subnet_id"]
        resource = recorded or ctx.intend(ENVIRONMENT, args["name"], name=args["name"])
        accepted: Dict[str, str] = {}

        def send():
            try:
                accepted["id"] = ctx.call(client.create_environment_ec2, **request)["environmentId"]
            except ClientError as exc:  # no access to Cloud9: known by its message, not by a code
                if "does not have access" in str(exc):
                    raise StepFailed(
                        ctx.step,
                        "this account cannot create Cloud9 environments (Cloud9 is closed to "
                        "new customers since 2024-07-25).",
                        "Use an account that already had Cloud9, or the EC2 client-host lab.",
                    ) from None
                if error_code(exc) == "BadRequestException" and "does not exist in this account" in str(exc):
                    # Cloud9 does not see the role or profile: made a moment ago (IAM's view
                    # lags), or deleted since by a lab elsewhere (then made again here)
                    self._ensure_iam(unless_in_place=True)
                    return RETRY, "the SSM role or instance profile not visible to Cloud9 yet"
                raise
            return SUCCESS, "accepted"

        if send()[0] == RETRY:
            ctx.wait(f"environment {args['name']} creation", send, "iam.propagation")
        env_id = accepted["id"]
        resource.id = env_id
        ctx.created(resource, name=args["name"], instance_type=args["instance_type"])
        return env_id

    def _wait_for_instance(self, env_id: str) -> Dict[str, Any]:
        found: Dict[str, Any] = {}

        def check():
            instance = environment_instance(self.ctx, env_id)
            if instance:
                found.update(instance)
                return SUCCESS, instance["State"]["Name"]
            environment = find_environment(self.ctx, env_id) or {}
            lifecycle = environment.get("lifecycle", {})
            if lifecycle.get("status") == "CREATE_FAILED":  # its stack gave up: no instance will come
                return FAILURE, f"CREATE_FAILED: {lifecycle.get('reason') or 'no reason given'}"
            return RETRY, "no instance yet"

        self.ctx.wait(f"environment {env_id} instance", check, "cloud9.instance", size=self.args["instance_type"])
        return found

    def wait(self) -> Dict[str, Any]:
        ctx = self.ctx
        env_id = ctx.find_recorded(ENVIRONMENT).id
        client = ctx.client("cloud9")
        shared = environments(ctx.aws)

        def check():
            try:
                lifecycle = shared.answer(env_id)["environments"][0]["lifecycle"]
            except client.exceptions.NotFoundException:
                return FAILURE, "deleted"
            if lifecycle["status"] == "CREATE_FAILED":
                return FAILURE, f"CREATE_FAILED: {lifecycle.get('reason') or 'no reason given'}"
            if lifecycle["status"] in ("DELETING", "DELETE_FAILED"):  # something else is deleting it
                return FAILURE, lifecycle["status"].lower()
            if lifecycle["status"] != "CREATED":
                return RETRY, lifecycle["status"].lower()
            status = ctx.call(client.describe_environment_status, environmentId=env_id)["status"]
            if status == "ready":
                return SUCCESS, status
            if status == "error":
                return FAILURE, status
            return RETRY, status

        with shared.watching(env_id):
            ctx.wait(f"environment {env_id}", check, "cloud9.create", size=self.args["instance_type"])
        cloud9_members.share(ctx, env_id)
        return {}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        if resource.base_kind == cloud9_members.MEMBERSHIP:
            cloud9_members.delete(ctx, resource)
            return
        if delete_iam(ctx, resource, shared_users=lambda: ssm_environments(ctx)):
            return
        if resource.status == "intent":  # the create call's answer was never recorded
            made = _find_by_name(ctx, resource.attrs.get("name", resource.id))
            if made is None:  # never made (its record keeps a valid id)
                return
            resource.id = made
        client = ctx.client("cloud9")
        shared = environments(ctx.aws)

        def found() -> Optional[Dict[str, Any]]:
            try:
                return shared.answer(resource.id)["environments"][0]
            except client.exceptions.NotFoundException:
                return None

        with shared.watching(resource.id):
            environment = found()
            if environment is None:
                return
            if environment.get("lifecycle", {}).get("status") != "DELETING":
                ctx.call(client.delete_environment, environmentId=resource.id)

        def check():
            environment = found()
            if environment is None:
                return SUCCESS, "gone"
            status = environment.get("lifecycle", {}).get("status", "?")
            return (FAILURE if status == "DELETE_FAILED" else RETRY), status

        with shared.watching(resource.id):  # a new wait: no answer from before the delete serves it
            ctx.wait(f"environment {resource.id} deletion", check, "cloud9.delete")


def ssm_environments(ctx) -> List[str]:
    """The account's Cloud9 environments connected through SSM that exist or are being made:
    each one's instance uses the SSM role and profile (one being made may have none yet)."""
    client = ctx.client("cloud9")
    ids = ctx.aws.listing(client, "list_environments", "environmentIds")
    found = []
    for chunk in (ids[i : i + 25] for i in range(0, len(ids), 25)):
        try:
            environments = ctx.call(client.describe_environments, environmentIds=chunk)["environments"]
        except client.exceptions.NotFoundException:  # one went since the listing: ask one by one
            environments = [env for env in (find_environment(ctx, env_id) for env_id in chunk) if env]
        found += [
            f"Cloud9 environment {env['name']} ({env['id']})"
            for env in environments
            if env.get("connectionType") == "CONNECT_SSM" and env["lifecycle"]["status"] in ("CREATING", "CREATED")
        ]
    return found


def _find_by_name(ctx, name: str) -> Optional[str]:
    """The environment this run created under `name` (its create answer was never recorded)."""
    client = ctx.client("cloud9")
    ids = ctx.call(client.list_environments)["environmentIds"]
    for chunk in (ids[i : i + 25] for i in range(0, len(ids), 25)):
        for env in ctx.call(client.describe_environments, environmentIds=chunk)["environments"]:
            if env["name"] == name:
                tags = ctx.call(client.list_tags_for_resource, ResourceARN=env["arn"])["Tags"]
                if ctx.is_ours(tags):
                    return env["id"]
    return None
