"""`ops iam-policy`: the IAM policy a playbook needs, from its step types' declared permissions.

An instructor can give students exactly this. Actions are grouped per service; resources
stay "*" because names carry run ids not known in advance, except iam:PassRole, which is
limited to the roles the lab's client hosts use.
"""
import json
from typing import Dict, List

from .playbook import Playbook

# what ops plan and ops doctor ask, whatever the playbook
ALWAYS = ["sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy", "servicequotas:ListServiceQuotas",
          "elasticache:DescribeReservedCacheNodesOfferings", "ec2:DescribeSubnets"]


def state_statements(location) -> List[Dict]:
    """With records in S3: read, write and delete records and locks under the prefix only."""
    objects = f"arn:aws:s3:::{location.bucket}/{location.prefix}*"
    listing = {"Sid": "OpsStateList", "Effect": "Allow", "Action": "s3:ListBucket",
               "Resource": f"arn:aws:s3:::{location.bucket}"}
    if location.prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{location.prefix}*"]}}
    return [{"Sid": "OpsStateObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": objects}, listing]


def policy_for(playbook: Playbook, location=None) -> Dict:
    actions = set(ALWAYS)
    for step in playbook.steps:
        actions.update(step.step_type.permissions)
    by_service: Dict[str, List[str]] = {}
    for action in sorted(actions - {"iam:PassRole"}):
        by_service.setdefault(action.split(":")[0], []).append(action)
    statements = [{"Sid": f"Ops{service.title().replace('-', '')}", "Effect": "Allow", "Action": items,
                   "Resource": "*"} for service, items in sorted(by_service.items())]
    if "iam:PassRole" in actions:
        statements.append({"Sid": "OpsPassClientHostRoles", "Effect": "Allow", "Action": "iam:PassRole",
                           "Resource": ["arn:aws:iam::*:role/service-role/AWSCloud9SSMAccessRole",
                                        "arn:aws:iam::*:role/ops-*"]})
    if location is not None:
        statements += state_statements(location)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(playbook: Playbook, location=None) -> str:
    return json.dumps(policy_for(playbook, location), indent=2)
