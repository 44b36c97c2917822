"""Step types, one module per AWS service. registry() imports them on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Tuple, Type

if TYPE_CHECKING:
    from ..model import ResourceKind
    from .base import StepType


def registry() -> Dict[str, Type["StepType"]]:
    from . import (  # noqa: F401
        base,
        cloud9,
        deadman,
        demo,
        dynamodb,
        ec2,
        ec2_host,
        elasticache,
        redis_ping,
        replication_group,
        subnet_group,
        workspace,
    )

    return base.REGISTRY


def playbook_types() -> Dict[str, Type["StepType"]]:
    """The step types a playbook may name (not ops's own, such as the dead man's switch)."""
    return {name: cls for name, cls in registry().items() if not cls.internal}


def resource_kinds() -> Dict[str, Tuple["ResourceKind", str]]:
    """Every resource kind the step types declare: {name: (its ResourceKind, the step type
    whose delete() removes a found one)}, in creation order."""
    from ..model import in_creation_order, kinds_of

    kinds = kinds_of(registry().values())
    return {name: kinds[name] for name in in_creation_order(kinds)}
