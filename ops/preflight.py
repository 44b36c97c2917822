"""What `ops run` checks before any step creates anything: that every AUTH token source can
be read (ops/steps/auth_token.py) and that the region offers every literal node type.

Validation knows a node type's name is real (ops/instance_types.py), not whether the region
offers it: without this check an unknown size such as cache.m5.8xlarge would fail only at
CreateCacheCluster, after the steps before it had made (and billed) their resources.
"""

import contextlib
from typing import TYPE_CHECKING, List, Optional, Tuple

from .aws import error_code, error_message, is_unreachable
from .errors import BadInput
from .instance_types import CREATABLE, closest_node_type
from .refs import REF

if TYPE_CHECKING:
    from .target import RunTarget

_REFUSED = ("InvalidParameterValue", "InvalidParameterCombination")


def literal_node_types(playbook) -> List[Tuple[object, str]]:
    """(step, node type) of every cache step whose node type is known before the run."""
    return [
        (step, step.args["node_type"])
        for step in playbook.steps
        if step.type.startswith("elasticache.")
        and isinstance(step.args.get("node_type"), str)
        and not REF.search(step.args["node_type"])
    ]


def not_offered(aws, node_type: str) -> Optional[str]:
    """Why AWS will not create node_type in aws.region, or None when it is offered or the
    account cannot say (no permission to ask, or no answer: CreateCacheCluster will judge).
    An endpoint that cannot be reached at all raises (the CLI explains it)."""
    client = aws.client("elasticache")
    try:
        offers = aws.call(client.describe_reserved_cache_nodes_offerings, CacheNodeType=node_type, MaxRecords=20)[
            "ReservedCacheNodesOfferings"
        ]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in _REFUSED:
            return f"AWS refuses it in {aws.region}: {error_message(exc)}"
        if is_unreachable(exc):
            raise  # no step would get further: say so before anything starts
        return None
    if not offers:
        return f"AWS offers no {node_type} nodes in {aws.region}"
    return None


def check_before_run(playbook, target: "RunTarget") -> None:
    """BadInput (exit 2) for the first token source or node type the run would fail on. The
    account is opened at most once, and only when a check needs it."""
    from .steps.auth_token import check_sources

    with contextlib.ExitStack() as stack:
        opened: list = []

        @contextlib.contextmanager
        def account():
            if not opened:
                opened.append(stack.enter_context(_open_account(target)))
            yield opened[0]

        check_sources(playbook, account)
        _check_node_types(playbook, target.dry_run, account)


@contextlib.contextmanager
def _open_account(target: "RunTarget"):
    """The account the run will use; None for a simulated one that does not exist yet (it
    holds nothing, and looking must not create it)."""
    if target.dry_run and not target.throwaway and not target.sim_home.exists():
        yield None
        return
    with target.open() as aws:
        yield aws


def _check_node_types(playbook, dry_run: bool, account) -> None:
    """A dry run asks the simulator's list (nothing is opened, so nothing is written); a real
    run asks the account."""
    wanted = literal_node_types(playbook)
    if not wanted:
        return
    if dry_run:
        for step, node_type in wanted:
            if node_type not in CREATABLE:
                _refuse(
                    playbook,
                    step,
                    node_type,
                    f"the simulated account, like AWS today, creates no {node_type} "
                    "nodes (previous-generation or unknown size)",
                )
        return
    with account() as aws:
        for step, node_type in wanted:
            problem = not_offered(aws, node_type)
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
