"""`ops report`: where the time of a run went, as a Gantt chart in the terminal.

The figures, rows and axis come from ops/commands/report_data.py, which the HTML page
(ops/commands/report_html.py) shares; the command itself is in ops/cli.py. Only the standard library:
a report never needs AWS.
"""

import textwrap
from typing import Any, Dict, List, Optional, Tuple

from ..durations import format_duration
from .report_data import (
    CREATE,
    DELETE,
    FAILED,
    FINISHED,
    WAIT,
    Timeline,
    axis_label,
    axis_ticks,
    chart_span,
    phases,
    rows,
    summary,
)

BAR_CHARS = {CREATE: "░", WAIT: "█", DELETE: "▓"}
POLL_CHAR = "|"
FAILED_CHAR = "✗"
LEGEND = f"░ create  █ wait  ▓ delete  {POLL_CHAR} poll  {FAILED_CHAR} failed  * on the critical path"
MIN_LABEL_GAP = 8  # terminal columns between axis labels


# --- the terminal chart -----------------------------------------------------------------------


def chart_lines(timeline: Timeline, width: int, dependencies: Optional[Dict[str, List[str]]] = None) -> List[str]:
    """The header, one line per row and the time axis, at most `width` columns wide."""
    figures = summary(timeline, dependencies)
    chart_rows = rows(phases(timeline))
    total = chart_span(figures, chart_rows)
    critical = set(figures["critical_steps"])
    labels = [
        ("* " if row["resource"] is None and row["step"] in critical else "  ") + row["label"] for row in chart_rows
    ]
    endings = [_row_ending(row) for row in chart_rows]
    label_width = min(max(map(len, labels), default=0), max(14, width // 4))
    ending_width = max(map(len, endings), default=0)
    cells = max(10, width - label_width - ending_width - 2)
    lines = _wrap(_header_lines(figures), width) + [""]
    for label, row, ending in zip(labels, chart_rows, endings):
        lines.append(f"{_fit(label, label_width)} {_bar(row, cells, total)} {ending}")
    lines += _axis_lines(total, cells, label_width + 1)
    return lines + [""] + _wrap([LEGEND], width)


def _wrap(lines: List[str], width: int) -> List[str]:
    return [part for line in lines for part in textwrap.wrap(line, width, subsequent_indent="  ")]


def _header_lines(figures: Dict[str, Any]) -> List[str]:
    clock = "simulated time" if figures["simulated"] else "wall-clock time"
    path = " → ".join(map(str, figures["critical_steps"])) or "no steps"
    if not figures["dependencies_known"]:
        path += "; dependencies not recorded, so the longest step"
    return [
        f"{figures['lab']}  run {figures['run_id']}  ({clock})  total {format_duration(figures['total'])}",
        f"steps: makespan {format_duration(figures['makespan'])}, "
        f"critical path {format_duration(figures['critical_path'])} ({path}), "
        f"sequential {format_duration(figures['sequential'])}",
    ]


def _row_ending(row: Dict[str, Any]) -> str:
    outcome = "" if row["outcome"] == FINISHED else f" {row['outcome']}"
    return format_duration(row["end"] - row["start"]) + outcome


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _bar(row: Dict[str, Any], cells: int, total: float) -> str:
    """The row's phases over `cells` columns: each at least one column, polls as ticks on it."""
    line = [" "] * cells
    for phase in row["phases"]:
        first, last = _span(phase["start"], phase["end"], cells, total)
        line[first : last + 1] = BAR_CHARS[phase["phase"]] * (last - first + 1)
        for t, _status in phase["polls"]:
            line[min(max(_column(t, cells, total), first), last)] = POLL_CHAR
        if phase["outcome"] == FAILED:
            line[last] = FAILED_CHAR
    return "".join(line)


def _column(t: float, cells: int, total: float) -> int:
    return min(cells - 1, int(round(t / total * cells)))


def _span(start: float, end: float, cells: int, total: float) -> Tuple[int, int]:
    """First and last column of [start, end): columns whose left edge falls inside it."""
    first = _column(start, cells, total)
    return first, max(first, min(cells, int(round(end / total * cells))) - 1)


def _axis_lines(total: float, cells: int, indent: int) -> List[str]:
    ticks = axis_ticks(total, cells, MIN_LABEL_GAP)
    rule, labels = ["─"] * cells, [" "] * cells
    for t in ticks:
        column = _column(t, cells, total)
        rule[column] = "┬"
        text = axis_label(t)
        at = min(column, cells - len(text))
        if all(c == " " for c in labels[max(0, at - 1) : at + len(text)]):
            labels[at : at + len(text)] = text
    return [" " * indent + "".join(rule), " " * indent + "".join(labels).rstrip()]
