"""${{ ... }} references inside playbook values.

Forms: ${{ vars.NAME }}, ${{ steps.STEP.outputs.NAME }}, ${{ run.id }}, ${{ run.region }},
${{ playbook.name }}. A value that is exactly one reference keeps the referenced value's
type; references inside a longer string are interpolated as text.
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Tuple

REF = re.compile(r"\$\{\{([^{}]*)\}\}")  # no braces inside: two references never merge
RUN_FIELDS = ("id", "region")
PLAYBOOK_FIELDS = ("name",)


class RefError(ValueError):
    pass


def parse_ref(expr: str) -> Tuple[str, ...]:
    """'steps.redis.outputs.endpoint' -> ('steps', 'redis', 'outputs', 'endpoint'); RefError if malformed."""
    text = expr.strip()
    parts = tuple(text.split("."))
    if not text or any(not p for p in parts):
        raise RefError(f"'${{{{{expr}}}}}' is not a reference")
    head = parts[0]
    if head == "vars" and len(parts) == 2:
        return parts
    if head == "steps" and len(parts) == 4 and parts[2] == "outputs":
        return parts
    if head == "run" and len(parts) == 2 and parts[1] in RUN_FIELDS:
        return parts
    if head == "playbook" and len(parts) == 2 and parts[1] in PLAYBOOK_FIELDS:
        return parts
    raise RefError(
        f"'${{{{ {text} }}}}' is not a reference ops knows; use vars.NAME, steps.STEP.outputs.NAME, "
        f"run.id, run.region or playbook.name"
    )


def refs_in(value) -> List[Tuple[str, ...]]:
    """Every reference in a value (strings, lists and mappings, recursively)."""
    found: List[Tuple[str, ...]] = []
    if isinstance(value, str):
        found.extend(parse_ref(m.group(1)) for m in REF.finditer(value))
        if "${{" in REF.sub("", value):
            raise RefError(f"unclosed reference in '{value}': write ${{{{ name }}}}")
    elif isinstance(value, list):
        for item in value:
            found.extend(refs_in(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(refs_in(item))
    return found


def resolve(value, lookup: Callable[[Tuple[str, ...]], Any]):
    """Replace references using lookup(path) -> value."""
    if isinstance(value, str):
        whole = REF.fullmatch(value.strip())
        if whole:
            return lookup(parse_ref(whole.group(1)))
        return REF.sub(lambda m: str(lookup(parse_ref(m.group(1)))), value)
    if isinstance(value, list):
        return [resolve(item, lookup) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, lookup) for key, item in value.items()}
    return value
