"""Whether an EC2 client host in a given subnet can reach Systems Manager: ops reaches the
host only through SSM, and an instance whose agent cannot reach SSM never registers (the
step would wait out `ssm.online` for nothing, with the instance billing).

The agent reaches SSM through an internet gateway with a public IPv4 address, through a NAT
(a 0.0.0.0/0 route to a NAT gateway, an instance or an interface), or through an interface
VPC endpoint for `ssm` in the subnet's VPC (AWS's Systems Manager prerequisites). A subnet
with an internet gateway that does not assign public IPv4 addresses works when the launch
asks for one.
"""

from __future__ import annotations

from typing import Optional, Tuple

from ..refs import REF


def ssm_access(aws, subnet_id: str) -> Tuple[bool, Optional[str]]:
    """(does the launch need to ask for a public IPv4 address?, why no instance in the subnet
    could reach SSM, or None). `aws`: anything with client() and call() (Aws, a StepContext)."""
    ec2 = aws.client("ec2")
    subnet = aws.call(ec2.describe_subnets, SubnetIds=[subnet_id])["Subnets"][0]
    vpc_id = subnet["VpcId"]
    tables = (
        aws.call(ec2.describe_route_tables, Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])[
            "RouteTables"
        ]
        or aws.call(
            ec2.describe_route_tables,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}],
        )["RouteTables"]
    )
    routes = [r for t in tables for r in t.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    if any(r.get("NatGatewayId") or r.get("InstanceId") or r.get("NetworkInterfaceId") for r in routes):
        return False, None
    endpoints = aws.call(
        ec2.describe_vpc_endpoints,
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "service-name", "Values": [f"com.amazonaws.{aws.region}.ssm"]},
        ],
    )["VpcEndpoints"]
    if endpoints:
        return False, None
    if any(r.get("GatewayId", "").startswith("igw-") for r in routes):
        return not subnet.get("MapPublicIpOnLaunch", False), None
    return False, (
        f"subnet {subnet_id} has no route to the internet (no internet gateway or NAT) and its VPC {vpc_id} "
        "has no ssm endpoint, so the host's SSM Agent could never reach Systems Manager"
    )


NO_ROUTE_HINT = (
    "Use a subnet whose route table sends 0.0.0.0/0 to an internet gateway or a NAT gateway, or add "
    "interface VPC endpoints for ssm, ssmmessages and ec2messages to its VPC; or omit subnet_id to use "
    "the default VPC."
)


def literal_subnet(step) -> Optional[str]:
    """The step's subnet when the playbook gives it literally (a reference is checked at run time)."""
    subnet = step.args.get("subnet_id")
    return subnet if isinstance(subnet, str) and subnet and not REF.search(subnet) else None
