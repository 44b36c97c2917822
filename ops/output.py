"""One renderer for everything a run reports: readable lines, or JSON lines for machines.

Every event has a kind and fields; text mode turns it into one line with the (possibly
simulated) time since the run started and the step name first, JSON mode prints it as one
object per line: {"event": kind, "t": seconds, ...fields}.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Callable, Dict, Optional, Protocol, TextIO

from .durations import format_duration

WAIT_HEARTBEAT = 60.0


def aligned(rows) -> list:
    """Rows of text cells as lines of columns two spaces apart, each as wide as its widest cell
    (the last column unpadded): the one way ops prints a table as text."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def chosen_output() -> str:
    """The running command's --output: "text" or "json" (text outside a command)."""
    import click

    ctx = click.get_current_context(silent=True)
    return ((ctx.find_root().obj or {}) if ctx else {}).get("output", "text")


class Reporting(Protocol):
    """What the engine and the commands report progress to (Reporter, or one lab's
    LabReporter within a run of several): events, each a name and its fields."""

    def event(self, name: str, /, **fields: Any) -> None: ...

    def listen(self, listener: Callable[[str, float, Dict[str, Any]], None]) -> None: ...

    def elapsed(self) -> float: ...


class Reporter:
    def __init__(self, mode: str = "text", stream: Optional[TextIO] = None, clock=None, live=None):
        self.mode = mode
        self.live = live  # a LiveView on a terminal: progress as a table, not as lines
        self.stream = stream or sys.stdout
        self.clock = clock
        self._start = clock.now() if clock else 0.0
        self._lock = threading.Lock()
        self._last_wait: Dict[Any, Any] = {}
        self.listeners: list = []  # callables(name, t, fields), e.g. a Timeline
        self.show_lab = False
        self.reader_gone = False  # the output's reader left (`| head`): lines are dropped, work goes on

    def listen(self, listener) -> None:
        self.listeners.append(listener)

    def close(self) -> None:
        if self.live is not None:
            self.live.close()

    def for_lab(self, lab: str) -> "LabReporter":
        """A view for one of several labs: its events carry the lab, its lines show it."""
        self.show_lab = True
        return LabReporter(self, lab)

    def set_clock(self, clock) -> None:
        self.clock = clock
        self._start = clock.now()

    def elapsed(self) -> float:
        return self.clock.now() - self._start if self.clock else 0.0

    def event(self, name: str, /, **fields: Any) -> None:
        with self._lock:
            for listener in self.listeners:
                listener(name, self.elapsed(), fields)
            if self.mode == "json":
                line = json.dumps({"event": name, "t": round(self.elapsed(), 3), **fields}, default=str)
            elif self.live is not None:
                text = None if name == "step_waiting" else self._text(name, fields)
                self.live.handle(name, fields, text, self.elapsed())
                return
            else:
                text = self._text(name, fields)
                if text is None:
                    return
                line = text
            self._write(line + "\n")

    def _write(self, text: str) -> None:
        """Write a line; when the reader of the output has gone (a closed pipe), drop it and
        every later one: a run must not stop mid-create because nobody reads its progress
        (its record and timeline still get every event)."""
        if self.reader_gone:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.reader_gone = True

    def _text(self, name: str, f: Dict[str, Any]) -> Optional[str]:
        stamp = f"[{format_duration(self.elapsed()):>8}]"
        step = f.get("step", "")
        if self.show_lab and "lab" in f and step:
            step = f"{f['lab']}:{step}"
        if name == "run_started":
            mode = (
                "dry run: simulated account, simulated time" if f["dry_run"] else f"AWS account, region {f['region']}"
            )
            return f"ops: {f['action']} lab '{f['lab']}' (run {f['run_id']}, {mode})"
        if name == "step_started":
            return f"{stamp} {step:<12} start    {f['type']}"
        if name == "step_waiting":
            if not self._worth_a_line(f):
                return None
            return f"{stamp} {step:<12} waiting  {f['what']}: {f['status']} ({format_duration(f['elapsed'])})"
        if name == "step_created":
            return f"{stamp} {step:<12} {'adopted' if not f['ours'] else f['verb']:<8} {f['kind']} {f['id']}"
        if name == "step_finished":
            shown = ", ".join(f"{k}={v}" for k, v in f.get("outputs", {}).items())
            return f"{stamp} {step:<12} done     in {format_duration(f['elapsed'])}" + (f"  [{shown}]" if shown else "")
        if name == "step_create_finished":
            return None  # for the timeline; the step's own lines already say it
        if name == "step_output":
            return "\n".join(f"{stamp} {step:<12} | {line}" for line in str(f["text"]).splitlines() or [""])
        if name == "step_failed":
            return f"{stamp} {step:<12} FAILED   {f['error']}"
        if name == "teardown_started":
            return f"{stamp} {'teardown':<12} {f['count']} resource(s) to delete"
        if name == "resource_deleting":
            return f"{stamp} {step:<12} delete   {f['kind']} {f['id']}"
        if name == "resource_deleted":
            return f"{stamp} {step:<12} deleted  {f['kind']} {f['id']} in {format_duration(f['elapsed'])}"
        if name == "resource_kept":
            return f"{stamp} {step:<12} kept     {f['kind']} {f['id']} ({f['reason']})"
        if name == "resource_delete_failed":
            return f"{stamp} {step:<12} FAILED   deleting {f['kind']} {f['id']}: {f['error']}"
        if name == "note":
            return f["text"]
        if name == "run_finished":
            return self._summary(f)
        return f"{stamp} {name} {f}"

    def _worth_a_line(self, f: Dict[str, Any]) -> bool:
        """In text mode a wait shows its first poll, every change of status, and a heartbeat
        each WAIT_HEARTBEAT seconds, not every poll (JSON mode gets every poll)."""
        key = (f.get("step"), f["what"])
        last = self._last_wait.get(key)
        if last and last[0] == f["status"] and f["elapsed"] - last[1] < WAIT_HEARTBEAT:
            return False
        self._last_wait[key] = (f["status"], f["elapsed"])
        return True

    def _summary(self, f: Dict[str, Any]) -> str:
        lab = f"{f['lab']}: " if self.show_lab and "lab" in f else ""
        lines = [
            f"ops: {lab}{f['result']} in {format_duration(f['elapsed'])}"
            + (" of simulated time" if f.get("simulated") else "")
        ]
        left = f.get("left", [])
        if left:
            lines.append(f"ops: {len(left)} resource(s) exist now:")
            lines.extend(f"  - {item}" for item in left)
        elif f.get("checked_account"):
            lines.append("ops: nothing from this run is left in the account.")
        if f.get("shared_with"):
            lines.append(f"ops: the Cloud9 environment is shared (read-write) with {', '.join(f['shared_with'])}")
        if f.get("teardown_command"):
            lines.append(f"ops: to delete them: {f['teardown_command']}")
        return "\n".join(lines)


class LabReporter:
    """One lab's events within a run of several: same stream, each event tagged with the lab."""

    def __init__(self, parent: Reporter, lab: str):
        self.parent = parent
        self.lab = lab
        self.listeners: list = []

    def listen(self, listener) -> None:
        self.listeners.append(listener)

    def elapsed(self) -> float:
        return self.parent.elapsed()

    def event(self, name: str, /, **fields: Any) -> None:
        fields.setdefault("lab", self.lab)
        for listener in self.listeners:
            listener(name, self.parent.elapsed(), fields)
        self.parent.event(name, **fields)
