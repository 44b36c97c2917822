"""EC2: the lab's client host without Cloud9, an Amazon Linux 2023 instance reached only through SSM.

What Cloud9 made for the lab, made directly: an IAM role trusted by EC2 with the AWS managed
policy AmazonSSMManagedInstanceCore and an instance profile holding it (names unique to the
run), a security group of the run's own with no inbound rules (the cache's ingress rule names
it), and the instance, in the default VPC unless a subnet is given. Ready means running and
SSM-online (its agent registered), so Run Command can reach it.

Teardown: the instance (terminated, waited for), then its security group (retried while AWS
still sees the terminated instance's network interface), then the IAM pieces, newest first.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..aws import error_code, error_message, is_transient
from ..errors import BadInput, StepFailed
from ..instance_types import instance_type_problem
from ..model import Change, Found, Resource, ResourceKind, Switch, ec2_retag, tag_map
from ..permissions import REQUEST_TAGGED, RESOURCE_TAGGED, Grant, arn, merged
from ..shared_describe import SharedDescribe, not_found, shared_describe
from ..waiting import RETRY, SUCCESS
from .base import Output, Param, StepType, register
from .ec2 import default_vpc
from .iam import (
    INSTANCE_ROLE_KINDS,
    SSM_CORE,
    delete_iam,
    ensure_instance_role,
    instance_role_changes,
    instance_role_grants,
    run_scoped_name,
)
from .ssm_routes import NO_ROUTE_HINT, literal_subnet, ssm_access

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
INSTANCE, GROUP = "ec2-instance", "security-group"
IAM_PATH = "/"  # role ARNs role/ops-*: what `ops iam-policy` lets iam:PassRole pass
ALIVE = ("pending", "running", "stopping", "stopped")


def _part_of_cloud9(tags: Dict[str, str], group_name: str = "") -> Dict[str, str]:
    """A Cloud9 environment's instance and group go with their environment, not a step."""
    parent = tags.get("aws:cloud9:environment") or (group_name if group_name.startswith("aws-cloud9-") else "")
    return {"part_of": parent} if parent else {}


def _find_instances(aws) -> List[Found]:
    reservations = aws.listing(
        aws.client("ec2"),
        "describe_instances",
        "Reservations",
        Filters=[{"Name": "instance-state-name", "Values": list(ALIVE)}],
    )
    return [
        Found(
            INSTANCE,
            instance["InstanceId"],
            instance["State"]["Name"],
            tag_map(instance.get("Tags")),
            attrs=_part_of_cloud9(tag_map(instance.get("Tags"))),
        )
        for instance in (i for r in reservations for i in r["Instances"])
    ]


def _find_groups(aws) -> List[Found]:
    return [
        Found(
            GROUP,
            group["GroupId"],
            group["GroupName"],
            tag_map(group.get("Tags")),
            attrs=_part_of_cloud9(tag_map(group.get("Tags")), group["GroupName"]),
        )
        for group in aws.listing(aws.client("ec2"), "describe_security_groups", "SecurityGroups")
    ]


def _instance_state(aws, instance_id: str) -> str:
    """An instance's state; a terminated one costs nothing more, so it counts as gone."""
    reservations = aws.call(aws.client("ec2").describe_instances, InstanceIds=[instance_id])["Reservations"]
    state = reservations[0]["Instances"][0]["State"]["Name"] if reservations else "terminated"
    return "gone" if state == "terminated" else state


GROUP_KIND = ResourceKind(
    GROUP,
    creation_order=20,
    find=_find_groups,
    not_found=("InvalidGroup.NotFound",),
    retag=ec2_retag(arn("ec2", "security-group/*")),
)
INSTANCE_KIND = ResourceKind(
    INSTANCE,
    creation_order=21,
    find=_find_instances,
    live_state=_instance_state,
    not_found=("InvalidInstanceID.NotFound",),
    price=("ec2", "instance_type"),
    actions=("ec2:DescribeInstances",),
    switch=Switch(
        "ec2", "terminateInstances", lambda instance_id: {"InstanceIds": [instance_id]}, arn("ec2", "instance/*")
    ),
    retag=ec2_retag(arn("ec2", "instance/*")),
)


def check_name(value: str) -> Optional[str]:
    import re

    if not re.match(r"^[A-Za-z0-9+=,.@_-]{1,64}$", value):
        return "must be 1-64 letters, digits or +=,.@_- (it names an IAM role)"
    return None


