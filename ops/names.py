"""Lab names: one rule for a playbook's `name:`, the copies of a lab and every command that
takes a lab, and the file names and S3 keys of records built from them.

A lab name goes into resource names, tags, record file names and S3 keys, so it is checked
before it is used: a name that is not one (`../x`, `a/b`, a NUL) never reaches a path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from .errors import BadInput

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")  # a playbook's name
COPY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,11}$")  # a copy's own part: --names alice, --count's 1..500
LAB_RE = re.compile(r"^[a-z][a-z0-9-]{0,29}(?:-[a-z0-9][a-z0-9-]{0,11})?$")  # a playbook's name, or a copy's
RUN_ID_RE = re.compile(r"^r[a-z0-9]{7}$")  # what state.new_run_id makes
RECORD_FILE_RE = re.compile(r"^(?P<lab>[a-z][a-z0-9-]{0,42})(?:\.(?P<run>r[a-z0-9]{7}))?\.(?:json|lock)$")

RULE = (
    "a lab name is the playbook's name (a lowercase letter, then up to 29 lowercase letters, digits or "
    "hyphens), or a copy of it with '-' and the copy's name (1-12 lowercase letters, digits or hyphens) "
    "after it, e.g. 'elasticache-lab' or 'elasticache-lab-alice'"
)


def is_lab_name(name) -> bool:
    return isinstance(name, str) and bool(LAB_RE.fullmatch(name))


def shown(value, limit: int = 60) -> str:
    """A value as it can be printed on one line: quoted and escaped, long ones cut short."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(value)} characters)"


def check_lab(name, what: str = "") -> str:
    """The name, if it is a lab name; otherwise bad input (exit 2) that gives the rule. what: the
    flag it came from, if any."""
    if is_lab_name(name):
        return name
    raise BadInput(
        f"{what + ' ' if what else ''}{shown(name)} is not a lab name: {RULE}.",
        "Check the name ('ops status' lists the labs recorded here, with --state those in S3).",
    )


def lab_of_record_file(file_name: str) -> Optional[str]:
    """The lab a record's file name or S3 key (without its prefix) stands for: `LAB.json`, or
    `LAB.RUNID.json` for a run's record kept apart (records.fallback_slot). None otherwise."""
    match = RECORD_FILE_RE.fullmatch(file_name) if isinstance(file_name, str) else None
    if not match or not is_lab_name(match.group("lab")):
        return None
    return match.group("lab")


def check_record_file(file_name: str) -> str:
    """A record's or lock's file name (`LAB.json`, `LAB.RUNID.json`, `LAB.lock`), checked as the last
    line of defence before it becomes a path or an S3 key."""
    if lab_of_record_file(file_name) is None:
        raise BadInput(
            f"{shown(file_name)} is not the file name of a lab's record: {RULE}.", "Check the lab name given to ops."
        )
    return file_name


def inside(folder: Path, file_name: str) -> Path:
    """folder/file_name, for a record's file name that stays in that folder."""
    path = folder / check_record_file(file_name)
    if path.parent != folder:  # cannot happen for a checked name; never let a path leave its folder
        raise BadInput(f"{shown(file_name)} would leave {folder}.", "Check the lab name given to ops.")
    return path
