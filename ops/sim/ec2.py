"""What moto's EC2 lets slide and a rehearsal must not: deleting a security group in use,
launching again for a re-sent RunInstances, and a network with no way out.

moto ignores RunInstances' ClientToken; EC2 answers a request repeating an earlier one's
token with the instances that one launched, launching none (Run_Instance_Idempotency in the
EC2 API reference), which is what makes a launch whose answer was lost safe to re-send.

moto 5.2 deletes a group that another group's rule references, that a running instance
uses, and even a VPC's `default` group. AWS refuses: DependencyViolation ("resource sg-...
has a dependent object") and CannotDelete; a terminated instance's network interface
lingers `ec2.eni_linger` seconds, holding its groups. The same dependency check decides
whether a Cloud9 environment's deletion can remove its instance security group. A launch
naming an instance profile IAM made less than `iam.propagation` seconds ago is refused
(InvalidParameterValue, "Invalid IAM Instance Profile name"), as EC2's view of IAM lags.

moto's instances are `running` from the moment they launch and `terminated` from the moment
they are asked to go; AWS's are `pending` for `ec2.boot` seconds first, and `shutting-down`
for `ec2.shutdown` seconds (describe_instances shows those, and its instance-state-name
filter goes by them).

moto's default VPC has no internet gateway; AWS's has one, with a 0.0.0.0/0 route in its
main route table (connect_default_vpc gives it one, before a world's first EC2 or SSM call). An instance's SSM Agent reaches
Systems Manager only through the internet with a public IPv4 address, through a NAT, or
through an `ssm` interface endpoint in its VPC (reaches_ssm): an instance in a private
subnet without those never registers, as on AWS.
"""

from typing import Dict, List, Set

from .base import Backend, SimError


class DependencyViolation(SimError):
    code = "DependencyViolation"

    def __init__(self, group_id: str):
        super().__init__(f"resource {group_id} has a dependent object")


class InvalidParameterValue(SimError):
    code = "InvalidParameterValue"


class CannotDelete(SimError):
    code = "CannotDelete"

    def __init__(self, group_id: str):
        super().__init__(f'the specified group: "{group_id}" name: "default" cannot be deleted by a user')


def security_group_dependents(world, group_id: str) -> List[str]:
    """What still holds on to a group: other groups' rules, live instances (and the interfaces
    of ones just terminated), cache clusters."""
    ec2 = world.client("ec2")
    found = []
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        if group["GroupId"] == group_id:
            continue
        for rule in group.get("IpPermissions", []) + group.get("IpPermissionsEgress", []):
            if any(pair.get("GroupId") == group_id for pair in rule.get("UserIdGroupPairs", [])):
                found.append(group["GroupId"])
                break
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            alive = instance["State"]["Name"] != "terminated" or world.ec2.interface_lingers(instance["InstanceId"])
            if alive and group_id in instance_groups(instance):
                found.append(instance["InstanceId"])
    found.extend(world.elasticache.clusters_using(group_id))
    return found


