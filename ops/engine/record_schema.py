"""What a lab's record must hold before ops acts on it.

state.py writes records; this checks every copy read back (from .ops/ or from S3), so a
damaged, hand-edited or foreign record is refused with a message that names it, instead of
an internal error, a teardown that hangs on cyclic dependencies, or one that misreads a
format it does not know. A record from a newer ops is never acted on: its fields may mean
something this version cannot see.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional

from ..errors import BadInput
from ..names import RUN_ID_RE, is_lab_name, shown

if TYPE_CHECKING:  # typing.TypeGuard is Python 3.10+; only the type checker reads the annotation
    from typing_extensions import TypeGuard

FORMAT_VERSION = 1  # what state.py writes
STATUSES = ("intent", "created", "adopted", "refused", "deleted", "handed-over")  # a resource's life
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$")
ROW_STRINGS = ("step", "type", "kind", "id", "region")
OPTIONAL = {
    "playbook": (lambda v: isinstance(v, str), "a string"),
    "dry_run": (lambda v: isinstance(v, bool), "true or false"),
    "started_at": (lambda v: isinstance(v, str), "a string"),
    "serial": (lambda v: _is_int(v), "a whole number"),
    "written_by": (lambda v: isinstance(v, str), "a string"),
    "expires_at": (lambda v: _is_int(v) or isinstance(v, float), "a time in seconds"),
}


def check_record(data: Any, where: str) -> dict[str, Any]:
    """The record, if ops can act on it; otherwise bad input naming `where` (a file or s3:// key)."""
    version = data.get("version") if isinstance(data, dict) else None
    if _is_int(version) and version > FORMAT_VERSION:
        raise BadInput(
            f"the record {where} was made by a newer ops (record format {version}; this ops knows "
            f"format {FORMAT_VERSION}), so this ops will not act on it, nor tear anything of it down.",
            "Upgrade ops (pip install --upgrade ops-lab) and run the command again.",
        )
    problem = _problem(data)
    if problem:
        lab = data.get("lab") if isinstance(data, dict) and is_lab_name(data.get("lab")) else "LAB"
        good_copy = (
            "restore a good version of that object"
            if where.startswith("s3://")
            else f"get a good copy (ops state pull {lab} --state s3://..., if the team keeps one)"
        )
        raise BadInput(
            f"the record {where} cannot be used: {problem}.",
            f"Nothing was changed: {good_copy}, correct it by hand, or move it away and find the lab's "
            f"resources by their tags with 'ops sweep --playbook {lab}'.",
        )
    return data


def _problem(data: Any) -> Optional[str]:
    if not isinstance(data, dict):
        return f"it is {_kind(data)}, not a JSON object"
    version = data.get("version")
    if "version" not in data:
        return "it has no 'version'"
    if not _is_int(version) or version < 1:
        return f"'version' is {shown(version)}, not a record format ops knows ({FORMAT_VERSION})"
    for key, check, rule in (
        ("lab", is_lab_name, "a lab name"),
        ("run_id", lambda v: isinstance(v, str) and bool(RUN_ID_RE.fullmatch(v)), "a run id like 'r1a2b3c4'"),
        ("region", lambda v: isinstance(v, str) and bool(REGION_RE.fullmatch(v)), "an AWS region like 'us-east-1'"),
    ):
        if key not in data:
            return f"it has no '{key}'"
        if not check(data[key]):
            return f"'{key}' is {shown(data[key])}, not {rule}"
    if "group" in data and not is_lab_name(data["group"]):
        return f"'group' is {shown(data['group'])}, not a lab name"
    for key, (check, rule) in OPTIONAL.items():
        if key in data and not check(data[key]):
            return f"'{key}' is {shown(data[key])}, not {rule}"
    if "resources" not in data:
        return "it has no 'resources'"
    return _resources_problem(data["resources"]) or _dependencies_problem(data.get("dependencies", {}))


def _resources_problem(rows: Any) -> Optional[str]:
    if not isinstance(rows, list):
        return f"'resources' is {_kind(rows)}, not a list"
    for index, row in enumerate(rows):
        here = f"resources[{index}]"
        if not isinstance(row, dict):
            return f"{here} is {_kind(row)}, not a JSON object"
        for key in ROW_STRINGS + ("status",):
            if key not in row:
                return f"{here} has no '{key}'"
        for key in ROW_STRINGS:
            if not isinstance(row[key], str) or not row[key]:
                return f"'{key}' of {here} is {shown(row[key])}, not a non-empty string"
        if row["status"] not in STATUSES:
            return f"'status' of {here} is {shown(row['status'])}, not one of {', '.join(STATUSES)}"
        if "ours" in row and not isinstance(row["ours"], bool):
            return f"'ours' of {here} is {shown(row['ours'])}, not true or false"
        if "attrs" in row and not isinstance(row["attrs"], dict):
            return f"'attrs' of {here} is {_kind(row['attrs'])}, not a JSON object"
    return None


def _dependencies_problem(dependencies: Any) -> Optional[str]:
    """Step -> the steps it needs: known steps only, and no cycle (teardown would wait forever)."""
    if not isinstance(dependencies, dict):
        return f"'dependencies' is {_kind(dependencies)}, not a JSON object"
    for step, needs in dependencies.items():
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            return f"'dependencies' of step {shown(step)} is {shown(needs)}, not a list of step names"
        unknown = [n for n in needs if n not in dependencies]
        if unknown:
            return f"step {shown(step)} depends on {shown(unknown[0])}, which 'dependencies' does not list"
    cycle = _cycle(dependencies)
    return f"its 'dependencies' go round in a circle ({' -> '.join(cycle)})" if cycle else None


def _cycle(graph: dict[str, list[str]]) -> Optional[list[str]]:
    """One cycle of the graph (its steps, the first repeated at the end), or None. Iterative: a
    record's graph may be deep."""
    done: set = set()
    for start, needs in graph.items():
        if start in done:
            continue
        path, on_path, stack = [start], {start}, [iter(needs)]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                stack.pop()
                continue
            if following in on_path:
                return path[path.index(following) :] + [following]
            if following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(graph[following]))
    return None


def _is_int(value: Any) -> "TypeGuard[int]":
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    names = {dict: "a JSON object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
