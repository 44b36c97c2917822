"""Step types, one module per AWS service. registry() imports them on first use."""

from typing import TYPE_CHECKING, Dict, Type

if TYPE_CHECKING:
    from .base import StepType


def registry() -> Dict[str, Type["StepType"]]:
    from . import base, cloud9, demo, dynamodb, ec2, ec2_host, elasticache, redis_ping, replication_group  # noqa: F401

    return base.REGISTRY
