"""Step types, one module per AWS service. registry() imports them on first use."""
from typing import Dict


def registry() -> Dict[str, type]:
    from . import base, cloud9, demo, dynamodb, ec2, elasticache, redis_ping  # noqa: F401  (registration)
    return base.REGISTRY
