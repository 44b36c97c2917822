"""What a run's timeline says: its phases, the chart's rows, the summary figures and the time axis.

Reads a timeline saved by ops/engine/timeline.py. phases(), step_durations(), critical_path() and
summary() are pure functions of a loaded timeline, shared by the terminal chart
(ops/commands/report.py), the HTML page (ops/commands/report_html.py) and the benchmark. Only the standard
library: a report never needs AWS.
"""

import re
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..durations import format_duration
from ..engine.timeline import find_timeline, load_timeline
from ..errors import BadInput

CREATE, WAIT, DELETE = "create", "wait", "delete"
FINISHED, FAILED, UNFINISHED = "finished", "failed", "unfinished"

NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)

Timeline = Dict[str, Any]
Phase = Dict[str, Any]


# --- what happened, from the events ---------------------------------------------------------


def phases(timeline: Timeline) -> List[Phase]:
    """Every create, wait and delete phase of the run, in the order they started (steps that
    start together in the playbook's order, deletions that start together as they happened).

    Each phase: step, resource ("kind id" of a deleted resource, else None), phase (create,
    wait or delete), start, end, polls [(t, status)] and outcome (finished, failed or
    unfinished: still running when the timeline ends). A step_waiting poll belongs to the
    phase of its step that is open at that point of the event stream, so polls during a
    teardown go to the resource being deleted. Timelines written before step_create_finished
    existed have no such event: there a step's wait starts at its first poll.
    """
    events = timeline["events"]
    has_create_finished = any(event["event"] == "step_create_finished" for event in events)
    result: List[Phase] = []
    running: Dict[Any, Phase] = {}  # step -> its open create or wait phase
    deleting: Dict[Any, Phase] = {}  # step -> the resource of it being deleted (one at a time)
    for event in events:
        name, t, step = event["event"], event["t"], event.get("step")
        if name == "step_started":
            running[step] = _open_phase(result, step, None, CREATE, t)
        elif name == "step_create_finished" and step in running:
            _close(running[step], t, FINISHED)
            running[step] = _open_phase(result, step, None, WAIT, t)
        elif name in ("step_finished", "step_failed") and step in running:
            _close(running.pop(step), t, FINISHED if name == "step_finished" else FAILED)
        elif name == "resource_deleting":
            deleting[step] = _open_phase(result, step, _resource(event), DELETE, t)
        elif name in ("resource_deleted", "resource_delete_failed") and step in deleting:
            _close(deleting.pop(step), t, FINISHED if name == "resource_deleted" else FAILED)
        elif name == "step_waiting":
            if not has_create_finished and running.get(step, {}).get("phase") == CREATE:
                _close(running[step], t, FINISHED)
                running[step] = _open_phase(result, step, None, WAIT, t)
            phase = running.get(step) or deleting.get(step)
            if phase is not None:
                phase["polls"].append((t, str(event.get("status", "?"))))
    for phase in result:
        if phase["end"] is None:
            phase["end"], phase["outcome"] = max(elapsed(timeline), phase["start"]), UNFINISHED
    # Steps that start at one (simulated) moment run in threads whose events land in either
    # order: such steps go in the playbook's order, so one run always draws the same chart.
    rank = {step: i for i, step in enumerate(recorded_dependencies(timeline))}
    result.sort(key=lambda p: (p["start"], 1, 0) if p["resource"] else (p["start"], 0, rank.get(p["step"], len(rank))))
    return result


def _resource(event: Dict[str, Any]) -> str:
    return f"{event.get('kind', '?')} {event.get('id', '?')}"


def _open_phase(result: List[Phase], step, resource: Optional[str], kind: str, t: float) -> Phase:
    phase = {"step": step, "resource": resource, "phase": kind, "start": t, "end": None, "polls": [], "outcome": None}
    result.append(phase)
    return phase


def _close(phase: Phase, t: float, outcome: str) -> None:
    phase["end"], phase["outcome"] = t, outcome


def elapsed(timeline: Timeline) -> float:
    """The run's length: run_finished's elapsed, else the time of the last event."""
    for event in reversed(timeline["events"]):
        if event["event"] == "run_finished" and isinstance(event.get("elapsed"), (int, float)):
            return float(event["elapsed"])
    return max((event["t"] for event in timeline["events"]), default=0.0)


def rows(phase_list: Sequence[Phase]) -> List[Dict[str, Any]]:
    """The chart's rows, in start order: one per step (create + wait), one per deleted resource."""
    by_key: Dict[Tuple[Any, Any], Dict[str, Any]] = {}
    for phase in phase_list:
        row = by_key.setdefault(
            (phase["step"], phase["resource"]), {"step": phase["step"], "resource": phase["resource"], "phases": []}
        )
        row["phases"].append(phase)
    for row in by_key.values():
        row["start"] = min(phase["start"] for phase in row["phases"])
        row["end"] = max(phase["end"] for phase in row["phases"])
        outcomes = {phase["outcome"] for phase in row["phases"]}
        row["outcome"] = next((o for o in (FAILED, UNFINISHED) if o in outcomes), FINISHED)
        row["label"] = str(row["step"]) if row["resource"] is None else f"delete {row['resource']}"
    return sorted(by_key.values(), key=lambda row: row["start"])


