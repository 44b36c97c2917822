"""What moto's EC2 lets slide and a rehearsal must not: deleting a security group in use, and
launching again for a re-sent RunInstances.

moto ignores RunInstances' ClientToken; EC2 answers a request repeating an earlier one's
token with the instances that one launched, launching none (Run_Instance_Idempotency in the
EC2 API reference), which is what makes a launch whose answer was lost safe to re-send.

moto 5.2 deletes a group that another group's rule references, that a running instance
uses, and even a VPC's `default` group. AWS refuses: DependencyViolation ("resource sg-...
has a dependent object") and CannotDelete. The same dependency check decides whether a
Cloud9 environment's deletion can remove its instance security group.
"""

from typing import List

from .base import Backend, SimError


class DependencyViolation(SimError):
    code = "DependencyViolation"

    def __init__(self, group_id: str):
        super().__init__(f"resource {group_id} has a dependent object")


class CannotDelete(SimError):
    code = "CannotDelete"

    def __init__(self, group_id: str):
        super().__init__(f'the specified group: "{group_id}" name: "default" cannot be deleted by a user')


def security_group_dependents(world, group_id: str) -> List[str]:
    """What still holds on to a group: other groups' rules, live instances, cache clusters."""
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
            if instance["State"]["Name"] != "terminated" and any(
                g["GroupId"] == group_id for g in instance.get("SecurityGroups", [])
            ):
                found.append(instance["InstanceId"])
    found.extend(world.elasticache.clusters_using(group_id))
    return found


class EC2Overlay(Backend):
    service = "ec2"
    operations = ("DeleteSecurityGroup", "RunInstances")
    amended = ("RunInstances",)

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
        """The same answer for a repeated ClientToken; else moto launches (None)."""
        ids = self.client_tokens.get(params.get("ClientToken") or "")
        if not ids:
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
        ids = [instance["InstanceId"] for instance in parsed.get("Instances", [])]
        for instance_id in ids:
            self.launched.setdefault(instance_id, self.now())
        token = params.get("ClientToken")
        if token:
            self.client_tokens.setdefault(token, ids)

    def launched_at(self, instance_id: str):
        return self.launched.get(instance_id)
