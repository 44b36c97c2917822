"""Whether the region offers an ElastiCache node type: the ElastiCache step types' preflight
(StepType.preflight), asked before a run creates anything.

Validation knows a node type's name is real (ops/instance_types.py), not whether the region
offers it: without this check an unknown size such as cache.m5.8xlarge would fail only at
CreateCacheCluster, after the steps before it had made (and billed) their resources.
"""

from __future__ import annotations

from typing import Optional

from ..aws import error_message, is_unreachable
from ..errors import BadInput
from ..instance_types import CREATABLE, closest_node_type
from ..refs import REF


def not_offered(aws, node_type: str) -> Optional[str]:
    """Why AWS will not create node_type in aws.region, or None when it is offered or the
    account cannot say (no permission to ask, or no answer: CreateCacheCluster will judge).
    An endpoint that cannot be reached at all raises (the CLI explains it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = aws.client("elasticache")
    refused = (client.exceptions.InvalidParameterValueException, client.exceptions.InvalidParameterCombinationException)
    try:
        offers = aws.call(client.describe_reserved_cache_nodes_offerings, CacheNodeType=node_type, MaxRecords=20)[
            "ReservedCacheNodesOfferings"
        ]
    except refused as exc:
        return f"AWS refuses it in {aws.region}: {error_message(exc)}"
    except (ClientError, BotoCoreError) as exc:  # denied, or no answer after the retries
        if is_unreachable(exc):
            raise  # no step would get further: say so before anything starts
        return None
    if not offers:
        return f"AWS offers no {node_type} nodes in {aws.region}"
    return None


def literal_node_type(step) -> Optional[str]:
    """The step's node type when the playbook gives it literally (a reference is known only
    at run time, and checked by the step)."""
    node_type = step.args.get("node_type")
    return node_type if isinstance(node_type, str) and not REF.search(node_type) else None


def check_node_type_offered(playbook, step, account, dry_run: bool) -> None:
    """The region offers the step's node type. A dry run asks the simulator's list; a real
    run asks the account."""
    node_type = literal_node_type(step)
    if node_type is None:
        return
    if dry_run:
        if node_type not in CREATABLE:
            _refuse(
                playbook,
                step,
                node_type,
                f"the simulated account, like AWS today, creates no {node_type} "
                "nodes (previous-generation or unknown size)",
            )
        return
    problem = not_offered(account(), node_type)
    if problem:
        _refuse(playbook, step, node_type, problem)


def _refuse(playbook, step, node_type: str, problem: str) -> None:
    close = closest_node_type(node_type) if node_type not in CREATABLE else None
    suggestion = f"Use {close} (or cache.t3.micro)" if close and close in CREATABLE else "Use cache.t3.micro"
    raise BadInput(
        f"step '{step.name}' asks for node type {node_type}: {problem}. Nothing was created.",
        f"{suggestion}, or another region.",
        playbook.source,
        step.arg_lines.get("node_type", step.line),
    )
