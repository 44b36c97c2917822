"""The step type: one class per kind of work, registered by name.

A step type declares its parameters and outputs (so validation, `ops steps` and the JSON
Schema all come from one place) and holds together how to create its resources (adopting
what this run already made), wait for them, report outputs, and delete them again. Teardown
is derived from what `create` recorded, so it is never written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Optional, Tuple, Type

from ..durations import parse_duration
from ..model import Change, Resource, ResourceKind

if TYPE_CHECKING:  # ops.permissions imports ops.engine.context, which imports this module
    from ..permissions import Grant

REGISTRY: Dict[str, Type["StepType"]] = {}


def register(cls):
    """Class decorator: make a step type available to playbooks under cls.name."""
    if cls.name in REGISTRY:
        raise RuntimeError(f"step type {cls.name} registered twice")
    REGISTRY[cls.name] = cls
    return cls


_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "boolean": "boolean",
    "list": "array",
    "duration": ["string", "integer"],
    "map": "object",
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # string | integer | boolean | list | duration | map
    required: bool = False
    default: Any = None
    doc: str = ""
    choices: tuple = ()
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    check: Optional[Callable[[Any], Optional[str]]] = None  # returns a problem, or None
    secret: bool = False  # never printed, logged or stored

    def validate(self, value) -> Optional[str]:
        """Return what is wrong with value, or None. Coerces nothing."""
        problem = _type_problem(self.type, value)
        if problem:
            return problem
        if self.choices and value not in self.choices:
            return f"must be one of: {', '.join(map(str, self.choices))}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum}"
        return self.check(value) if self.check else None

    def json_schema(self) -> dict:
        schema: Dict[str, Any] = {"description": self.doc}
        if self.type == "list":
            schema["type"] = "array"
            schema["items"] = {"type": "string"}
        else:
            schema["type"] = _JSON_TYPES[self.type]
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = self.default
        # Any parameter may instead hold a ${{ ... }} reference.
        return {"anyOf": [schema, {"type": "string", "pattern": r"^\$\{\{.*\}\}$"}]}


def _type_problem(kind: str, value) -> Optional[str]:
    if kind == "string" and not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be a whole number written in digits (e.g. 900), not {value!r}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"must be true or false, not {value!r}"
    if kind == "list" and not isinstance(value, list):
        return f"must be a list, not {type(value).__name__}"
    if kind == "map" and not isinstance(value, dict):
        return f"must be a mapping, not {type(value).__name__}"
    if kind == "duration":
        try:
            parse_duration(value)
        except ValueError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class Output:
    doc: str
    early: bool = False  # known right after create(), before the resource is ready


class StepType:
    """Base class. Subclasses set the class attributes and implement create/wait/delete."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    params: ClassVar[List[Param]] = []
    outputs: ClassVar[Dict[str, Output]] = {}
    example: ClassVar[str] = ""
    default_timeout: ClassVar[float] = 600.0
    # what it may do in AWS (ops/permissions.py): `ops iam-policy` and `ops doctor` build on it
    permissions: ClassVar[List["Grant"]] = []
    # every kind of resource it records (ops/model.py): how to find, price and order each
    kinds: ClassVar[Tuple[ResourceKind, ...]] = ()
    # what to do next, by AWS error code, when one of its calls is refused
    hints: ClassVar[Dict[str, str]] = {}
    # made by ops itself, never named in a playbook (the dead man's switch): registered so
    # that teardown, status and sweep find it, left out of playbooks, `ops steps` and the schema
    internal: ClassVar[bool] = False

    @classmethod
    def policy_names(cls, names: Dict[str, Optional[str]], lab: str, step: str) -> Dict[str, Optional[str]]:
        """Patterns of names the step gives its resources beyond its parameters (outputs such as
        role_name), from its parameters' patterns `names`: what its grants and later steps' use."""
        return {}

    def __init__(self, ctx, step_name: str, args: Dict[str, Any]):
        self.ctx = ctx
        self.step_name = step_name
        self.args = args

    @classmethod
    def param(cls, name: str) -> Optional[Param]:
        return next((p for p in cls.params if p.name == name), None)

    @classmethod
    def with_defaults(cls, args: Dict[str, Any]) -> Dict[str, Any]:
        merged = {p.name: p.default for p in cls.params if not p.required}
        merged.update(args)
        return merged

    @classmethod
    def check_args(cls, args: Dict[str, Any]) -> Optional[Tuple[str, str, str]]:
        """A rule across parameters, checked when the playbook is loaded: (parameter, problem,
        hint), or None. Values that refer to step outputs are still `${{ ... }}` strings."""
        return None

    @classmethod
    def describe(cls) -> List[str]:
        """What `ops steps TYPE` prints: parameters, outputs, an example."""
        lines = [f"{cls.name}: {cls.summary}", "", "parameters:"]
        for p in cls.params:
            need = "required" if p.required else f"default {p.default!r}"
            lines.append(f"  {p.name:<24} {p.type:<9} {need:<28} {p.doc}")
        lines += ["", "outputs:"]
        for name, out in cls.outputs.items():
            lines.append(f"  {name:<24} {out.doc}{' (known right after create)' if out.early else ''}")
        return lines + ["", "example:"] + ["  " + line for line in cls.example.splitlines()]

    @classmethod
    def to_json(cls) -> Dict[str, Any]:
        return {
            "type": cls.name,
            "summary": cls.summary,
            "parameters": [
                {
                    "name": p.name,
                    "type": p.type,
                    "required": p.required,
                    **({} if p.required else {"default": p.default}),
                    "doc": p.doc,
                }
                for p in cls.params
            ],
            "outputs": [{"name": name, "doc": out.doc, "early": out.early} for name, out in cls.outputs.items()],
            "example": cls.example,
        }

    @classmethod
    def preflight(cls, playbook, step, account, dry_run: bool) -> None:
        """Before a run creates anything: raise BadInput (naming the playbook's line) for what
        this step would fail on. account() opens the account the run will use, only if a check
        needs it (None: a simulated account that does not exist yet). Nothing by default."""

    def preview(self) -> List[Change]:
        """What create() would do, found out with read-only calls (args may hold references)."""
        return [Change("run", self.summary)]

    def create(self) -> Dict[str, Any]:
        """Find or create the step's resources (recording each); return the early outputs."""
        raise NotImplementedError

    def wait(self) -> Dict[str, Any]:
        """Wait until the resources are ready; return the remaining outputs."""
        return {}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        """Delete one recorded resource and wait until it is gone. Must be idempotent."""
        raise NotImplementedError
