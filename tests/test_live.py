"""The live view drawn on a terminal: rows per step, progress in place, outputs above."""

import io

from rich.console import Console

from ops.live import LiveView
from ops.output import Reporter


def test_progress_becomes_rows_and_outputs_are_printed():
    screen = io.StringIO()
    view = LiveView(Console(file=screen, force_terminal=True, width=120, color_system=None), auto_refresh=False)
    reporter = Reporter("text", live=view)
    reporter.event("step_started", step="redis", type="elasticache.cluster")
    reporter.event("step_waiting", step="redis", what="cluster c1", status="creating", elapsed=30)
    assert view.rows["redis"]["state"] == "waiting" and "creating" in view.rows["redis"]["status"]
    reporter.event("step_output", step="ping", text="PING 127.0.0.1:6379 -> +PONG")
    reporter.event("step_finished", step="redis", elapsed=420, outputs={})
    reporter.event("resource_deleting", step="redis", kind="cache-cluster", id="c1")
    reporter.event("step_waiting", step="redis", what="cluster c1 deletion", status="deleting", elapsed=30)
    assert view.rows["redis cache-cluster"]["status"] == "cluster c1 deletion: deleting"
    assert view.rows["redis"]["state"] == "done"
    reporter.event("resource_deleted", step="redis", kind="cache-cluster", id="c1", elapsed=300)
    reporter.close()
    drawn = screen.getvalue()
    assert "PING 127.0.0.1:6379 -> +PONG" in drawn
    assert view.rows["redis"]["state"] == "done" and view.rows["redis cache-cluster"]["state"] == "deleted"
    assert "redis cache-cluster" in drawn and "deleted" in drawn
    assert "waiting  cluster c1" not in drawn  # no per-poll lines on a terminal
