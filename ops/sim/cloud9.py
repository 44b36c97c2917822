"""A Cloud9 fake (moto has no Cloud9): EC2 environments and the EC2 resources they own.

What it reproduces, and where the behaviour comes from:

- imageId is required and must be one of the AMI aliases or SSM paths the API documents
  (botocore's model; Terraform's aws_cloud9_environment_ec2 validates the same list).
  Ubuntu 18.04 was removed on 2024-12-16 and Amazon Linux 1 before it: BadRequestException.
- CONNECT_SSM needs the role AWSCloud9SSMAccessRole (path /service-role/) and the instance
  profile AWSCloud9SSMInstanceProfile (path /cloud9/); the console creates them, the API
  does not. Without the profile AWS answers "Instance profile AWSCloud9SSMInstanceProfile
  does not exist in this account. Please create an instance profile and role as described
  here ..." (Cloud9 user guide, troubleshooting; the text seen by CloudFormation users).
  The error code for it, and the message for a missing role, are assumptions. Cloud9 sees
  IAM late: a role or profile made less than `iam.propagation` seconds ago gets the same
  answer (iam.py).
- Like the real service (a CloudFormation stack named aws-cloud9-<name>-<id>), creation
  makes, in EC2, a security group named aws-cloud9-<name>-<id>-InstanceSecurityGroup-<rand>
  with no inbound rule and an instance in it tagged aws:cloud9:environment, aws:cloud9:owner
  and Name, with the SSM instance profile; user tags propagate to both (user guide).
- Deleting terminates the instance at once, then removes the group when `cloud9.delete`
  has passed. If another group still references it, EC2 refuses (DependencyViolation), the
  stack deletion fails and the environment stays, lifecycle DELETE_FAILED with the group as
  failureResource (the user guide: "the card for the environment indicates that
  environment deletion failed"); DeleteEnvironment may then be called again.
- DescribeEnvironments answers NotFoundException for an unknown or deleted id, for the whole
  call when it names several (Terraform's finder treats that error, and an empty list, as
  gone). More than 25 ids (the model's maximum, which botocore does not check): a
  BadRequestException with AWS's usual "1 validation error detected" text (the code is an
  assumption: Cloud9 models no ValidationException).
- Duplicate environment names: no source found saying AWS rejects them, so they are
  accepted; each call makes a new environment. A call repeating an earlier call's
  clientRequestToken (a re-sent request) makes none: it answers with the environment that
  call made ("ensure this operation completes no more than one time", the API reference).
- Memberships: cloud9_members.py, on the environments kept here.
- Not simulated: auto-stop after automaticStopTimeMinutes (stored only), SSH environments'
  inbound rule from Cloud9's IP ranges, UpdateEnvironment.
"""

import hashlib
import random
import string
import uuid
from typing import Any, Dict

from .base import ACCOUNT_ID, Backend, SimError, tag_dict_to_list, tag_list_to_dict
from .ec2 import security_group_dependents

# what CreateEnvironmentEC2's imageId lists today (botocore's model): Amazon Linux 2 is gone too
IMAGE_ALIASES = ("amazonlinux-2023-x86_64", "ubuntu-22.04-x86_64")
RETIRED_IMAGE_ALIASES = ("amazonlinux-1-x86_64", "amazonlinux-2-x86_64", "ubuntu-18.04-x86_64")
DESCRIBE_LIMIT = 25  # environmentIds per DescribeEnvironments call (botocore's model; botocore checks only the minimum)
SSM_PATH_PREFIX = "resolve:ssm:/aws/service/cloud9/amis/"
SSM_ROLE, SSM_ROLE_PATH = "AWSCloud9SSMAccessRole", "/service-role/"
SSM_PROFILE, SSM_PROFILE_PATH = "AWSCloud9SSMInstanceProfile", "/cloud9/"


def image_alias(image_id: str) -> str:
    """The alias an imageId names, given as the alias itself or as its SSM path."""
    return image_id[len(SSM_PATH_PREFIX) :] if image_id.startswith(SSM_PATH_PREFIX) else image_id


def placeholder_ami(alias: str) -> str:
    """A stable stand-in for the AMI Cloud9 resolves the alias to (moto boots any id;
    looking real ones up in moto's catalogue costs a third of a second per world)."""
    return "ami-" + hashlib.sha1(alias.encode()).hexdigest()[:17]


class Cloud9Error(SimError):
    pass


