"""The live view on a terminal: one row per step (spinner, state, elapsed, AWS status).

Used instead of the plain progress lines when stdout is a TTY and the output is text;
anything that is not progress (step outputs such as PING and the demo, notes, the final
summary) is printed above the table as it comes. rich draws it.
"""

from typing import Any, Dict, Optional

from .durations import format_duration

PROGRESS = {
    "step_started",
    "step_waiting",
    "step_create_finished",
    "step_finished",
    "step_failed",
    "resource_deleting",
    "resource_deleted",
    "resource_delete_failed",
}
DONE = {"done", "deleted", "FAILED"}


class LiveView:
    def __init__(self, console=None, auto_refresh: bool = True):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.rows: Dict[str, Dict[str, Any]] = {}
        self.deleting: Dict[str, str] = {}  # step label -> the row of the resource it is deleting
        self.now = 0.0
        self.live = Live(
            self._table(),
            console=self.console,
            auto_refresh=auto_refresh,
            refresh_per_second=8,
            get_renderable=self._table,
        )
        self.live.start()

    def handle(self, name: str, fields: Dict[str, Any], line: Optional[str], t: float) -> None:
        self.now = t
        if name in PROGRESS:
            self._update(name, fields, t)
        elif line:
            self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self.live.refresh()

    def _update(self, name: str, f: Dict[str, Any], t: float) -> None:
        step = f.get("step", "")
        label = f"{f['lab']}:{step}" if f.get("lab") else step
        if name.startswith("resource_"):
            self.deleting[label] = label = f"{label} {f['kind']}"
        elif name == "step_waiting" and label in self.deleting:
            label = self.deleting[label]  # a teardown wait belongs to the resource being deleted
        row = self.rows.setdefault(label, {"started": t, "state": "", "status": ""})
        if name == "step_started":
            row.update(state="running", status=f["type"])
        elif name == "step_waiting":
            row.update(state="waiting", status=f"{f['what']}: {f['status']}")
        elif name == "step_finished":
            row.update(state="done", status="", ended=t)
        elif name == "step_failed":
            row.update(state="FAILED", status=f["error"], ended=t)
        elif name == "resource_deleting":
            row.update(state="deleting", status=f["id"], started=t)
        elif name == "resource_deleted":
            row.update(state="deleted", ended=t)
        elif name == "resource_delete_failed":
            row.update(state="FAILED", status=f["error"], ended=t)

    def _table(self):
        from rich.spinner import Spinner
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("", "step", "state", "elapsed", "status"):
            table.add_column(column, no_wrap=column != "status")
        for label, row in self.rows.items():
            finished = row["state"] in DONE
            mark = {"done": "✓", "deleted": "✓", "FAILED": "✗"}.get(row["state"]) if finished else Spinner("dots")
            elapsed = format_duration(row.get("ended", self.now) - row["started"])
            table.add_row(mark, label, row["state"], elapsed, row["status"])
        return table

    def close(self) -> None:
        self.live.stop()