def find_instance(ctx, instance_id: str) -> Optional[Dict[str, Any]]:
    from botocore.exceptions import ClientError  # EC2 models no errors: its codes are strings

    ec2 = ctx.client("ec2")
    try:
        reservations = ctx.call(ec2.describe_instances, InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if error_code(exc) == "InvalidInstanceID.NotFound":
            return None
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    return instances[0] if instances else None


FILTER_VALUES = 200  # values one EC2 filter takes


def _instance_answers(aws, ids: List[str]) -> Dict[str, Any]:
    """The answers of the shared describe of instances. One id gets its own call (what a lab
    alone makes). EC2 refuses a whole call naming ids when one is unknown
    (InvalidInstanceID.NotFound, as it is for a moment after RunInstances), so more ids go in
    an instance-id filter, which lists the known ones; an id not listed is answered with
    that error."""
    from botocore.exceptions import ClientError

    ec2 = aws.client("ec2")
    if len(ids) == 1:
        try:
            return {ids[0]: aws.call(ec2.describe_instances, InstanceIds=ids)}
        except ClientError as exc:
            if is_transient(exc):
                raise
            return {ids[0]: exc}
    listed: Dict[str, Any] = {}
    for start in range(0, len(ids), FILTER_VALUES):
        chunk = ids[start : start + FILTER_VALUES]
        for reservation in aws.listing(
            ec2, "describe_instances", "Reservations", Filters=[{"Name": "instance-id", "Values": chunk}]
        ):
            listed.update((instance["InstanceId"], instance) for instance in reservation["Instances"])
    return {
        instance_id: {"Reservations": [{"Instances": [listed[instance_id]]}]}
        if instance_id in listed
        else not_found(
            ec2, "DescribeInstances", "InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' is not listed"
        )
        for instance_id in ids
    }


def instances(aws) -> SharedDescribe:
    """Every wait on an EC2 instance in this run shares its DescribeInstances calls."""
    return shared_describe(aws, INSTANCE, _instance_answers)


def tagged_instance(ctx, step: str) -> Optional[Dict[str, Any]]:
    """The live instance this run's `step` launched (its RunInstances answer never recorded)."""
    ec2 = ctx.client("ec2")
    reservations = ctx.call(
        ec2.describe_instances,
        Filters=[
            {"Name": "tag:ops:lab", "Values": [ctx.lab]},
            {"Name": "tag:ops:run", "Values": [ctx.run_id]},
            {"Name": "tag:ops:step", "Values": [step]},
            {"Name": "instance-state-name", "Values": list(ALIVE)},
        ],
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return instances[0] if instances else None


def find_group(ctx, group_id: str = "", name: str = "", vpc_id: str = "") -> Optional[Dict[str, Any]]:
    from botocore.exceptions import ClientError

    ec2 = ctx.client("ec2")
    try:
        if group_id:
            groups = ctx.call(ec2.describe_security_groups, GroupIds=[group_id])["SecurityGroups"]
        else:
            filters = [{"Name": "group-name", "Values": [name]}]
            if vpc_id:
                filters.append({"Name": "vpc-id", "Values": [vpc_id]})
            groups = ctx.call(ec2.describe_security_groups, Filters=filters)["SecurityGroups"]
    except ClientError as exc:
        if error_code(exc) in ("InvalidGroup.NotFound", "InvalidGroupId.NotFound"):
            return None
        raise
    return groups[0] if groups else None


def subnet_vpc(ctx, subnet_id: str) -> str:
    from botocore.exceptions import ClientError

    ec2 = ctx.client("ec2")
    try:
        return ctx.call(ec2.describe_subnets, SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
    except ClientError as exc:
        if error_code(exc) == "InvalidSubnetID.NotFound":
            raise StepFailed(
                ctx.step,
                f"subnet {subnet_id} does not exist in {ctx.region}.",
                "Omit subnet_id to use the default VPC.",
            ) from None
        raise


def _profile_not_visible_yet(exc) -> bool:
    """EC2 does not see an instance profile for a few seconds after IAM created it."""
    return error_code(exc) == "InvalidParameterValue" and "instance profile" in error_message(exc).lower()


def _run_id(ctx) -> str:
    state = getattr(ctx, "state", None)
    return state.run_id if state is not None else "<run id>"  # a plan may have no record yet


@register
class ClientHost(StepType):
    name = "ec2.client_host"
    summary = (
        "An Amazon Linux 2023 EC2 instance reached only through SSM (no inbound rules), with an IAM role, "
        "instance profile and security group of the run's own: the lab's client host without Cloud9."
    )
    params = [
        Param(
            "name",
            default=None,
            check=check_name,
            doc="name of the role, instance profile, security group and instance (Name tag); "
            "omit for ops-<lab>-<run id>-<step>, unique per run (ops iam-policy lets PassRole pass ops-*)",
        ),
        Param(
            "instance_type",
            default="t3.micro",
            check=instance_type_problem,
            doc="EC2 instance type (x86_64 with the default image; t3.micro is current generation and cheap)",
        ),
        Param("image_id", default=None, doc="AMI id; omit to use the latest Amazon Linux 2023 (image_parameter)"),
        Param(
            "image_parameter",
            default=AL2023,
            doc="public SSM parameter naming the AMI when image_id is omitted (…-arm64 for Graviton types)",
        ),
        Param(
            "subnet_id",
            default=None,
            doc="subnet; omit for the default VPC. It must reach SSM (public IP, NAT or VPC endpoints)",
        ),
    ]
    outputs = {
        "instance_id": Output("the instance, running and SSM-online"),
        "security_group_id": Output("the instance's security group (no inbound rules)", early=True),
        "role_name": Output("the instance's IAM role", early=True),
        "instance_profile": Output("the instance profile holding the role", early=True),
        "image_id": Output("the AMI the instance runs", early=True),
    }
    example = """\
- name: host
  type: ec2.client_host
  with:
    instance_type: t3.micro
"""
    default_timeout = 900.0
    kinds = (GROUP_KIND, INSTANCE_KIND, *INSTANCE_ROLE_KINDS)
    hints = {
        "InstanceLimitExceeded": "The account's instance limit is reached: stop unused instances or ask for more.",
        "VPCIdNotSpecified": "This region has no default VPC: create one with 'aws ec2 create-default-vpc'.",
    }
    permissions = [
        # the image's public parameter: AWS's, so any account (its ARN has none)
        Grant(["ssm:GetParameter"], [arn("ssm", "parameter/{image_parameter_path}", account="*")]),
        Grant(["ssm:DescribeInstanceInformation"], why="SSM defines no resource type for listing managed instances"),
        Grant(
            [
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances",
                "ec2:DescribeRouteTables",
                "ec2:DescribeVpcEndpoints",
            ],
            why="EC2 defines no resource type for Describe* calls",
        ),
        Grant(["ec2:CreateSecurityGroup"], [arn("ec2", "vpc/*")]),
        Grant(["ec2:CreateSecurityGroup"], [arn("ec2", "security-group/*")], REQUEST_TAGGED),
        Grant(["ec2:RunInstances"], [arn("ec2", "instance/*"), arn("ec2", "volume/*")], REQUEST_TAGGED),
        Grant(["ec2:RunInstances"], [arn("ec2", "security-group/*")], RESOURCE_TAGGED),  # the host's own group
        Grant(
            ["ec2:RunInstances"],
            [arn("ec2", "image/*", account=""), arn("ec2", "subnet/*"), arn("ec2", "network-interface/*")],
        ),
        Grant(
            ["ec2:CreateTags"],
            [arn("ec2", "security-group/*"), arn("ec2", "instance/*"), arn("ec2", "volume/*")],
            merged(REQUEST_TAGGED, {"StringEquals": {"ec2:CreateAction": ["CreateSecurityGroup", "RunInstances"]}}),
        ),
        Grant(["ec2:TerminateInstances"], [arn("ec2", "instance/*")], RESOURCE_TAGGED),
        Grant(["ec2:DeleteSecurityGroup"], [arn("ec2", "security-group/*")], RESOURCE_TAGGED),
        *instance_role_grants("{host_name}", "{host_name}", [SSM_CORE]),
    ]

    @classmethod
    def policy_names(cls, names, lab, step):
        host = names["name"] or f"ops-*-{step}"  # run_scoped_name: ops-<lab>-<run id>-<step>, or shortened
        return {
            "host_name": host,
            "role_name": host,
            "instance_profile": host,
            "image_parameter": None if names["image_id"] else names["image_parameter"],
        }

    @classmethod
    def preflight(cls, playbook, step, account, dry_run: bool) -> None:
        """A subnet the playbook names must let the host reach SSM, before anything is made."""
        subnet = literal_subnet(step)
        aws = account() if subnet is not None else None
        if subnet is None or aws is None:
            return
        try:
            _, problem = ssm_access(aws, subnet)
        except aws.client("ec2").exceptions.ClientError as exc:
            if error_code(exc) != "InvalidSubnetID.NotFound":
                raise
            problem = f"subnet {subnet} does not exist in {aws.region}"
        if problem:
            raise BadInput(
                f"step '{step.name}': {problem}. Nothing was created.",
                NO_ROUTE_HINT,
                playbook.source,
                step.arg_lines.get("subnet_id", step.line),
            )

    # --- names and the image ---------------------------------------------------------

    def _name(self) -> str:
        return self.args["name"] or run_scoped_name(self.ctx.lab, _run_id(self.ctx), self.step_name)

    def _image(self) -> str:
        if self.args["image_id"]:
            return self.args["image_id"]
        ctx, parameter = self.ctx, self.args["image_parameter"]
        ssm = ctx.client("ssm")
        try:
            return ctx.call(ssm.get_parameter, Name=parameter)["Parameter"]["Value"]
        except (ssm.exceptions.ParameterNotFound, ssm.exceptions.AccessDeniedException) as exc:
            raise StepFailed(
                ctx.step,
                f"could not read the AMI id from the SSM parameter {parameter} ({error_code(exc)}).",
                "Give the step an explicit image_id (an Amazon Linux 2023 AMI in this region).",
            ) from None

    # --- plan --------------------------------------------------------------------------

    def preview(self) -> List[Change]:
        ctx, args = self.ctx, self.args
        name = self._name()
        changes = instance_role_changes(
            ctx, name, name, ("trusted by EC2; deleted on teardown", "holding it; deleted on teardown"), SSM_CORE
        )
        where = f"subnet {args['subnet_id']}" if args["subnet_id"] else "the default VPC"
        changes.append(Change("create", f"security group {name} in {where}: no inbound rules (SSM only)"))
        image = args["image_id"] or f"latest Amazon Linux 2023 ({self._image()})"
        changes.append(
            Change(
                "create",
                f"EC2 instance {name}: {args['instance_type']}, {image}, in {where}, reached through SSM",
                "ec2",
                args["instance_type"],
            )
        )
        return changes

    # --- create ------------------------------------------------------------------------

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        name = self._name()
        ensure_instance_role(
            ctx,
            name,
            IAM_PATH,
            ["ec2.amazonaws.com"],
            f"ops lab client host {ctx.lab}/{ctx.run_id}: SSM managed instance",
            [SSM_CORE],
        )
        vpc_id = subnet_vpc(ctx, args["subnet_id"]) if args["subnet_id"] else default_vpc(ctx)
        group_id = self._security_group(name, vpc_id)
        instance = self._instance(name, group_id)
        return {
            "security_group_id": group_id,
            "role_name": name,
            "instance_profile": name,
            "image_id": instance["ImageId"],
        }

    def _security_group(self, name: str, vpc_id: str) -> str:
        ctx = self.ctx
        recorded = ctx.find_recorded(GROUP)
        if recorded is not None:
            existing = (
                find_group(ctx, group_id=recorded.id)
                if recorded.status == "created"
                else find_group(ctx, name=name, vpc_id=vpc_id)
            )
            if existing is not None and ctx.is_ours(existing.get("Tags", [])):
                recorded.id = existing["GroupId"]
                ctx.created(recorded, verb="resumed", vpc_id=vpc_id)
                return recorded.id
        existing = find_group(ctx, name=name, vpc_id=vpc_id)
        if existing is not None and not ctx.is_ours(existing.get("Tags", [])):
            raise _not_ours(ctx, name, vpc_id)
        resource = _intent(ctx, recorded, GROUP, name, name=name, vpc_id=vpc_id)
        if existing is not None:  # ours: made by this run's create call whose answer was lost
            group_id = existing["GroupId"]
        else:
            from botocore.exceptions import ClientError

            ec2 = ctx.client("ec2")
            try:
                group_id = ctx.call(
                    ec2.create_security_group,
                    GroupName=name,
                    VpcId=vpc_id,
                    Description="ops lab client host: no inbound rules, reached through SSM",
                    TagSpecifications=[
                        {"ResourceType": "security-group", "Tags": ctx.tags() + [{"Key": "Name", "Value": name}]}
                    ],
                )["GroupId"]
            except ClientError as exc:
                if error_code(exc) != "InvalidGroup.Duplicate":
                    raise
                # a re-sent create whose first answer was lost (ours), or another's group made since we looked
                existing = find_group(ctx, name=name, vpc_id=vpc_id)
                if existing is None:
                    raise
                if not ctx.is_ours(existing.get("Tags", [])):  # teardown leaves an untagged one alone
                    raise _not_ours(ctx, name, vpc_id) from None
                group_id = existing["GroupId"]
        resource.id = group_id
        ctx.created(resource, name=name, vpc_id=vpc_id)
        return group_id

    def _instance(self, name: str, group_id: str) -> Dict[str, Any]:
        from botocore.exceptions import ClientError

        ctx, args = self.ctx, self.args
        recorded = ctx.find_recorded(INSTANCE)
        if recorded is not None:
            found = find_instance(ctx, recorded.id) if recorded.status == "created" else tagged_instance(ctx, ctx.step)
            if found is not None and found["State"]["Name"] in ALIVE:
                recorded.id = found["InstanceId"]
                ctx.created(recorded, verb="resumed", image_id=found["ImageId"])
                return found
        # A re-sent launch (its answer lost) reuses the token, so EC2 answers with the same
        # instance; a relaunch after the recorded instance died needs a new one.
        launch = (recorded.attrs.get("launch", 1) + (recorded.status == "created")) if recorded else 1
        image = self._image()
        tags = ctx.tags() + [{"Key": "Name", "Value": name}]
        request: Dict[str, Any] = dict(
            ImageId=image,
            InstanceType=args["instance_type"],
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Name": name},
            SecurityGroupIds=[group_id],
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            # the same token on a re-sent request makes EC2 answer with the same instance
            ClientToken=f"ops-{ctx.run_id}-{ctx.step[:40]}-{launch}",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
        )
        if args["subnet_id"]:
            request["SubnetId"] = args["subnet_id"]
            needs_public_ip, problem = ssm_access(ctx, args["subnet_id"])
            if problem:
                raise StepFailed(ctx.step, f"{problem}.", NO_ROUTE_HINT)
            if needs_public_ip:  # an internet gateway, but no address of its own: ask for one
                request["NetworkInterfaces"] = [
                    {
                        "DeviceIndex": 0,
                        "SubnetId": request.pop("SubnetId"),
                        "Groups": request.pop("SecurityGroupIds"),
                        "AssociatePublicIpAddress": True,
                    }
                ]
        resource = _intent(ctx, recorded, INSTANCE, name, name=name, launch=launch)
        ec2 = ctx.client("ec2")
        launched: Dict[str, Any] = {}

        def send():
            try:
                answer = ctx.call(ec2.run_instances, **request)["Instances"][0]
            except ClientError as exc:
                if _profile_not_visible_yet(exc):
                    return RETRY, "instance profile not visible to EC2 yet"
                raise
            if answer["State"]["Name"] in ("shutting-down", "terminated"):
                # the token names an earlier launch (resumed from its intent) whose instance has
                # died since, and EC2 answers with that one: launch anew, under the next token
                resource.attrs["launch"] += 1
                ctx.record.record(resource)  # the new token is written before it is sent
                request["ClientToken"] = f"ops-{ctx.run_id}-{ctx.step[:40]}-{resource.attrs['launch']}"
                return RETRY, f"instance {answer['InstanceId']} of this token is {answer['State']['Name']}"
            launched.update(answer)
            return SUCCESS, "launched"

        ctx.wait(f"instance {name} launch", send, "iam.propagation")
        resource.id = launched["InstanceId"]
        ctx.created(resource, name=name, instance_type=args["instance_type"], image_id=image)
        return launched

    # --- wait --------------------------------------------------------------------------

    def wait(self) -> Dict[str, Any]:
        from ..waiting import waiter_check

        ctx = self.ctx
        instance_id = ctx.find_recorded(INSTANCE).id
        shared = instances(ctx.aws)
        with shared.watching(instance_id):
            ctx.wait(
                f"instance {instance_id}",
                waiter_check(
                    ctx.aws,
                    ctx.client("ec2"),
                    "instance_running",
                    lambda r: r["Reservations"][0]["Instances"][0]["State"]["Name"],
                    answer=lambda: shared.answer(instance_id),
                ),
                "ec2.running",
                size=self.args["instance_type"],
            )
        ssm = ctx.client("ssm")

        def online():
            try:
                found = ctx.call(
                    ssm.describe_instance_information, Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
                )["InstanceInformationList"]
            except ssm.exceptions.InvalidInstanceId:  # SSM answers so until the agent registers
                return RETRY, "SSM agent not registered yet"
            if not found:
                return RETRY, "SSM agent not registered yet"
            status = found[0].get("PingStatus", "?")
            return (SUCCESS if status == "Online" else RETRY), f"SSM {status}"

        ctx.wait(f"instance {instance_id} in SSM", online, "ssm.online")
        return {"instance_id": instance_id}

    # --- delete ------------------------------------------------------------------------

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        if delete_iam(ctx, resource):
            return
        if resource.kind == INSTANCE:
            _terminate(ctx, resource)
        elif resource.kind == GROUP:
            _delete_group(ctx, resource)


def _not_ours(ctx, name: str, vpc_id: str) -> StepFailed:
    return StepFailed(
        ctx.step,
        f"a security group named {name} already exists in {vpc_id} and is not this run's.",
        "Give the step another name (or omit name for a per-run one).",
    )


def _intent(ctx, recorded: Optional[Resource], kind: str, resource_id: str, **attrs) -> Resource:
    """The intent row before a create call: a new one, or the recorded row of a resource that
    is gone (made an intent again, so a crash now leaves no stale id behind)."""
    if recorded is None:
        return ctx.intend(kind, resource_id, **attrs)
    recorded.id, recorded.status = resource_id, "intent"
    recorded.attrs.update(attrs)
    ctx.state.record(recorded)
    return recorded


def _terminate(ctx, resource: Resource) -> None:
    shared = instances(ctx.aws)

    def state(instance_id: str) -> str:
        from botocore.exceptions import ClientError

        try:
            reservations = shared.answer(instance_id)["Reservations"]
        except ClientError as exc:
            if error_code(exc) != "InvalidInstanceID.NotFound":
                raise
            reservations = []
        return reservations[0]["Instances"][0]["State"]["Name"] if reservations else "terminated"

    if resource.status != "intent":
        instance_id = resource.id
    else:  # the launch was sent but its answer never recorded: find the instance by its tags
        tagged = tagged_instance(ctx, resource.step)
        if tagged is None:
            return
        instance_id = tagged["InstanceId"]
    with shared.watching(instance_id):
        now = state(instance_id)
        if now == "terminated":
            return
        if now != "shutting-down":
            ctx.call(ctx.client("ec2").terminate_instances, InstanceIds=[instance_id])

    def check():
        now = state(instance_id)
        return (SUCCESS if now == "terminated" else RETRY), now

    with shared.watching(instance_id):  # a new wait: no answer from before the terminate call serves it
        ctx.wait(f"instance {instance_id} termination", check, "ec2.terminated")


def _delete_group(ctx, resource: Resource) -> None:
    from botocore.exceptions import ClientError

    if resource.status != "intent":
        group = find_group(ctx, group_id=resource.id)
    else:  # the create call's answer was lost: the group of that name, if this run tagged it
        group = find_group(ctx, name=resource.attrs.get("name", resource.id), vpc_id=resource.attrs.get("vpc_id", ""))
        if group is not None and not ctx.is_ours(group.get("Tags", [])):
            return
    if group is None:
        return
    ec2 = ctx.client("ec2")

    def check():
        try:
            ctx.call(ec2.delete_security_group, GroupId=group["GroupId"])
        except ClientError as exc:
            code = error_code(exc)
            if code == "DependencyViolation":  # the terminated instance's interface lingers a while
                return RETRY, "in use (DependencyViolation)"
            if code not in ("InvalidGroup.NotFound", "InvalidGroupId.NotFound"):
                raise
        return SUCCESS, "deleted"

    ctx.wait(f"security group {group['GroupId']} deletion", check, "ec2.security_group_delete")
