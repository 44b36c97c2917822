"""`ops report --html`: the run's Gantt chart as one self-contained page.

Inline CSS and inline SVG only: no scripts, fonts or anything fetched, so the file can be
mailed or attached to a ticket. Tooltips are SVG <title> elements. Every string that comes
from the timeline is escaped.
"""

from html import escape
from itertools import groupby
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..durations import format_duration
from .report_data import FAILED, FINISHED, axis_label, axis_ticks, chart_span, phases, rows, summary

LABEL_WIDTH, CHART_WIDTH, ENDING_WIDTH = 300, 900, 110
ROW_HEIGHT, BAR_HEIGHT, TOP, AXIS_HEIGHT = 24, 14, 8, 28
MIN_TICK_GAP = 70  # pixels between gridlines
LABEL_CHARS = 40

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: 600; }
dd { margin: 0; }
svg { font-family: ui-monospace, monospace; font-size: 12px; max-width: 100%; height: auto; }
.label { text-anchor: end; }
.critical { font-weight: bold; }
.grid { stroke: #ddd; }
.tick { fill: #666; text-anchor: middle; }
.create { fill: #9ecae1; }
.wait { fill: #3182bd; }
.delete { fill: #e6550d; }
.failed { stroke: #c00; stroke-width: 2; }
.poll { stroke: #fff; stroke-width: 1; }
.legend span { display: inline-block; width: 1em; height: 0.8em; margin: 0 0.3em 0 1em; }
"""


def render_html(timeline: Dict[str, Any], dependencies: Optional[Dict[str, List[str]]] = None) -> str:
    figures = summary(timeline, dependencies)
    chart_rows = rows(phases(timeline))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"/>',
            f"<title>ops report: {escape(figures['lab'])} {escape(figures['run_id'])}</title>",
            f"<style>{STYLE}</style></head><body>",
            *_header(figures),
            _svg(chart_rows, chart_span(figures, chart_rows), set(figures["critical_steps"])),
            '<p class="legend"><span style="background:#9ecae1"></span>create<span style="background:#3182bd">'
            '</span>wait<span style="background:#e6550d"></span>delete (white ticks: polls; red outline: failed; '
            "bold: on the critical path)</p>",
            "</body></html>",
        ]
    )


def _header(figures: Dict[str, Any]) -> List[str]:
    path = " → ".join(map(str, figures["critical_steps"])) or "no steps"
    if not figures["dependencies_known"]:
        path += " (dependencies not recorded, so the longest step)"
    items = [
        ("Run", figures["run_id"]),
        ("Clock", "simulated time" if figures["simulated"] else "wall-clock time"),
        ("Total", format_duration(figures["total"])),
        ("Makespan of the steps", format_duration(figures["makespan"])),
        ("Critical path", f"{format_duration(figures['critical_path'])}: {path}"),
        ("Sequential (sum of the steps)", format_duration(figures["sequential"])),
    ]
    return (
        [f"<h1>Where the time went: {escape(figures['lab'])}</h1>", "<dl>"]
        + [f"<dt>{escape(term)}</dt><dd>{escape(value)}</dd>" for term, value in items]
        + ["</dl>"]
    )


def _svg(chart_rows: Sequence[Dict[str, Any]], total: float, critical: set) -> str:
    height = TOP + len(chart_rows) * ROW_HEIGHT + AXIS_HEIGHT
    width = LABEL_WIDTH + CHART_WIDTH + ENDING_WIDTH
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    parts += _grid(total, TOP + len(chart_rows) * ROW_HEIGHT)
    for index, row in enumerate(chart_rows):
        parts += _row(row, TOP + index * ROW_HEIGHT, total, row["resource"] is None and row["step"] in critical)
    parts.append("</svg>")
    return "\n".join(parts)


def _x(t: float, total: float) -> float:
    return round(LABEL_WIDTH + t / total * CHART_WIDTH, 2)


def _grid(total: float, bottom: int) -> List[str]:
    lines = []
    for t in axis_ticks(total, CHART_WIDTH, MIN_TICK_GAP):
        x = _x(t, total)
        lines.append(f'<line class="grid" x1="{x}" y1="{TOP}" x2="{x}" y2="{bottom}"/>')
        lines.append(f'<text class="tick" x="{x}" y="{bottom + 16}">{escape(axis_label(t))}</text>')
    return lines


def _row(row: Dict[str, Any], y: int, total: float, critical: bool) -> List[str]:
    label = str(row["label"])
    shown = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
    middle = y + ROW_HEIGHT / 2 + 4
    outcome = "" if row["outcome"] == FINISHED else f" {row['outcome']}"
    parts = [
        f'<text class="label{" critical" if critical else ""}" x="{LABEL_WIDTH - 8}" y="{middle}">'
        f"<title>{escape(label)}</title>{escape(shown)}</text>"
    ]
    for phase in row["phases"]:
        parts += _phase(phase, label, y + (ROW_HEIGHT - BAR_HEIGHT) / 2, total)
    parts.append(
        f'<text x="{LABEL_WIDTH + CHART_WIDTH + 8}" y="{middle}">'
        f"{escape(format_duration(row['end'] - row['start']) + outcome)}</text>"
    )
    return parts


def _phase(phase: Dict[str, Any], label: str, y: float, total: float) -> List[str]:
    """The phase's bar (at least one pixel wide), its tooltip, and a tick per poll."""
    x = _x(phase["start"], total)
    width = max(1.0, round(_x(phase["end"], total) - x, 2))
    classes = phase["phase"] + (" failed" if phase["outcome"] == FAILED else "")
    parts = [
        f'<rect class="{classes}" x="{x}" y="{y}" width="{width}" height="{BAR_HEIGHT}">'
        f"<title>{escape(_tooltip(phase, label))}</title></rect>"
    ]
    for t, _status in phase["polls"]:
        tick = _x(t, total)
        parts.append(f'<line class="poll" x1="{tick}" y1="{y + 3}" x2="{tick}" y2="{y + BAR_HEIGHT - 3}"/>')
    return parts


def _tooltip(phase: Dict[str, Any], label: str) -> str:
    lines = [
        f"{label}: {phase['phase']} ({phase['outcome']})",
        f"{format_duration(phase['start'])} → {format_duration(phase['end'])} "
        f"({format_duration(phase['end'] - phase['start'])})",
    ]
    if phase["polls"]:
        lines.append(
            "statuses: "
            + ", ".join(
                f"{status} ×{count}" if count > 1 else status for status, count in statuses_seen(phase["polls"])
            )
        )
    return "\n".join(lines)


def statuses_seen(polls: Sequence[Tuple[float, str]]) -> List[Tuple[str, int]]:
    """Consecutive polls with the same status, as (status, how many polls)."""
    return [(status, len(list(run))) for status, run in groupby(status for _t, status in polls)]
