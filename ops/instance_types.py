"""Names of ElastiCache node types and EC2 instance types, checked before anything is made.

ElastiCache node types are `cache.FAMILY.SIZE`. The families and sizes are those the
CacheNodeType documentation of botocore's ElastiCache model lists; CREATABLE holds the ones
AWS still creates clusters on (the simulator offers exactly these). Previous-generation
types (T2 included) are real names, so they validate; `ops plan` warns about them and the
run's preflight asks the account. A new family needs a line here.

EC2 instance types are only checked for their shape, FAMILY.SIZE (e.g. t3.micro,
c7i-flex.large, u-6tb1.metal): EC2 has hundreds, and the account says which it offers.
"""

from __future__ import annotations

import re
from typing import Optional

_CURRENT = {
    "m7g": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "m6g": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "m5": "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge",
    "m4": "large xlarge 2xlarge 4xlarge 10xlarge",
    "t4g": "micro small medium",
    "t3": "micro small medium",
    "r7g": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "r6g": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "r5": "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge",
    "r4": "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge",
}
_PREVIOUS = {
    "t1": "micro",
    "t2": "micro small medium",
    "m1": "small medium large xlarge",
    "m2": "xlarge 2xlarge 4xlarge",
    "m3": "medium large xlarge 2xlarge",
    "c1": "xlarge",
    "r3": "large xlarge 2xlarge 4xlarge 8xlarge",
}


def _names(families) -> frozenset:
    return frozenset(f"cache.{family}.{size}" for family, sizes in families.items() for size in sizes.split())


CREATABLE = _names(_CURRENT)
KNOWN = CREATABLE | _names(_PREVIOUS)
CACHE_FAMILIES = frozenset(_CURRENT) | frozenset(_PREVIOUS)
_SIZE = r"(?:nano|micro|small|medium|large|xlarge|[1-9][0-9]{0,2}xlarge)"
_CACHE_SHAPE = re.compile(rf"^cache\.([a-z0-9]+)\.{_SIZE}$")
_EC2_SHAPE = re.compile(rf"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.(?:{_SIZE}|metal(?:-[1-9][0-9]{{0,2}}xl)?)$")
_EC2_EXAMPLES = (
    "t3.micro",
    "t3.small",
    "t3.medium",
    "t3a.micro",
    "t4g.micro",
    "t4g.small",
    "t2.micro",
    "m5.large",
    "m6i.large",
    "m7g.large",
    "c5.large",
    "c7g.large",
    "r5.large",
)


def closest_node_type(value: str) -> Optional[str]:
    """The known node type nearest to value (creatable ones first), or None."""
    import difflib  # only for a suggestion: not at every start (1 ms)

    for names in (CREATABLE, KNOWN):
        close = difflib.get_close_matches(value, sorted(names), n=1, cutoff=0.6)
        if close:
            return close[0]
    return None


def _did_you_mean(close: Optional[str], example: str) -> str:
    return f"did you mean '{close}'?" if close else f"e.g. {example}"


def node_type_problem(value: str) -> Optional[str]:
    """What is wrong with an ElastiCache node type name, or None when it is a real one."""
    match = _CACHE_SHAPE.match(value)
    if match and match.group(1) in CACHE_FAMILIES:
        return None
    close = closest_node_type(value)
    if match:
        return (
            f"is not an ElastiCache node type: there is no family '{match.group(1)}' "
            f"({_did_you_mean(close, 'cache.t3.micro')})"
        )
    return f"is not an ElastiCache node type, which reads cache.FAMILY.SIZE ({_did_you_mean(close, 'cache.t3.micro')})"


def instance_type_problem(value: str) -> Optional[str]:
    """What is wrong with the shape of an EC2 instance type name, or None."""
    if value.startswith("cache."):
        return "is an ElastiCache node type; an EC2 instance type has no 'cache.' (e.g. t3.micro)"
    if _EC2_SHAPE.match(value) and any(c.isdigit() for c in value.split(".")[0]):
        return None
    import difflib  # only for a suggestion: not at every start (1 ms)

    close = difflib.get_close_matches(value, _EC2_EXAMPLES, n=1, cutoff=0.6)
    return f"is not an EC2 instance type, which reads FAMILY.SIZE ({_did_you_mean(close[0] if close else None, 't3.micro')})"
