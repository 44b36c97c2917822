"""A JSON Schema for playbooks, generated from the step types, so editors complete and check
playbooks with the same parameters, types and defaults that `ops validate` enforces."""

from typing import Any, Dict

from ..engine.playbook import NAME_RE, STEP_NAME_RE
from ..steps import playbook_types

DURATION = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^(\d+(\.\d+)?\s*[hms])+$"}]}


def step_schema(cls) -> Dict[str, Any]:
    params = {p.name: p.json_schema() for p in cls.params}
    return {
        "type": "object",
        "description": cls.summary,
        "required": ["name", "type"] + (["with"] if any(p.required for p in cls.params) else []),
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": STEP_NAME_RE.pattern},
            "type": {"const": cls.name},
            "description": {"type": "string"},
            "needs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "timeout": DURATION,
            "with": {
                "type": "object",
                "additionalProperties": False,
                "properties": params,
                "required": [p.name for p in cls.params if p.required],
            },
        },
    }


def playbook_schema() -> Dict[str, Any]:
    types = playbook_types()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "ops-playbook.schema.json",
        "title": "ops playbook",
        "type": "object",
        "required": ["name", "steps"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": NAME_RE.pattern},
            "description": {"type": "string"},
            "vars": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "array"]}},
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [step_schema(types[name]) for name in sorted(types)]},
            },
        },
    }
