"""Step types, one module per AWS service. registry() imports them on first use."""

from typing import TYPE_CHECKING, Dict, Tuple, Type

if TYPE_CHECKING:
    from ..model import ResourceKind
    from .base import StepType


def registry() -> Dict[str, Type["StepType"]]:
    from . import base, cloud9, demo, dynamodb, ec2, ec2_host, elasticache, redis_ping, replication_group  # noqa: F401

    return base.REGISTRY


def resource_kinds() -> Dict[str, Tuple["ResourceKind", str]]:
    """Every resource kind the step types declare: {name: (its ResourceKind, the step type
    whose delete() removes a found one)}, in creation order."""
    from ..model import in_creation_order, kinds_of

    kinds = kinds_of(registry().values())
    return {name: kinds[name] for name in in_creation_order(kinds)}
