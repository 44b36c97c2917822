"""Find what ops made in an account, by its tags, across every service ops uses.

Used after a dry run to prove nothing is left, and by `ops sweep` to find leftovers with no
state file. A resource counts when it carries the ops:lab tag (optionally of one lab/run).
"""

from __future__ import annotations

from typing import List, Optional

from ..aws import error_code
from ..model import TAG_LAB, Found
from ..steps import resource_kinds


def find_tagged(aws, lab: Optional[str] = None, run: Optional[str] = None) -> List[Found]:
    """Every ops-tagged resource that still exists (deleting counts as existing)."""
    from botocore.exceptions import ClientError  # denied: the same few codes from every service

    found: List[Found] = []
    for name, (kind, step_type) in resource_kinds().items():
        if kind.find is None:  # untagged: goes with another resource
            continue
        try:
            items = list(kind.find(aws))
        except ClientError as exc:
            if error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                found.append(Found(name, "(not checked: access denied)", "unknown", {}))
                continue
            raise
        for item in items:
            if TAG_LAB in item.tags and (lab is None or item.lab == lab) and (run is None or item.run == run):
                item.step_type = None if "part_of" in item.attrs else step_type
                found.append(item)
    return found


def tagged_resources(aws, lab: Optional[str] = None, run: Optional[str] = None) -> List[str]:
    """One line per ops-tagged resource that still exists."""
    return [item.line() for item in find_tagged(aws, lab, run)]
