"""EC2 security groups: one ingress rule opened for the run, and only that rule removed.

The default security group is shared with everything else in the VPC, so ops records the
id of the rule it added and revokes exactly that rule; a rule that was already there is
used but never removed.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional

from ..aws import error_code
from ..errors import StepFailed
from ..model import Change, Found, Resource, ResourceKind, ec2_retag, tag_map
from ..permissions import REQUEST_TAGGED, Grant, arn, merged
from .base import Output, Param, StepType, register

RULE = "ingress-rule"


def _find_rules(aws) -> List[Found]:
    ec2 = aws.client("ec2")
    return [
        Found(
            RULE,
            rule["SecurityGroupRuleId"],
            f"on {rule['GroupId']}",
            tag_map(rule.get("Tags")),
            attrs={"group_id": rule["GroupId"]},
        )
        for rule in aws.listing(ec2, "describe_security_group_rules", "SecurityGroupRules")
    ]


RULE_KIND = ResourceKind(
    RULE,
    creation_order=50,
    find=_find_rules,
    not_found=("InvalidSecurityGroupRuleId.NotFound",),
    several_per_step=True,
    retag=ec2_retag(arn("ec2", "security-group-rule/*")),
)


def default_vpc(ctx, instead: str = "give the step a subnet_id") -> str:
    """The region's default VPC; without one, the step fails saying how to make it, or `instead`."""
    vpcs = ctx.call(ctx.client("ec2").describe_vpcs, Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise StepFailed(
            ctx.step,
            f"region {ctx.region} has no default VPC.",
            f"Create one with 'aws ec2 create-default-vpc', or {instead}.",
        )
    return vpcs[0]["VpcId"]


def default_security_group(ctx, vpc_id: Optional[str] = None) -> str:
    """A VPC's `default` group (the default VPC's when none is given): where a cluster created
    without groups lands."""
    vpc_id = vpc_id or default_vpc(ctx, "pass security_group_ids explicitly")
    groups = ctx.call(
        ctx.client("ec2").describe_security_groups,
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}],
    )
    return groups["SecurityGroups"][0]["GroupId"]


def check_cidr(value: str) -> Optional[str]:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"'{value}' is not a CIDR block like 10.0.0.0/16"
    if network.prefixlen == 0:
        return (
            "opens the port to the whole internet, which ops refuses; use source_group_id "
            "(the client's security group) instead"
        )
    return None


DESCRIPTION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-:/()#,@[]+=&;{}!$*")


def check_description(value: str) -> Optional[str]:
    bad = sorted(set(value) - DESCRIPTION_CHARS)
    if bad or len(value) > 255:
        return (
            f"has characters EC2 refuses in rule descriptions ({''.join(bad)!r}); use letters, digits, spaces "
            "and ._-:/()#,@[]+=&;{}!$*"
            if bad
            else "is longer than 255 characters"
        )
    return None


def _matches(rule: Dict[str, Any], protocol: str, port: int, source_group: str, cidr: str) -> bool:
    if rule.get("IsEgress") or rule.get("IpProtocol") not in (protocol, "-1"):
        return False
    if rule.get("IpProtocol") != "-1" and not (rule.get("FromPort", 0) <= port <= rule.get("ToPort", -1)):
        return False
    if source_group:
        return rule.get("ReferencedGroupInfo", {}).get("GroupId") == source_group
    return rule.get("CidrIpv4") == cidr or rule.get("CidrIpv6") == cidr


def _rules(ctx, group: str) -> List[Dict[str, Any]]:
    ec2 = ctx.client("ec2")
    answer = ctx.call(ec2.describe_security_group_rules, Filters=[{"Name": "group-id", "Values": [group]}])
    return answer["SecurityGroupRules"]