class EC2Overlay(Backend):
    service = "ec2"
    operations = ("DeleteSecurityGroup", "RunInstances", "DescribeInstances")
    amended = ("RunInstances", "DescribeInstances", "TerminateInstances")

    @property
    def launched(self):
        return self.world.store.section("ec2").setdefault("launched_at", {})

    @property
    def client_tokens(self):
        """ClientToken -> the ids of the instances the launch with that token made"""
        return self.world.store.section("ec2").setdefault("client_tokens", {})

    def delete_security_group(self, params):
        ec2 = self.world.client("ec2")
        if params.get("GroupId"):
            query = {"GroupIds": [params["GroupId"]]}
        else:
            query = {"Filters": [{"Name": "group-name", "Values": [params.get("GroupName", "")]}]}
        try:
            groups = ec2.describe_security_groups(**query)["SecurityGroups"]
        except ec2.exceptions.ClientError:
            groups = []
        if len(groups) != 1:
            return None  # moto reports the missing or ambiguous group
        group_id = groups[0]["GroupId"]
        if groups[0]["GroupName"] == "default":
            raise CannotDelete(group_id)
        if security_group_dependents(self.world, group_id):
            raise DependencyViolation(group_id)
        return None

    def run_instances(self, params):
        """The same answer for a repeated ClientToken; a refusal while EC2 cannot see a new
        instance profile yet; else moto launches (None)."""
        ids = self.client_tokens.get(params.get("ClientToken") or "")
        if not ids:
            profile = params.get("IamInstanceProfile") or {}
            name = profile.get("Name") or profile.get("Arn", "").rsplit("/", 1)[-1]
            if name and not self.world.iam.visible_to_services("profile", name):
                raise InvalidParameterValue(
                    f"Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
                )
            return None
        reservations = self.world.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
        reservation = reservations[0]
        return {
            "ReservationId": reservation["ReservationId"],
            "OwnerId": reservation["OwnerId"],
            "Groups": reservation.get("Groups", []),
            "Instances": [i for r in reservations for i in r["Instances"]],
        }

    def amend_run_instances(self, params, parsed):
        """Record when each instance booted, on the world's clock (SSM Agent registers later),
        and the launch's ClientToken."""
        _list_interface_groups(parsed.get("Instances", []))
        ids = [instance["InstanceId"] for instance in parsed.get("Instances", [])]
        for instance_id in ids:
            self.launched.setdefault(instance_id, self.now())
        token = params.get("ClientToken")
        if token:
            self.client_tokens.setdefault(token, ids)

    def describe_instances(self, params):
        """Filtered by instance-state-name, which moto would judge by its own states: moto's
        instances without that filter, judged by AWS's states here; else (or when moto refuses
        the query: it refuses the request alike) moto answers, amended below."""
        filters = params.get("Filters", [])
        states = [f for f in filters if f.get("Name") == "instance-state-name"]
        if not states:
            return None
        wanted = {value for f in states for value in f.get("Values", [])}
        others = [f for f in filters if f.get("Name") != "instance-state-name"]
        query = {k: v for k, v in params.items() if k not in ("Filters", "NextToken", "MaxResults")}
        ec2 = self.world.client("ec2")
        try:
            parsed = ec2.describe_instances(**query, **({"Filters": others} if others else {}))
        except ec2.exceptions.ClientError:
            return None
        self.amend_describe_instances(params, parsed)
        for reservation in parsed["Reservations"]:
            reservation["Instances"] = [i for i in reservation["Instances"] if i["State"]["Name"] in wanted]
        return {"Reservations": [r for r in parsed["Reservations"] if r["Instances"]]}

    def amend_describe_instances(self, params, parsed):
        for reservation in parsed.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                instance["State"] = self._state(instance)
            _list_interface_groups(reservation.get("Instances", []))

    def _state(self, instance: dict) -> dict:
        """The instance's state as AWS would tell it now (see the module's docstring)."""
        now, state = self.now(), instance["State"]
        launched, ended = self.launched.get(instance["InstanceId"]), self.terminated.get(instance["InstanceId"])
        if state["Name"] == "running" and launched is not None and now < launched + self.world.durations["ec2.boot"]:
            return {"Code": 0, "Name": "pending"}
        if state["Name"] == "terminated" and ended is not None and now < ended + self.world.durations["ec2.shutdown"]:
            return {"Code": 32, "Name": "shutting-down"}
        return state

    @property
    def terminated(self):
        """instance id -> when TerminateInstances was asked, on the world's clock"""
        return self.world.store.section("ec2").setdefault("terminated_at", {})

    def amend_terminate_instances(self, params, parsed):
        for change in parsed.get("TerminatingInstances", []):
            before = self.terminated.get(change["InstanceId"])
            self.terminated.setdefault(change["InstanceId"], self.now())
            if before is not None:  # asked again: it is where the first call left it
                change["PreviousState"] = change["CurrentState"] = self._state(
                    {**change, "State": change["CurrentState"]}
                )
            elif change["PreviousState"]["Name"] == "running":
                change["PreviousState"] = self._state({**change, "State": change["PreviousState"]})

    def interface_lingers(self, instance_id: str) -> bool:
        """Does the terminated instance's network interface still hold its groups?"""
        at = self.terminated.get(instance_id)
        return at is not None and self.now() < at + self.world.durations["ec2.eni_linger"]

    def launched_at(self, instance_id: str):
        return self.launched.get(instance_id)


def connect_default_vpc(world) -> None:
    """Give the default VPC the internet gateway and default route AWS's has (once)."""
    ec2 = world.client("ec2")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    attached = [{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
    if ec2.describe_internet_gateways(Filters=attached)["InternetGateways"]:
        return
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    main = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
    table = ec2.describe_route_tables(Filters=main)["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)


def default_routes(ec2, subnet_id: str, vpc_id: str) -> List[dict]:
    """The 0.0.0.0/0 routes of a subnet's route table (its own, else its VPC's main one)."""
    tables = (
        ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]
        or ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"]
    )
    return [r for t in tables for r in t.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]


def reaches_ssm(world, instance: dict) -> bool:
    """Can this instance's SSM Agent reach Systems Manager (see the module's docstring)?"""
    ec2 = world.client("ec2")
    subnet_id, vpc_id = instance.get("SubnetId"), instance.get("VpcId")
    if not subnet_id or not vpc_id:
        return False
    routes = default_routes(ec2, subnet_id, vpc_id)
    if any(r.get("NatGatewayId") or r.get("InstanceId") or r.get("NetworkInterfaceId") for r in routes):
        return True
    if instance.get("PublicIpAddress") and any(r.get("GatewayId", "").startswith("igw-") for r in routes):
        return True
    endpoint = [
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "service-name", "Values": [f"com.amazonaws.{world.region}.ssm"]},
    ]
    return bool(ec2.describe_vpc_endpoints(Filters=endpoint)["VpcEndpoints"])


def _groups_by_id(instance: dict) -> Dict[str, dict]:
    """An instance's security groups ({GroupId, GroupName} by id). moto lists the groups of a
    launch that gave them in NetworkInterfaces on the interface only; AWS lists them on the
    instance too."""
    groups = {g["GroupId"]: g for g in instance.get("SecurityGroups", [])}
    for interface in instance.get("NetworkInterfaces", []):
        groups.update({g["GroupId"]: g for g in interface.get("Groups", [])})
    return groups


def instance_groups(instance: dict) -> Set[str]:
    return set(_groups_by_id(instance))


def _list_interface_groups(instances: List[dict]) -> None:
    """Answer with the instance's groups as AWS does (see _groups_by_id)."""
    for instance in instances:
        instance["SecurityGroups"] = list(_groups_by_id(instance).values())