def step_durations(timeline: Timeline) -> Dict[str, float]:
    """Each step's time from step_started to its end, in start order."""
    return {row["step"]: row["end"] - row["start"] for row in rows(phases(timeline)) if row["resource"] is None}


def recorded_dependencies(
    timeline: Timeline, dependencies: Optional[Dict[str, List[str]]] = None
) -> Dict[str, List[str]]:
    """Step -> the steps it waits for: from run_started, else the ones given, else none known."""
    for event in timeline["events"]:
        if event["event"] == "run_started" and isinstance(event.get("dependencies"), dict):
            return event["dependencies"]
    return dependencies or {}


def critical_path(timeline: Timeline, dependencies: Optional[Dict[str, List[str]]] = None) -> Tuple[float, List[str]]:
    """The longest chain of dependent steps: (its total seconds, its steps from first to last).

    Without known dependencies the steps count as independent, so it is the longest step.
    Every dependency counts as waiting for the whole step (the record does not say which
    only need the other step's create phase).
    """
    durations = step_durations(timeline)
    graph = recorded_dependencies(timeline, dependencies)
    needs = {step: [other for other in graph.get(step, ()) if other in durations] for step in durations}
    finish: Dict[str, float] = {}
    previous: Dict[str, Optional[str]] = {}
    for step in TopologicalSorter(needs).static_order():
        before = previous[step] = max(needs[step], key=finish.__getitem__, default=None)
        finish[step] = durations[step] + (finish[before] if before else 0.0)
    # on a tie, the chain that ends last: zero-length steps at the end of a run are on it too
    last = max(reversed(list(durations)), key=finish.__getitem__, default=None)
    path: List[str] = []
    while last is not None:
        path.insert(0, last)
        last = previous[last]
    return (finish[path[-1]] if path else 0.0), path


def summary(timeline: Timeline, dependencies: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
    """The header figures: total elapsed, the steps' makespan, critical path and sequential time."""
    step_rows = [row for row in rows(phases(timeline)) if row["resource"] is None]
    seconds, path = critical_path(timeline, dependencies)
    return {
        "lab": str(timeline.get("lab", "?")),
        "run_id": str(timeline.get("run_id", "?")),
        "simulated": bool(timeline.get("simulated")),
        "total": elapsed(timeline),
        "makespan": (max(r["end"] for r in step_rows) - min(r["start"] for r in step_rows)) if step_rows else 0.0,
        "critical_path": seconds,
        "critical_steps": path,
        "dependencies_known": bool(recorded_dependencies(timeline, dependencies)),
        "sequential": sum(r["end"] - r["start"] for r in step_rows),
    }


def chart_span(figures: Dict[str, Any], chart_rows: Sequence[Dict[str, Any]]) -> float:
    """Seconds the chart's axis covers: the whole run, and never zero."""
    return max([figures["total"]] + [row["end"] for row in chart_rows]) or 1.0


# --- the time axis ----------------------------------------------------------------------------


def axis_ticks(total: float, length: float, min_gap: float) -> List[float]:
    """Tick times at a round interval leaving at least min_gap (in the chart's units) between them."""
    total = max(total, 1e-9)
    interval = next((s for s in NICE_STEPS if s / total * length >= min_gap), NICE_STEPS[-1])
    return [k * interval for k in range(int(total // interval) + 1)]


def axis_label(seconds: float) -> str:
    """format_duration without trailing zero units: 2m, 1h, 1h30m, 45s."""
    return re.sub(r"(?<=h)00m$", "", re.sub(r"(?<=[hm])00s$", "", format_duration(seconds)))


# --- reading a saved timeline ----------------------------------------------------------------


def read_timeline(path: Path) -> Timeline:
    """The timeline saved at path; BadInput naming the file if it is not one."""
    hint = "It is not a timeline ops wrote; run the lab again, or name another run."
    try:
        data = load_timeline(path)
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise BadInput(f"cannot read this timeline ({exc}).", hint, source=str(path)) from exc
    problem = _timeline_problem(data)
    if problem:
        raise BadInput(f"malformed timeline: {problem}.", hint, source=str(path))
    return data


def _timeline_problem(data: Any) -> str:
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return "expected a JSON object with a list of events"
    for index, event in enumerate(data["events"]):
        if not (
            isinstance(event, dict)
            and isinstance(event.get("event"), str)
            and isinstance(event.get("t"), (int, float))
            and not isinstance(event.get("t"), bool)
        ):
            return f"event {index} has no name or no time"
    return ""


def find_run_timeline(run: Optional[str], dry_run: Optional[bool]) -> Path:
    """The timeline of RUN (a lab name or a run id; default: the newest) under ./.ops; BadInput if none."""
    path = find_timeline(Path.cwd(), run, dry_run)
    if path is None:
        which = f"for '{run}'" if run else "of any run"
        kind = "" if dry_run is None else "dry-run " if dry_run else "real-run "
        raise BadInput(
            f"no {kind}timeline {which} under {Path.cwd() / '.ops'}.",
            "Run a lab first (ops run PLAYBOOK --dry-run), from this directory, or give the lab "
            "name or run id of one that ran here.",
        )
    return path