@register
class IngressRule(StepType):
    name = "ec2.ingress"
    summary = "Open one port on a security group to a source security group (or, if allowed, a CIDR)."
    params = [
        Param("group_id", required=True, doc="security group to open (e.g. the cluster's)"),
        Param("port", type="integer", required=True, minimum=1, maximum=65535, doc="TCP port"),
        Param("source_group_id", default=None, doc="security group allowed in (least privilege; preferred)"),
        Param("cidr", default=None, check=check_cidr, doc="CIDR allowed in, instead of a source group"),
        Param("protocol", default="tcp", choices=("tcp", "udp"), doc="IP protocol"),
        Param("description", default="opened by ops", check=check_description, doc="rule description"),
    ]
    outputs = {"rule_id": Output("the security group rule id", early=True)}
    example = """\
- name: ingress
  type: ec2.ingress
  with:
    group_id: ${{ steps.redis.outputs.security_group_id }}
    port: 6379
    source_group_id: ${{ steps.cloud9.outputs.security_group_id }}
"""
    default_timeout = 300.0
    kinds = (RULE_KIND,)
    permissions = [
        # any group: the cache's is the VPC's default group, which ops did not make (so it has no ops tag)
        Grant(
            ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"], [arn("ec2", "security-group/*")]
        ),
        Grant(["ec2:AuthorizeSecurityGroupIngress"], [arn("ec2", "security-group-rule/*")], REQUEST_TAGGED),
        Grant(
            ["ec2:CreateTags"],
            [arn("ec2", "security-group-rule/*")],
            merged(REQUEST_TAGGED, {"StringEquals": {"ec2:CreateAction": "AuthorizeSecurityGroupIngress"}}),
        ),
        Grant(["ec2:DescribeSecurityGroupRules"], why="EC2 defines no resource type for Describe* calls"),
    ]

    def preview(self) -> List[Change]:
        args = self.args
        source = args["source_group_id"] or args["cidr"]
        return [
            Change(
                "change",
                f"add inbound {args['protocol']}/{args['port']} to {args['group_id']} from {source} "
                "(only this rule is removed on teardown)",
            )
        ]

    def create(self) -> Dict[str, Any]:
        from botocore.exceptions import ClientError  # EC2 models no errors: its codes are strings

        ctx, args = self.ctx, self.args
        source_group, cidr = args["source_group_id"], args["cidr"]
        if bool(source_group) == bool(cidr):
            raise StepFailed(
                ctx.step,
                "give exactly one of source_group_id and cidr.",
                "Prefer source_group_id: only members of that group get in.",
            )
        ec2 = ctx.client("ec2")
        group, port, protocol = args["group_id"], args["port"], args["protocol"]
        found = self._existing(group, protocol, port, source_group, cidr)
        if found is not None:
            return found
        permission: Dict[str, Any] = {"IpProtocol": protocol, "FromPort": port, "ToPort": port}
        if source_group:
            permission["UserIdGroupPairs"] = [{"GroupId": source_group, "Description": args["description"]}]
        elif ":" in cidr:
            permission["Ipv6Ranges"] = [{"CidrIpv6": cidr, "Description": args["description"]}]
        else:
            permission["IpRanges"] = [{"CidrIp": cidr, "Description": args["description"]}]
        pending = ctx.intend(RULE, f"{group}:{protocol}:{port}:{source_group or cidr}", group_id=group)
        try:
            answer = ctx.call(
                ec2.authorize_security_group_ingress,
                GroupId=group,
                IpPermissions=[permission],
                TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": ctx.tags()}],
            )
        except ClientError as exc:
            # a re-sent authorize whose first answer was lost: the rule is there, tagged by this
            # run (recorded with its id, so teardown revokes it); another's is used, not ours
            if error_code(exc) != "InvalidPermission.Duplicate":
                raise
            found = self._existing(group, protocol, port, source_group, cidr)
            if found is None:
                raise
            return found
        pending.id = answer["SecurityGroupRules"][0]["SecurityGroupRuleId"]
        ctx.created(pending, port=port, source=source_group or cidr)
        return {"rule_id": pending.id}

    def _rules(self, group: str) -> List[Dict[str, Any]]:
        return _rules(self.ctx, group)

    def _existing(self, group: str, protocol: str, port: int, source_group: str, cidr: str) -> Optional[Dict[str, Any]]:
        """Record a rule already there that lets the source in (this run's: created, whose answer
        was lost or before a crash; another's: adopted) and give the step's outputs; None if none."""
        ctx = self.ctx
        for rule in self._rules(group):
            if _matches(rule, protocol, port, source_group, cidr):
                rule_id = rule["SecurityGroupRuleId"]
                if ctx.is_ours(rule.get("Tags", [])):
                    recorded = ctx.find_recorded(RULE) or ctx.intend(RULE, rule_id, group_id=group)
                    recorded.id = rule_id
                    ctx.created(recorded, verb="resumed", port=port, source=source_group or cidr)
                else:
                    ctx.adopted(RULE, rule_id, group_id=group)
                return {"rule_id": rule_id}
        return None

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        from botocore.exceptions import ClientError

        ec2 = ctx.client("ec2")
        group = resource.attrs["group_id"]
        rule_ids = [resource.id]
        if not resource.id.startswith("sgr-"):
            # The authorize call was sent but its answer never recorded: find the rule by its tags.
            rule_ids = [
                r["SecurityGroupRuleId"]
                for r in _rules(ctx, group)
                if ctx.is_ours(r.get("Tags", [])) and {"Key": "ops:step", "Value": resource.step} in r.get("Tags", [])
            ]
            if not rule_ids:
                return
        try:
            ctx.call(ec2.revoke_security_group_ingress, GroupId=group, SecurityGroupRuleIds=rule_ids)
        except ClientError as exc:
            if error_code(exc) not in (
                "InvalidSecurityGroupRuleId.NotFound",
                "InvalidGroup.NotFound",
                "InvalidPermission.NotFound",
            ):
                raise
