"""Cloud9: an EC2 environment reached through SSM (no inbound ports), the lab's client host.

boto3 has no Cloud9 waiters, so readiness is polled with describe_environment_status. The
environment's instance (tagged aws:cloud9:environment=<id>) and its security group appear
shortly after the create call; the group is what the cache's ingress rule admits.
"""

from typing import Any, Dict, List, Optional

from ..errors import StepFailed
from ..instance_types import instance_type_problem
from ..model import Change, Found, Resource, ResourceKind, Switch, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn, iam_arn, merged
from ..waiting import FAILURE, RETRY, SUCCESS
from .base import Output, Param, StepType, register
from .iam import (
    INSTANCE_ROLE_KINDS,
    SSM_CORE,
    delete_iam,
    ensure_instance_profile,
    ensure_managed_policy,
    ensure_role,
    instance_role_changes,
    instance_role_grants,
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
)


def find_environment(ctx, env_id: str) -> Optional[Dict[str, Any]]:
    client = ctx.client("cloud9")
    try:
        found = ctx.call(client.describe_environments, environmentIds=[env_id])["environments"]
    except client.exceptions.NotFoundException:
        return None
    return found[0] if found else None


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
        "CONNECT_SSM needs; outputs its instance and security group."
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
    kinds = (ENVIRONMENT_KIND, *INSTANCE_ROLE_KINDS)
    hints = {"VPCIdNotSpecified": "This region has no default VPC: create one with 'aws ec2 create-default-vpc'."}
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
        Grant(["cloud9:ListEnvironments"], why="listing environments (ops doctor) names no environment"),
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
        return changes

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        ensure_role(
            ctx,
            SSM_ROLE,
            SSM_ROLE_PATH,
            ["cloud9.amazonaws.com", "ec2.amazonaws.com"],
            "Cloud9 CONNECT_SSM instances (created by ops)",
        )
        ensure_instance_profile(ctx, SSM_PROFILE, SSM_PROFILE_PATH, SSM_ROLE)
        ensure_managed_policy(ctx, SSM_ROLE, "AWSCloud9SSMInstanceProfile")
        if args["ssm_run_command"]:
            ensure_managed_policy(ctx, SSM_ROLE, SSM_CORE)
        env_id = self._find_or_create()
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
        try:
            env_id = ctx.call(client.create_environment_ec2, **request)["environmentId"]
        except ClientError as exc:  # no access to Cloud9: known by its message, not by a code
            if "does not have access" in str(exc):
                raise StepFailed(
                    ctx.step,
                    "this account cannot create Cloud9 environments (Cloud9 is closed to "
                    "new customers since 2024-07-25).",
                    "Use an account that already had Cloud9, or the EC2 client-host lab.",
                ) from None
            raise
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

        self.ctx.wait(f"environment {env_id} instance", check, "cloud9.instance")
        return found

    def wait(self) -> Dict[str, Any]:
        ctx = self.ctx
        env_id = ctx.find_recorded(ENVIRONMENT).id
        client = ctx.client("cloud9")

        def check():
            status = ctx.call(client.describe_environment_status, environmentId=env_id)["status"]
            if status == "ready":
                return SUCCESS, status
            if status == "error":
                return FAILURE, status
            return RETRY, status

        ctx.wait(f"environment {env_id}", check, "cloud9.create")
        return {}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        if delete_iam(ctx, resource):
            return
        if resource.status == "intent":  # the create call's answer was never recorded
            resource.id = _find_by_name(ctx, resource.attrs.get("name", resource.id)) or ""
            if not resource.id:
                return
        client = ctx.client("cloud9")
        environment = find_environment(ctx, resource.id)
        if environment is None:
            return
        if environment.get("lifecycle", {}).get("status") != "DELETING":
            ctx.call(client.delete_environment, environmentId=resource.id)

        def check():
            found = find_environment(ctx, resource.id)
            if found is None:
                return SUCCESS, "gone"
            status = found.get("lifecycle", {}).get("status", "?")
            return (FAILURE if status == "DELETE_FAILED" else RETRY), status

        ctx.wait(f"environment {resource.id} deletion", check, "cloud9.delete")


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