class BadRequestException(Cloud9Error):
    code = "BadRequestException"


class NotFoundException(Cloud9Error):
    code = "NotFoundException"


class ConflictException(Cloud9Error):
    code = "ConflictException"


class DryRunOperation(Cloud9Error):
    code = "DryRunOperation"

    def __init__(self):
        super().__init__("Request would have succeeded, but DryRun flag is set.")


class Cloud9Backend(Backend):
    service = "cloud9"
    answers_alone = True
    operations = (
        "CreateEnvironmentEC2",
        "DescribeEnvironments",
        "DescribeEnvironmentStatus",
        "ListEnvironments",
        "DeleteEnvironment",
        "ListTagsForResource",
        "TagResource",
        "UntagResource",
    )

    @property
    def environments(self):
        return self.world.store.section("cloud9").setdefault("environments", {})

    # lifecycle

    def settle(self) -> None:
        now = self.now()
        for env in list(self.environments.values()):
            if env["instanceId"] is None and not env.get("failing"):  # a creation cut short (its process was killed)
                self._build_stack(env)
            if env["lifecycle"] == "CREATING" and now >= env["created_at"] + self.world.durations["cloud9.create"]:
                if env.get("failing"):
                    env["lifecycle"] = "CREATE_FAILED"
                    env["reason"] = (
                        "The following resource(s) failed to create: [Instance]. The instance could not be "
                        "launched (ops sim: create_failed in the fault plan)."
                    )
                else:
                    env["lifecycle"] = "CREATED"
            elif (
                env["lifecycle"] == "DELETING"
                and now >= env["delete_started_at"] + self.world.durations["cloud9.delete"]
            ):
                self._finish_delete(env)

    def _finish_delete(self, env) -> None:
        group_id = env["securityGroupId"]
        if security_group_dependents(self.world, group_id):
            env["lifecycle"] = "DELETE_FAILED"
            env["reason"] = (
                "The following resource(s) failed to delete: [InstanceSecurityGroup]. "
                f"resource {group_id} has a dependent object (Service: AmazonEC2; "
                "Status Code: 400; Error Code: DependencyViolation)"
            )
            env["failureResource"] = f"arn:aws:ec2:{self.world.region}:{ACCOUNT_ID}:security-group/{group_id}"
            return
        self.world.client("ec2").delete_security_group(GroupId=group_id)
        del self.environments[env["id"]]

    def _build_stack(self, env) -> None:
        """The environment's security group, then its instance: each found by its stack's tags
        if an earlier, interrupted call made it, else made, and recorded as soon as made."""
        stack = f"aws-cloud9-{env['name']}-{env['id']}"
        all_tags = {**env["tags"], "aws:cloudformation:stack-name": stack}
        ec2 = self.world.client("ec2")
        by_stack = [{"Name": "tag:aws:cloudformation:stack-name", "Values": [stack]}]
        if env["securityGroupId"] is None:
            found = ec2.describe_security_groups(Filters=by_stack)["SecurityGroups"]
            group_id = found[0]["GroupId"] if found else self._create_security_group(stack, env["vpcId"], all_tags)
            env["securityGroupId"] = group_id
            self.world.store.write_ahead()
        if env.get("failing"):  # the stack fails at its instance
            return
        running = ec2.describe_instances(
            Filters=by_stack + [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )["Reservations"]
        env["instanceId"] = (
            running[0]["Instances"][0]["InstanceId"]
            if running
            else self._run_instance(
                image_alias(env["imageId"]),
                env["instanceType"],
                env["subnetId"],
                env["securityGroupId"],
                env["connectionType"],
                {
                    **all_tags,
                    "Name": stack,
                    "aws:cloud9:environment": env["id"],
                    "aws:cloud9:owner": env["ownerUserId"],
                },
            )
        )

    def ready_instance_ids(self):
        """Instances of CONNECT_SSM environments that are ready, i.e. connected to SSM."""
        return {
            env["instanceId"]
            for env in self.environments.values()
            if env["lifecycle"] == "CREATED" and env["connectionType"] == "CONNECT_SSM"
        }

    def owns_instance(self, instance_id: str) -> bool:
        return any(env["instanceId"] == instance_id for env in self.environments.values())

    # operations

    def create_environment_ec2(self, params):
        name = params["name"]
        image_id = params["imageId"]
        alias = image_alias(image_id)
        if alias in RETIRED_IMAGE_ALIASES:
            raise BadRequestException(f"The imageId {image_id} is no longer supported. Choose a supported AMI.")
        if alias not in IMAGE_ALIASES:
            raise BadRequestException(
                f"{image_id} is not a valid imageId. Use an AMI alias or an SSM path such as {IMAGE_ALIASES[0]}."
            )
        tags = tag_list_to_dict(params.get("tags"))
        if any(key.lower().startswith("aws:") for key in tags):
            raise BadRequestException("Tag keys beginning with 'aws:' are reserved for system use.")
        connection = params.get("connectionType", "CONNECT_SSH")
        subnet = self._subnet(params.get("subnetId"))
        if connection == "CONNECT_SSM":
            self._check_ssm_iam()
        if params.get("dryRun"):
            raise DryRunOperation()
        token = params.get("clientRequestToken")
        made = self.world.store.section("cloud9").setdefault("client_tokens", {})
        if token and made.get(token) in self.environments:
            return {"environmentId": made[token]}

        caller = self.world.client("sts").get_caller_identity()
        env_id = uuid.uuid4().hex
        self.environments[env_id] = {
            "id": env_id,
            "name": name,
            "description": params.get("description"),
            "arn": f"arn:aws:cloud9:{self.world.region}:{ACCOUNT_ID}:environment:{env_id}",
            "ownerArn": params.get("ownerArn") or caller["Arn"],
            "connectionType": connection,
            "instanceType": params["instanceType"],
            "imageId": image_id,
            "automaticStopTimeMinutes": params.get("automaticStopTimeMinutes"),
            "subnetId": subnet["SubnetId"],
            "instanceId": None,  # set by _build_stack
            "securityGroupId": None,
            "vpcId": subnet["VpcId"],
            "ownerUserId": caller["UserId"],  # tags the instance, as aws:cloud9:owner
            "tags": tags,
            "lifecycle": "CREATING",
            "reason": None,
            "failureResource": None,
            "created_at": self.now(),
            "delete_started_at": None,
        }
        if token:
            made[token] = env_id
        injector = self.world.injector
        if injector is not None and injector.creation_fails(name):
            self.environments[env_id]["failing"] = True  # its stack never gets an instance
        # AWS accepted the environment: from here on it exists, whatever becomes of this process
        self.world.store.write_ahead()
        self._build_stack(self.environments[env_id])
        return {"environmentId": env_id}

    def describe_environments(self, params):
        ids = params["environmentIds"]
        if len(ids) > DESCRIBE_LIMIT:
            raise BadRequestException(
                "1 validation error detected: Value at 'environmentIds' failed to satisfy constraint: "
                f"Member must have length less than or equal to {DESCRIBE_LIMIT}"
            )
        return {"environments": [self._view(self.environment(env_id)) for env_id in ids]}

    def describe_environment_status(self, params):
        env = self.environment(params["environmentId"])
        status, message = {
            "CREATING": ("creating", "Creating environment"),
            "CREATED": ("ready", "Environment is ready to use"),
            "DELETING": ("deleting", "Deleting environment"),
            "DELETE_FAILED": ("error", env["reason"] or "Environment deletion failed"),
            "CREATE_FAILED": ("error", env["reason"] or "Environment creation failed"),
        }[env["lifecycle"]]
        return {"status": status, "message": message}

    def list_environments(self, params):
        ids = list(self.environments)
        start = int(params.get("nextToken") or 0)
        page = params.get("maxResults") or 25
        result: Dict[str, Any] = {"environmentIds": ids[start : start + page]}
        if start + page < len(ids):
            result["nextToken"] = str(start + page)
        return result

    def delete_environment(self, params):
        env = self.environment(params["environmentId"])
        if env["lifecycle"] != "DELETING":
            if env["instanceId"] is not None:  # a failed environment never got one
                self.world.client("ec2").terminate_instances(InstanceIds=[env["instanceId"]])
            env.update(lifecycle="DELETING", reason=None, failureResource=None, delete_started_at=self.now())
        return {}

    def list_tags_for_resource(self, params):
        return {"Tags": tag_dict_to_list(self._by_arn(params["ResourceARN"])["tags"])}

    def tag_resource(self, params):
        env = self._by_arn(params["ResourceARN"])
        tags = tag_list_to_dict(params["Tags"])
        if any(key.lower().startswith("aws:") for key in tags):
            raise BadRequestException("Tag keys beginning with 'aws:' are reserved for system use.")
        env["tags"].update(tags)
        return {}

    def untag_resource(self, params):
        env = self._by_arn(params["ResourceARN"])
        for key in params["TagKeys"]:
            env["tags"].pop(key, None)
        return {}

    # helpers

    def environment(self, env_id: str):
        """The stored environment (memberships, cloud9_members.py, live in it), or NotFoundException."""
        if env_id not in self.environments:
            raise NotFoundException(f"The environment {env_id} does not exist")
        return self.environments[env_id]

    def _by_arn(self, arn: str):
        prefix = f"arn:aws:cloud9:{self.world.region}:{ACCOUNT_ID}:environment:"
        if not arn.startswith(prefix):
            raise BadRequestException(f"Invalid resource ARN: {arn}")
        return self.environment(arn[len(prefix) :])

    def _view(self, env):
        view = {
            "id": env["id"],
            "name": env["name"],
            "type": "ec2",
            "connectionType": env["connectionType"],
            "arn": env["arn"],
            "ownerArn": env["ownerArn"],
            "lifecycle": {"status": env["lifecycle"]},
            "managedCredentialsStatus": (
                "DISABLED_BY_DEFAULT" if env["connectionType"] == "CONNECT_SSM" else "ENABLED_ON_CREATE"
            ),
        }
        if env["description"] is not None:
            view["description"] = env["description"]
        if env["reason"]:
            view["lifecycle"]["reason"] = env["reason"]
        if env["failureResource"]:
            view["lifecycle"]["failureResource"] = env["failureResource"]
        return view

    def _subnet(self, subnet_id):
        ec2 = self.world.client("ec2")
        if subnet_id:
            subnets = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])["Subnets"]
            if not subnets:
                raise BadRequestException(f"The subnet ID '{subnet_id}' does not exist")
            return subnets[0]
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        if not subnets:
            raise BadRequestException("No default VPC subnet found: specify subnetId")
        return min(subnets, key=lambda s: s["AvailabilityZone"])

    def _check_ssm_iam(self) -> None:
        iam = self.world.client("iam")
        try:
            profile = iam.get_instance_profile(InstanceProfileName=SSM_PROFILE)["InstanceProfile"]
        except iam.exceptions.NoSuchEntityException:
            profile = None
        visible = self.world.iam.visible_to_services
        if profile is None or profile["Path"] != SSM_PROFILE_PATH or not visible("profile", SSM_PROFILE):
            raise BadRequestException(
                f"Instance profile {SSM_PROFILE} does not exist in this account. Please create an instance "
                "profile and role as described here https://docs.aws.amazon.com/cloud9/latest/user-guide/ec2-ssm.html"
            )
        try:
            role = iam.get_role(RoleName=SSM_ROLE)["Role"]
        except iam.exceptions.NoSuchEntityException:
            role = None
        if role is None or role["Path"] != SSM_ROLE_PATH or not visible("role", SSM_ROLE):
            raise BadRequestException(
                f"Service role {SSM_ROLE} (path {SSM_ROLE_PATH}) does not exist in this account. Please create "
                "it as described here https://docs.aws.amazon.com/cloud9/latest/user-guide/ec2-ssm.html"
            )

    def _create_security_group(self, stack: str, vpc_id: str, tags) -> str:
        suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
        ec2 = self.world.client("ec2")
        group_id = ec2.create_security_group(
            GroupName=f"{stack}-InstanceSecurityGroup-{suffix}",
            VpcId=vpc_id,
            Description=f"Security group for AWS Cloud9 environment {stack}",
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": tag_dict_to_list({**tags, "aws:cloudformation:logical-id": "InstanceSecurityGroup"}),
                }
            ],
        )["GroupId"]
        return group_id

    def _run_instance(self, alias, instance_type, subnet_id, group_id, connection, tags) -> str:
        launch = dict(
            ImageId=placeholder_ami(alias),
            InstanceType=instance_type,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet_id,
            SecurityGroupIds=[group_id],
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": tag_dict_to_list({**tags, "aws:cloudformation:logical-id": "Instance"}),
                }
            ],
        )
        if connection == "CONNECT_SSM":
            launch["IamInstanceProfile"] = {"Name": SSM_PROFILE}
        return self.world.client("ec2").run_instances(**launch)["Instances"][0]["InstanceId"]
