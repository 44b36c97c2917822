"""Playbook files: YAML -> Playbook, checked before anything touches AWS.

Every problem is reported as BadInput with file:line and a hint. Var values (from the
playbook, config files and --var) are substituted here, so their types are checked too;
only references to other steps' outputs are left for the runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Collection, Dict, List, Optional, Type

from ..durations import DAY, format_limit, parse_duration
from ..errors import BadInput
from ..names import NAME_RE
from ..refs import RefError, refs_in, resolve
from ..steps import playbook_types, registry
from .yamlsource import LineDict, LineList, load_yaml_file

if TYPE_CHECKING:
    from ..steps.base import StepType

TOP_KEYS = ("name", "description", "vars", "steps")
STEP_KEYS = ("name", "type", "with", "needs", "timeout", "description")
STEP_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
CREATED, DONE = "created", "done"
MAX_STEP_TIMEOUT = DAY  # AWS readies every lab resource within an hour; longer only hides a stuck one
SAMPLE_RUN_ID = "r0000000"  # same shape as real run ids, so names built from them can be checked early


@dataclass
class Step:
    name: str
    type: str
    args: Dict[str, Any]  # vars already substituted; may hold ${{ steps.* }} references
    needs: List[str]  # every step this one depends on (references + explicit needs)
    timeout: float
    line: int
    description: str = ""
    # when each dependency is far enough along: "created" if only its early outputs are
    # used, "done" (created and ready) otherwise
    after: Dict[str, str] = field(default_factory=dict)
    arg_lines: Dict[str, int] = field(default_factory=dict)
    with_line: int = 0

    @property
    def step_type(self) -> Type["StepType"]:
        return registry()[self.type]


@dataclass
class Playbook:
    name: str
    source: str
    description: str
    vars: Dict[str, Any]
    steps: List[Step] = field(default_factory=list)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def summary(self) -> str:
        """What `ops validate` says of a valid playbook."""
        return f"lab '{self.name}', {len(self.steps)} steps ({', '.join(s.name for s in self.steps)})"

    def to_json(self) -> Dict[str, Any]:
        return {"lab": self.name, "steps": [{"name": s.name, "type": s.type, "needs": s.needs} for s in self.steps]}


def _suggest(word: str, options) -> str:
    import difflib  # only for a suggestion: not at every start (1 ms)

    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f"Did you mean '{close[0]}'?" if close else ""


def _check_keys(mapping: LineDict, allowed, what: str, source: str) -> None:
    for key in mapping:
        if key not in allowed:
            hint = _suggest(key, allowed) or f"Allowed: {', '.join(allowed)}."
            raise BadInput(f"unknown key '{key}' in {what}.", hint, source, mapping.line_of(key))


def load_playbook(path, overrides: Optional[Dict[str, Any]] = None, override_source: str = "--var") -> Playbook:
    """Load and fully check a playbook. overrides: var values from config files and --var."""
    source = str(path)
    doc = load_yaml_file(path)
    return build_playbook(doc, source, overrides or {}, override_source)


def build_playbook(doc, source: str, overrides: Dict[str, Any], override_source: str = "--var") -> Playbook:
    # every YAML mapping is read as a LineDict and every sequence as a LineList (ops.engine.yamlsource)
    if not isinstance(doc, LineDict):
        raise BadInput(
            "a playbook must be a mapping with 'name:' and 'steps:'.",
            "See playbooks/lab.yaml for an example.",
            source,
            getattr(doc, "line", 1),
        )
    _check_keys(doc, TOP_KEYS, "the playbook", source)
    name = doc.get("name")
    if name is None:
        raise BadInput(
            "the playbook has no 'name:'.",
            "Add e.g. 'name: my-lab' (lowercase, digits, hyphens).",
            source,
            doc.line or 1,
        )
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BadInput(
            f"playbook name {name!r} is not valid.",
            "Use 1-30 lowercase letters, digits or hyphens, starting with a letter "
            "(it goes into resource names and tags).",
            source,
            doc.line_of("name"),
        )
    description = doc.get("description") or ""
    variables = _load_vars(doc, source, overrides, override_source)
    steps_node = doc.get("steps")
    if not isinstance(steps_node, LineList) or not steps_node:
        raise BadInput(
            "the playbook needs a non-empty 'steps:' list.",
            "Each step has 'name:', 'type:' and 'with:'.",
            source,
            doc.line_of("steps"),
        )
    playbook = Playbook(name=name, source=source, description=str(description), vars=variables)
    declared: List[object] = [n.get("name") for n in steps_node if isinstance(n, dict)]
    for index, node in enumerate(steps_node):
        playbook.steps.append(_build_step(node, steps_node.line_of(index), playbook, declared))
    return playbook


def _load_vars(doc: LineDict, source: str, overrides: Dict[str, Any], override_source: str) -> Dict[str, Any]:
    node = doc.get("vars") or LineDict()
    if not isinstance(node, LineDict):
        raise BadInput("'vars:' must be a mapping of names to values.", "", source, doc.line_of("vars"))
    for key, value in node.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise BadInput(
                f"var name {key!r} is not valid.", "Use letters, digits and underscores.", source, node.line_of(key)
            )
        if isinstance(value, dict):
            raise BadInput(
                f"var '{key}' is a mapping; vars hold strings, numbers, booleans or lists.",
                "",
                source,
                node.line_of(key),
            )
    for key in overrides:
        if key not in node:
            hint = _suggest(key, node) or f"The playbook's vars are: {', '.join(node) or 'none'}."
            origin = getattr(overrides, "sources", {}).get(key, override_source)
            line = overrides.key_lines.get(key, 0) if hasattr(overrides, "key_lines") else 0
            if line:
                raise BadInput(f"sets var '{key}', which the playbook {source} does not declare.", hint, origin, line)
            raise BadInput(f"{origin} sets '{key}', which the playbook does not declare.", hint)
    merged = dict(node)
    merged.update(overrides)
    for key, value in merged.items():
        line = node.line_of(key) if key not in overrides else 0
        where = source if key not in overrides else override_source
        try:
            for ref in refs_in(value):
                if ref[0] not in ("run", "playbook"):
                    raise RefError(f"var '{key}' may only refer to run.* or playbook.*")
        except RefError as exc:
            raise BadInput(str(exc) + ".", "", where, line) from None
    return merged


def _build_step(node, line: int, playbook: Playbook, declared: Collection[object]) -> Step:
    source = playbook.source
    if not isinstance(node, LineDict):
        raise BadInput("each step must be a mapping with 'name:', 'type:' and 'with:'.", "", source, line)
    _check_keys(node, STEP_KEYS, "a step", source)
    name = node.get("name")
    if name is None:
        raise BadInput("this step has no 'name:'.", "Give every step a unique name, e.g. 'name: redis'.", source, line)
    if not isinstance(name, str) or not STEP_NAME_RE.match(name):
        raise BadInput(
            f"step name {name!r} is not valid.",
            "Use lowercase letters, digits, '-' or '_', starting with a letter.",
            source,
            node.line_of("name") if "name" in node else line,
        )
    if any(s.name == name for s in playbook.steps):
        raise BadInput(f"two steps are named '{name}'.", "Step names must be unique.", source, node.line_of("name"))
    type_name = node.get("type")
    types = playbook_types()
    if type_name is None:
        raise BadInput(
            f"step '{name}' has no 'type:'.",
            f"Known types: {', '.join(sorted(types))} (see 'ops steps').",
            source,
            node.line_of("name"),
        )
    if type_name not in types:
        hint = _suggest(type_name, types) or f"Known types: {', '.join(sorted(types))} (see 'ops steps')."
        raise BadInput(
            f"step '{name}' has unknown type {type_name!r}.",
            hint,
            source,
            node.line_of("type") if "type" in node else line,
        )
    step_type = types[type_name]
    args_node = node.get("with") or LineDict()
    if not isinstance(args_node, LineDict):
        raise BadInput(f"'with:' of step '{name}' must be a mapping of parameters.", "", source, node.line_of("with"))
    needs = _check_needs(node, name, playbook, declared)
    args, arg_lines = {}, {}
    after = {other: DONE for other in needs}
    for key, raw in args_node.items():
        pline = args_node.line_of(key) if isinstance(args_node, LineDict) else line
        param = step_type.param(key)
        if param is None:
            known = [p.name for p in step_type.params]
            hint = _suggest(key, known) or f"{type_name} takes: {', '.join(known)}."
            raise BadInput(f"step '{name}' ({type_name}) has no parameter '{key}'.", hint, source, pline)
        args[key] = _check_arg(raw, param, name, playbook, pline, after, declared)
        arg_lines[key] = pline
    for param in step_type.params:
        if param.required and param.name not in args:
            raise BadInput(
                f"step '{name}' ({type_name}) is missing the required parameter '{param.name}'.",
                param.doc and f"It is: {param.doc}.",
                source,
                node.line_of("with") if "with" in node else line,
            )
    rule = step_type.check_args(step_type.with_defaults(args))
    if rule:
        key, problem, hint = rule
        raise BadInput(
            f"step '{name}' ({type_name}), parameter '{key}': {problem}.",
            hint,
            source,
            arg_lines.get(key, node.line_of("with") if "with" in node else line),
        )
    timeout = step_type.default_timeout
    if "timeout" in node:
        try:
            timeout = parse_duration(node["timeout"], MAX_STEP_TIMEOUT)
        except ValueError as exc:
            raise BadInput(
                f"timeout of step '{name}': {exc}.",
                f"Write e.g. 'timeout: 20m'. The slowest step, a cache cluster, waits 40m by default; "
                f"a step may wait at most {format_limit(MAX_STEP_TIMEOUT)}.",
                source,
                node.line_of("timeout"),
            ) from None
    return Step(
        name=name,
        type=type_name,
        args=args,
        needs=list(after),
        timeout=timeout,
        line=line,
        description=str(node.get("description") or ""),
        after=after,
        arg_lines=arg_lines,
        with_line=node.line_of("with") if "with" in node else line,
    )


def _later_or_missing(other: str, name: str, declared: Collection[object]) -> str:
    if other == name:
        return "itself"
    return "a later step" if other in declared else "a step that does not exist"


def _check_needs(node: LineDict, name: str, playbook: Playbook, declared: Collection[object]) -> List[str]:
    needs = node.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list):
        raise BadInput(
            f"'needs:' of step '{name}' must be a list of step names.", "", playbook.source, node.line_of("needs")
        )
    earlier = [s.name for s in playbook.steps]
    for other in needs:
        if other not in earlier:
            problem = _later_or_missing(other, name, declared)
            raise BadInput(
                f"step '{name}' needs '{other}', {problem}.",
                _suggest(other, earlier) or "A step can only need steps listed before it.",
                playbook.source,
                node.line_of("needs"),
            )
    return list(dict.fromkeys(needs))


def _check_arg(
    raw, param, step_name: str, playbook: Playbook, line: int, after: Dict[str, str], declared: Collection[object]
):
    source = playbook.source
    try:
        refs = refs_in(raw)
    except RefError as exc:
        raise BadInput(f"step '{step_name}', parameter '{param.name}': {exc}.", "", source, line) from None
    earlier = {s.name: s for s in playbook.steps}
    for ref in refs:
        if ref[0] == "vars" and ref[1] not in playbook.vars:
            raise BadInput(
                f"step '{step_name}' refers to var '{ref[1]}', which is not declared.",
                _suggest(ref[1], playbook.vars) or "Declare it under 'vars:'.",
                source,
                line,
            )
        if ref[0] == "steps":
            target, output = ref[1], ref[3]
            if target not in earlier:
                problem = _later_or_missing(target, step_name, declared)
                raise BadInput(
                    f"step '{step_name}' refers to the outputs of {problem} ('{target}').",
                    _suggest(target, earlier) or "Steps can use outputs of steps listed before them.",
                    source,
                    line,
                )
            outputs = earlier[target].step_type.outputs
            if output not in outputs:
                raise BadInput(
                    f"step '{target}' ({earlier[target].type}) has no output '{output}'.",
                    _suggest(output, outputs) or f"Its outputs: {', '.join(outputs)}.",
                    source,
                    line,
                )
            phase = CREATED if outputs[output].early else DONE
            if after.get(target) != DONE:
                after[target] = phase
    value = resolve(raw, lambda path: _static_value(path, playbook))
    sample = resolve(value, lambda path: SAMPLE_RUN_ID if path == ("run", "id") else "${{ " + ".".join(path) + " }}")
    if param.secret and refs_in(sample):
        # resolved only at run time, it could not be checked before: a secret's source is written out
        raise BadInput(
            f"step '{step_name}', parameter '{param.name}' may not refer to a step output or run value.",
            f"It is: {param.doc}. Write the source itself, or take it from a var.",
            source,
            line,
        )
    if not refs_in(sample):
        problem = param.validate(sample)
        if problem:
            origin = "".join(f" (from var '{r[1]}')" for r in refs if r[0] == "vars")
            shown = "" if param.secret else f" = {sample!r}"  # it may be the secret itself: never repeated
            raise BadInput(
                f"step '{step_name}', parameter '{param.name}'{shown}{origin} {problem}.",
                param.doc and f"It is: {param.doc}.",
                source,
                line,
            )
    return value


def _static_value(path, playbook: Playbook):
    """Vars are known now; run.*, playbook.* and step outputs are kept as references."""
    if path[0] == "vars":
        return playbook.vars[path[1]]
    if path == ("playbook", "name"):
        return playbook.name
    return "${{ " + ".".join(path) + " }}"


def resolve_runtime(value, run_id: str, region: str, outputs: Dict[str, Dict[str, Any]]):
    """Substitute run.* and step outputs, at run time."""

    def lookup(path):
        if path == ("run", "id"):
            return run_id
        if path == ("run", "region"):
            return region
        if path == ("playbook", "name"):
            raise KeyError(path)  # substituted at load time
        return outputs[path[1]][path[3]]

    return resolve(value, lookup)


def check_ingress_sources(playbook: Playbook, allow_cidr: bool) -> None:
    """Least privilege by default: ingress from a security group; a CIDR needs a flag."""
    for step in playbook.steps:
        if step.type != "ec2.ingress":
            continue
        if bool(step.args.get("source_group_id")) == bool(step.args.get("cidr")):
            raise BadInput(
                f"step '{step.name}' needs exactly one of source_group_id and cidr.",
                "Use source_group_id: only members of that security group get in.",
                playbook.source,
                step.with_line,
            )
        if step.args.get("cidr") and not allow_cidr:
            raise BadInput(
                f"step '{step.name}' opens port {step.args.get('port')} to the CIDR "
                f"{step.args['cidr']}, not to a security group.",
                "Prefer source_group_id (only members of that group get in); to open it to an "
                "address range anyway, pass --allow-public-ingress.",
                playbook.source,
                step.arg_lines.get("cidr", step.line),
            )
