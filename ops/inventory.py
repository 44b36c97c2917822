"""Find what ops made in an account, by its tags, across every service ops uses.

Used after a dry run to prove nothing is left, and by anyone checking an account for
leftovers. A resource counts when it carries the ops:lab tag (optionally of one lab/run).
"""
from typing import Callable, Dict, List, Optional

from .aws import error_code
from .context import TAG_LAB, TAG_RUN


def _wanted(tags: List[Dict[str, str]], lab: Optional[str], run: Optional[str]) -> bool:
    values = {t.get("Key") or t.get("key"): t.get("Value") or t.get("value") for t in tags or []}
    if TAG_LAB not in values:
        return False
    return (lab is None or values[TAG_LAB] == lab) and (run is None or values.get(TAG_RUN) == run)


def _cloud9(aws, want) -> List[str]:
    client = aws.client("cloud9")
    ids = aws.call(client.list_environments)["environmentIds"]
    found = []
    for chunk in (ids[i:i + 25] for i in range(0, len(ids), 25)):
        for env in aws.call(client.describe_environments, environmentIds=chunk)["environments"]:
            if want(aws.call(client.list_tags_for_resource, ResourceARN=env["arn"])["Tags"]):
                found.append(f"cloud9 environment {env['id']} ({env['name']}, {env['lifecycle']['status']})")
    return found


def _elasticache(aws, want) -> List[str]:
    client = aws.client("elasticache")
    found = []
    for cluster in aws.call(client.describe_cache_clusters)["CacheClusters"]:
        if want(aws.call(client.list_tags_for_resource, ResourceName=cluster["ARN"])["TagList"]):
            found.append(f"elasticache cluster {cluster['CacheClusterId']} ({cluster['CacheClusterStatus']})")
    return found


def _ec2(aws, want) -> List[str]:
    ec2 = aws.client("ec2")
    found = []
    reservations = aws.call(ec2.describe_instances, Filters=[
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
    for instance in (i for r in reservations for i in r["Instances"]):
        if want(instance.get("Tags", [])):
            found.append(f"ec2 instance {instance['InstanceId']} ({instance['State']['Name']})")
    for rule in aws.call(ec2.describe_security_group_rules)["SecurityGroupRules"]:
        if want(rule.get("Tags", [])):
            found.append(f"security group rule {rule['SecurityGroupRuleId']} on {rule['GroupId']}")
    for group in aws.call(ec2.describe_security_groups)["SecurityGroups"]:
        if want(group.get("Tags", [])):
            found.append(f"security group {group['GroupId']} ({group['GroupName']})")
    return found


def _dynamodb(aws, want) -> List[str]:
    client = aws.client("dynamodb")
    found = []
    for name in aws.call(client.list_tables)["TableNames"]:
        arn = aws.call(client.describe_table, TableName=name)["Table"]["TableArn"]
        if want(aws.call(client.list_tags_of_resource, ResourceArn=arn).get("Tags", [])):
            found.append(f"dynamodb table {name}")
    return found


def _iam(aws, want) -> List[str]:
    iam = aws.client("iam")
    found = []
    for role in aws.call(iam.list_roles)["Roles"]:
        if want(aws.call(iam.list_role_tags, RoleName=role["RoleName"])["Tags"]):
            found.append(f"iam role {role['RoleName']}")
    for profile in aws.call(iam.list_instance_profiles)["InstanceProfiles"]:
        name = profile["InstanceProfileName"]
        tags = aws.call(iam.get_instance_profile, InstanceProfileName=name)["InstanceProfile"].get("Tags", [])
        if want(tags):
            found.append(f"iam instance profile {profile['InstanceProfileName']}")
    return found


SERVICES: Dict[str, Callable] = {"cloud9": _cloud9, "elasticache": _elasticache, "ec2": _ec2,
                                 "dynamodb": _dynamodb, "iam": _iam}


def tagged_resources(aws, lab: Optional[str] = None, run: Optional[str] = None) -> List[str]:
    """One line per ops-tagged resource that still exists (deleting counts as existing)."""
    def want(tags):
        return _wanted(tags, lab, run)

    found: List[str] = []
    for service, finder in SERVICES.items():
        try:
            found.extend(finder(aws, want))
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                found.append(f"{service}: not checked (access denied)")
            else:
                raise
    return found
