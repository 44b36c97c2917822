"""Settings: built-in defaults, then config files (--config), then flags.

A config file may hold `vars:` (overriding the playbook's), `region:`, `expected:` wait
times, `delete_timeout:`, `simulator: {durations: ...}` (the dry run's resource timings),
`rate_limits:`, `ttl:` (how long a lab may live; 'none': forever), and where records live: `state: s3://BUCKET/PREFIX` with `lock_timeout:`
(how long to wait for another run's lock) and `lock_lease:`. Unknown keys are errors, so a
typo never passes silently.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

from ..durations import DAY, parse_duration, parse_ttl, parse_wait
from ..engine.yamlsource import LineDict, load_yaml_file, parse_yaml
from ..errors import BadInput

KEYS = (
    "vars",
    "region",
    "expected",
    "delete_timeout",
    "simulator",
    "rate_limits",
    "state",
    "lock_timeout",
    "lock_lease",
    "ttl",
)
DEFAULTS = Path(__file__).resolve().parents[1] / "defaults.yaml"
MAX_WAIT = DAY  # every wait and timing here is minutes in practice; a day is the most that makes sense


def load_settings(config_files: Iterable[str]) -> Tuple[Dict[str, Any], LineDict, str]:
    """(settings, var overrides, where the var overrides came from).

    settings["expected_configured"]: the `expected:` keys a config file set, which win over
    what earlier runs took (ops/engine/wait_history.py); the built-in ones do not."""
    settings: Dict[str, Any] = dict(parse_yaml(DEFAULTS.read_text(), str(DEFAULTS)))
    settings["expected"] = dict(settings["expected"])
    settings["expected_configured"] = set()
    settings["sim_durations"] = {}
    settings["rate_limits"] = dict(settings["rate_limits"])
    overrides = LineDict()
    overrides.key_lines, overrides.sources = {}, {}
    sources: List[str] = []
    for path in config_files:
        doc = load_yaml_file(path)
        if not isinstance(doc, LineDict):  # how ops.engine.yamlsource reads every mapping
            raise BadInput(
                "a config file must be a mapping (keys: " + ", ".join(KEYS) + ").",
                "",
                str(path),
                getattr(doc, "line", 1),
            )
        for key in doc:
            if key not in KEYS:
                raise BadInput(
                    f"unknown key '{key}' in config.", f"Allowed: {', '.join(KEYS)}.", str(path), doc.line_of(key)
                )
        if "vars" in doc:
            if not isinstance(doc["vars"], LineDict):
                raise BadInput("'vars:' must be a mapping.", "", str(path), doc.line_of("vars"))
            overrides.update(doc["vars"])
            for key in doc["vars"]:
                overrides.key_lines[key] = doc["vars"].line_of(key)
                overrides.sources[key] = str(path)
            sources.append(str(path))
        if "region" in doc:
            from ..engine.target import check_region

            try:
                check_region(str(doc["region"]))
            except BadInput as exc:
                raise BadInput(exc.message, exc.hint, str(path), doc.line_of("region")) from None
            settings["region"] = str(doc["region"])
        if not isinstance(doc.get("expected") or {}, dict):
            raise BadInput(
                "'expected:' must be a mapping of wait names to durations.",
                "Write e.g. 'expected: {elasticache.create: 7m}'.",
                str(path),
                doc.line_of("expected"),
            )
        if not isinstance(doc.get("rate_limits") or {}, dict):
            raise BadInput(
                "'rate_limits:' must map services to requests per second.", "", str(path), doc.line_of("rate_limits")
            )
        for name, value in (doc.get("expected") or {}).items():
            try:
                settings["expected"][name] = parse_duration(value, MAX_WAIT)
                settings["expected_configured"].add(name)
            except ValueError as exc:
                raise BadInput(f"expected.{name}: {exc}.", "", str(path), doc["expected"].line_of(name)) from None
        if "delete_timeout" in doc:
            try:
                settings["delete_timeout"] = parse_duration(doc["delete_timeout"], MAX_WAIT)
            except ValueError as exc:
                raise BadInput(
                    f"delete_timeout: {exc}.",
                    "Write e.g. 'delete_timeout: 40m'.",
                    str(path),
                    doc.line_of("delete_timeout"),
                ) from None
        for service, rate in (doc.get("rate_limits") or {}).items():
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < math.inf:
                raise BadInput(
                    f"rate_limits.{service} must be a number of requests per second (0: unlimited).",
                    "",
                    str(path),
                    doc["rate_limits"].line_of(service),
                )
            settings["rate_limits"][service] = rate
        if "state" in doc:
            from ..engine.records import parse_location

            settings["state"] = parse_location(str(doc["state"]), str(path), doc.line_of("state"))
        for key in ("lock_timeout", "lock_lease"):
            if key in doc:
                try:
                    settings[key] = (parse_wait if key == "lock_timeout" else parse_duration)(doc[key], MAX_WAIT)
                except ValueError as exc:
                    raise BadInput(f"{key}: {exc}.", f"Write e.g. '{key}: 5m'.", str(path), doc.line_of(key)) from None
        if "ttl" in doc:
            try:
                settings["ttl"] = parse_ttl(doc["ttl"])
            except ValueError as exc:
                raise BadInput(
                    f"ttl: {exc}.", "Write e.g. 'ttl: 4h', or 'ttl: none'.", str(path), doc.line_of("ttl")
                ) from None
        if "simulator" in doc:
            settings["sim_durations"].update(_sim_durations(doc["simulator"], str(path)))
    if isinstance(settings.get("ttl"), str):  # the built-in default, as written
        settings["ttl"] = parse_ttl(settings["ttl"])
    for key in ("delete_timeout", "lock_timeout", "lock_lease"):
        try:
            settings[key] = (parse_wait if key == "lock_timeout" else parse_duration)(settings[key])
        except ValueError as exc:
            raise BadInput(f"{key}: {exc}.") from None
    return settings, overrides, " and ".join(sources) or "config"


def _sim_durations(node, source: str) -> Dict[str, float]:
    from ..sim.durations import DEFAULT_DURATIONS

    if not isinstance(node, LineDict) or set(node) - {"durations"}:
        raise BadInput("'simulator:' holds one key, 'durations:'.", "", source, getattr(node, "line", 0))
    durations = node.get("durations") or LineDict()
    if not isinstance(durations, LineDict):
        raise BadInput(
            "'simulator.durations:' must map timings to durations.",
            "Write e.g. 'simulator: {durations: {elasticache.create: 30s}}'.",
            source,
            node.line_of("durations"),
        )
    result = {}
    for name, value in durations.items():
        if name not in DEFAULT_DURATIONS:
            raise BadInput(
                f"simulator.durations has no '{name}'.",
                f"Known: {', '.join(DEFAULT_DURATIONS)}.",
                source,
                durations.line_of(name),
            )
        try:
            result[name] = parse_duration(value, MAX_WAIT)
        except ValueError as exc:
            raise BadInput(f"simulator.durations.{name}: {exc}.", "", source, durations.line_of(name)) from None
    return result


def parse_var_flags(flags: Iterable[str]) -> Dict[str, Any]:
    """--var KEY=VALUE flags; VALUE is read as a YAML scalar (so 42 is a number, true a boolean)."""
    values: Dict[str, Any] = {}
    for flag in flags:
        key, sep, raw = flag.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--var {flag!r} is not KEY=VALUE.", "Write e.g. --var node_type=cache.t3.micro.")
        try:
            value = parse_yaml(raw, "--var") if raw.strip() else ""
        except BadInput:
            value = raw
        values[key.strip()] = raw if isinstance(value, (dict, list)) or value is None else value
    return values
