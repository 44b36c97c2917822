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


def policy_for(playbook: Playbook) -> Dict:
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
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(playbook: Playbook) -> str:
    return json.dumps(policy_for(playbook), indent=2)
