"""ops report: phases and critical path from a timeline, the terminal Gantt chart, the HTML page."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from ops.cli import OpsGroup, report
from ops.commands.report_data import critical_path, phases, summary

BAR = set("░█▓|✗")


def ev(t, name, **fields):
    return {"t": t, "event": name, **fields}


def synthetic(lab="lab", run_id="run1", a="a", dependencies=None, b_fails=False):
    """Step a: create 0-60s, wait 60-240s. Step b: create 120-150s, wait 150-180s.
    Teardown: b's resource 240-270s, then a's 270-300s."""
    started = {"lab": lab, "run_id": run_id, "action": "running", "dry_run": True}
    if dependencies is not None:
        started["dependencies"] = dependencies
    b_end = (
        ev(180, "step_failed", step="b", error="boom") if b_fails else ev(180, "step_finished", step="b", elapsed=60.0)
    )
    events = [
        ev(0, "run_started", **started),
        ev(0, "step_started", step=a, type="t.a"),
        ev(60, "step_create_finished", step=a, elapsed=60.0),
        ev(120, "step_waiting", step=a, what="thing", status="creating", elapsed=60.0),
        ev(120, "step_started", step="b", type="t.b"),
        ev(150, "step_create_finished", step="b", elapsed=30.0),
        ev(165, "step_waiting", step="b", what="other", status="pending", elapsed=15.0),
        ev(180, "step_waiting", step=a, what="thing", status="creating", elapsed=120.0),
        b_end,
        ev(240, "step_waiting", step=a, what="thing", status="ready", elapsed=180.0),
        ev(240, "step_finished", step=a, elapsed=240.0),
        ev(240, "teardown_started", count=2),
        ev(240, "resource_deleting", step="b", kind="thing", id="b-1"),
        ev(270, "step_waiting", step="b", what="b-1 deletion", status="deleting", elapsed=30.0),
        ev(270, "resource_deleted", step="b", kind="thing", id="b-1", elapsed=30.0),
        ev(270, "resource_deleting", step=a, kind="box", id="a-1"),
        ev(300, "resource_deleted", step=a, kind="box", id="a-1", elapsed=30.0),
        ev(300, "run_finished", result="done", elapsed=300.0, simulated=True),
    ]
    return {
        "version": 1,
        "lab": lab,
        "run_id": run_id,
        "simulated": True,
        "started_at": "2026-01-01T00:00:00Z",
        "events": events,
    }


def steps_timeline(spans, dependencies=None):
    """A timeline of steps with the given (start, end) times and no teardown."""
    events = [ev(0, "run_started", lab="lab", run_id="r", **({"dependencies": dependencies} if dependencies else {}))]
    for name, (start, end) in spans.items():
        events += [
            ev(start, "step_started", step=name),
            ev(start, "step_create_finished", step=name),
            ev(end, "step_finished", step=name),
        ]
    events.sort(key=lambda e: e["t"])
    return {"lab": "lab", "run_id": "r", "simulated": True, "events": events}


def save(root, timeline, dry_run=True, mtime=None):
    folder = root / ".ops" / ("dry-run/runs" if dry_run else "runs") / timeline["lab"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{timeline['run_id']}.json"
    path.write_text(json.dumps(timeline))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def invoke(*args):
    return CliRunner().invoke(report, list(args))


def invoke_through_ops(*args):
    """As `ops report ...` will run: through the group that turns OpsError into an exit code."""
    group = OpsGroup("ops")
    group.add_command(report)
    return CliRunner().invoke(group, ["report", *args])


def chart_rows(output):
    """(label, bar columns relative to the axis, the row's line) for each chart row, top to bottom."""
    lines = output.splitlines()
    rule = next(line for line in lines if "┬" in line)
    origin = rule.index("┬")
    result = []
    for line in lines:
        bar = line[origin : origin + len(rule) - origin]
        if line[:2] in ("* ", "  ") and line.strip() and any(c in BAR for c in bar):
            label = line[2:origin].strip()
            result.append((label, [i for i, c in enumerate(bar) if c in BAR], line))
    return result, len(rule) - origin


def near(actual, expected):
    return abs(actual - expected) <= 1


# --- phases and critical path --------------------------------------------------------------------


def test_phases_split_steps_at_create_finished_and_give_teardown_polls_to_the_deleted_resource():
    found = [
        (p["step"], p["resource"], p["phase"], p["start"], p["end"], p["polls"], p["outcome"])
        for p in phases(synthetic())
    ]
    assert found == [
        ("a", None, "create", 0, 60, [], "finished"),
        ("a", None, "wait", 60, 240, [(120, "creating"), (180, "creating"), (240, "ready")], "finished"),
        ("b", None, "create", 120, 150, [], "finished"),
        ("b", None, "wait", 150, 180, [(165, "pending")], "finished"),
        ("b", "thing b-1", "delete", 240, 270, [(270, "deleting")], "finished"),
        ("a", "box a-1", "delete", 270, 300, [], "finished"),
    ]


def test_a_step_still_running_when_the_timeline_ends_is_unfinished_at_the_end_of_the_run():
    timeline = synthetic()
    timeline["events"] = [e for e in timeline["events"] if not (e["event"] == "step_finished" and e["step"] == "a")]
    wait = [p for p in phases(timeline) if p["step"] == "a" and p["phase"] == "wait"][0]
    assert (wait["end"], wait["outcome"]) == (300, "unfinished")


def test_critical_path_without_dependencies_is_the_longest_step():
    assert critical_path(synthetic()) == (240, ["a"])


def test_critical_path_follows_the_given_dependencies():
    assert critical_path(synthetic(), {"b": ["a"]}) == (300, ["a", "b"])


def test_critical_path_prefers_the_dependencies_recorded_in_run_started():
    assert critical_path(synthetic(dependencies={"a": [], "b": []}), {"b": ["a"]}) == (240, ["a"])


def test_critical_path_takes_the_longest_chain_through_a_diamond():
    spans = {"a": (0, 10), "b": (10, 40), "c": (10, 15), "d": (40, 50), "lone": (0, 45)}
    timeline = steps_timeline(spans, {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "lone": []})
    assert critical_path(timeline) == (50, ["a", "b", "d"])
    figures = summary(timeline)
    assert (figures["makespan"], figures["sequential"], figures["critical_path"]) == (50, 100, 50)


# --- terminal chart ------------------------------------------------------------------------------


def test_terminal_chart_rows_are_in_start_order_with_bars_proportional_to_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(tmp_path, synthetic())
    result = invoke("--width", "100")
    assert result.exit_code == 0, result.output
    rows, cells = chart_rows(result.output)
    assert [label for label, _, _ in rows] == ["a", "b", "delete thing b-1", "delete box a-1"]
    spans = {label: (columns[0], columns[-1] + 1) for label, columns, _ in rows}
    for label, (start, end) in {
        "a": (0, 240),
        "b": (120, 180),
        "delete thing b-1": (240, 270),
        "delete box a-1": (270, 300),
    }.items():
        assert near(spans[label][0], start / 300 * cells) and near(spans[label][1], end / 300 * cells), label
    a_line = rows[0][2]
    origin = a_line.index("░")
    create = a_line[origin : origin + round(60 / 300 * cells)]
    assert set(create) == {"░"}
    assert set(a_line[origin + len(create) + 1 : origin + round(240 / 300 * cells) - 1]) <= {"█", "|"}
    assert "|" in a_line and "█" in a_line


def test_terminal_chart_prints_durations_header_and_axis(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(tmp_path, synthetic(dependencies={"b": ["a"]}))
    result = invoke("--width", "90")
    assert result.exit_code == 0, result.output
    rows, _ = chart_rows(result.output)
    assert [line.split()[-1] for _, _, line in rows] == ["4m00s", "1m00s", "30s", "30s"]
    header = result.output.splitlines()[:2]
    assert header[0].startswith("lab  run run1  (simulated time)  total 5m00s")
    assert "makespan 4m00s" in header[1] and "critical path 5m00s (a → b)" in header[1]
    assert "sequential 5m00s" in header[1]
    assert rows[0][2].startswith("* a") and rows[1][2].startswith("* b")
    axis = result.output.splitlines()[-3]
    assert axis.split()[:3] == ["0s", "1m", "2m"]
    assert all(len(line) <= 90 for line in result.output.splitlines())
    assert "\x1b[" not in result.output


def test_a_failed_step_is_marked_on_its_bar_and_its_duration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(tmp_path, synthetic(b_fails=True))
    rows, _ = chart_rows(invoke("--width", "80").output)
    b_line = rows[1][2]
    assert b_line.rstrip().endswith("1m00s failed") and "✗" in b_line


def test_a_timeline_like_the_sample_dry_run(tmp_path, monkeypatch):
    """The structure of a real dry run, from before step_create_finished and recorded dependencies."""
    monkeypatch.chdir(tmp_path)
    save(tmp_path, sample_like())
    result = invoke("--width", "170")  # room for the longest label
    assert result.exit_code == 0, result.output
    rows, _ = chart_rows(result.output)
    assert [label for label, _, _ in rows] == [
        "cloud9",
        "redis",
        "table",
        "ingress",
        "ping",
        "demo",
        "delete ingress-rule sgr-1",
        "delete dynamodb-table reviews",
        "delete cache-cluster ops-lab",
        "delete cloud9-environment env1",
        "delete iam-role AWSCloud9SSMAccessRole",
    ]
    assert [line.split()[-1] for _, _, line in rows] == [
        "2m34s",
        "7m04s",
        "10s",
        "0s",
        "5s",
        "0s",
        "0s",
        "5s",
        "5m04s",
        "1m04s",
        "0s",
    ]
    header = result.output.splitlines()[:2]
    assert "elasticache-lab  run rxz8jniq  (simulated time)  total 12m13s" in header[0]
    assert "critical path 7m04s (redis; dependencies not recorded" in header[1]
    redis_wait = [p for p in phases(sample_like()) if p["step"] == "redis" and p["phase"] == "wait"][0]
    assert redis_wait["start"] == 0 and redis_wait["polls"][-1] == (424.0, "available")


def sample_like():
    """A trimmed copy of a dry run's timeline (fewer polls and resources, same event shapes)."""
    w = "step_waiting"
    events = [
        ev(
            0.0,
            "run_started",
            action="running",
            lab="elasticache-lab",
            run_id="rxz8jniq",
            region="us-east-1",
            dry_run=True,
            playbook="lab.yaml",
        ),
        ev(0.0, "step_started", step="cloud9", type="cloud9.environment"),
        ev(0.0, "step_started", step="redis", type="elasticache.cluster"),
        ev(0.0, "step_started", step="table", type="dynamodb.table"),
        ev(0.0, "step_created", step="table", kind="dynamodb-table", id="reviews", ours=True, verb="created"),
        ev(0.0, "step_created", step="cloud9", kind="iam-role", id="AWSCloud9SSMAccessRole", ours=True, verb="created"),
        ev(0.0, w, step="table", what="table reviews", status="CREATING", elapsed=0.0),
        ev(0.0, "step_created", step="redis", kind="cache-cluster", id="ops-lab", ours=True, verb="created"),
        ev(0.0, w, step="redis", what="cluster ops-lab", status="creating", elapsed=0.0),
        ev(0.0, w, step="cloud9", what="environment env1", status="creating", elapsed=0.0),
        ev(0.0, "step_started", step="ingress", type="ec2.ingress"),
        ev(0.0, "step_created", step="ingress", kind="ingress-rule", id="sgr-1", ours=True, verb="created"),
        ev(0.0, "step_finished", step="ingress", elapsed=0.0, outputs={"rule_id": "sgr-1"}),
        ev(10.0, w, step="table", what="table reviews", status="ACTIVE", elapsed=10.0),
        ev(10.0, "step_output", step="table", text="loaded 28 seed items into reviews"),
        ev(10.0, "step_finished", step="table", elapsed=10.0, outputs={}),
        ev(100.0, w, step="redis", what="cluster ops-lab", status="creating", elapsed=100.0),
        ev(153.75, w, step="cloud9", what="environment env1", status="ready", elapsed=153.8),
        ev(153.75, "step_finished", step="cloud9", elapsed=153.8, outputs={}),
        ev(424.0, w, step="redis", what="cluster ops-lab", status="available", elapsed=424.0),
        ev(424.0, "step_finished", step="redis", elapsed=424.0, outputs={}),
        ev(424.0, "step_started", step="ping", type="redis.ping"),
        ev(424.0, w, step="ping", what="PING", status="pending", elapsed=0.0),
        ev(429.0, w, step="ping", what="PING", status="Success", elapsed=5.0),
        ev(429.0, "step_finished", step="ping", elapsed=5.0, outputs={"reply": "+PONG"}),
        ev(429.0, "step_started", step="demo", type="demo.cache_aside"),
        ev(429.0, "step_output", step="demo", text="Using uncached result!"),
        ev(429.0, "step_finished", step="demo", elapsed=0.0, outputs={}),
        ev(429.0, "teardown_started", count=5),
        ev(429.0, "resource_deleting", step="ingress", kind="ingress-rule", id="sgr-1"),
        ev(429.0, "resource_deleting", step="table", kind="dynamodb-table", id="reviews"),
        ev(429.0, "resource_deleted", step="ingress", kind="ingress-rule", id="sgr-1", elapsed=0.0),
        ev(429.0, "resource_deleting", step="redis", kind="cache-cluster", id="ops-lab"),
        ev(429.0, "resource_deleting", step="cloud9", kind="cloud9-environment", id="env1"),
        ev(429.0, w, step="redis", what="cluster ops-lab deletion", status="deleting", elapsed=0.0),
        ev(434.0, w, step="table", what="table reviews deletion", status="ResourceNotFoundException", elapsed=5.0),
        ev(434.0, "resource_deleted", step="table", kind="dynamodb-table", id="reviews", elapsed=5.0),
        ev(493.0, w, step="cloud9", what="environment env1 deletion", status="gone", elapsed=64.0),
        ev(493.0, "resource_deleted", step="cloud9", kind="cloud9-environment", id="env1", elapsed=64.0),
        ev(493.0, "resource_deleting", step="cloud9", kind="iam-role", id="AWSCloud9SSMAccessRole"),
        ev(493.0, "resource_deleted", step="cloud9", kind="iam-role", id="AWSCloud9SSMAccessRole", elapsed=0.0),
        ev(732.75, w, step="redis", what="cluster ops-lab deletion", status="CacheClusterNotFound", elapsed=303.8),
        ev(732.75, "resource_deleted", step="redis", kind="cache-cluster", id="ops-lab", elapsed=303.8),
        ev(
            732.75,
            "run_finished",
            result="lab completed and torn down",
            elapsed=732.75,
            simulated=True,
            left=[],
            checked_account=True,
            teardown_command=None,
        ),
    ]
    return {
        "version": 1,
        "lab": "elasticache-lab",
        "run_id": "rxz8jniq",
        "simulated": True,
        "started_at": "2026-11-27T09:21:13Z",
        "events": events,
    }


# --- choosing the run ----------------------------------------------------------------------------


def test_run_is_chosen_by_lab_by_run_id_or_else_the_newest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(tmp_path, synthetic(lab="alpha", run_id="r-old"), mtime=1_000_000)
    save(tmp_path, synthetic(lab="beta", run_id="r-new"), mtime=2_000_000)
    assert invoke().output.startswith("beta  run r-new")
    assert invoke("alpha").output.startswith("alpha  run r-old")
    assert invoke("r-old").output.startswith("alpha  run r-old")


def test_dry_run_and_real_select_the_kind_of_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(tmp_path, synthetic(run_id="real-one"), dry_run=False, mtime=1_000_000)
    save(tmp_path, synthetic(run_id="rehearsal"), dry_run=True, mtime=2_000_000)
    assert "run rehearsal" in invoke("lab").output
    assert "run real-one" in invoke("lab", "--real").output
    assert "run rehearsal" in invoke("lab", "--dry-run").output


def test_no_timeline_is_bad_input_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke_through_ops()
    assert result.exit_code == 2
    assert "no timeline of any run" in result.stderr and "ops run PLAYBOOK --dry-run" in result.stderr
    save(tmp_path, synthetic(lab="alpha"))
    result = invoke_through_ops("gamma")
    assert result.exit_code == 2 and "for 'gamma'" in result.stderr


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"events": "nope"}), json.dumps({"events": [{"event": "step_started"}]})]
)
def test_a_malformed_timeline_is_bad_input_naming_the_file(tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    path = save(tmp_path, synthetic(lab="broken"))
    path.write_text(content)
    result = invoke_through_ops("broken")
    assert result.exit_code == 2
    assert str(path) in result.stderr


# --- HTML ----------------------------------------------------------------------------------------


def test_html_is_a_self_contained_page_with_a_rect_per_phase_and_escaped_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    timeline = synthetic(a="<x&y>", dependencies={"b": ["<x&y>"]})
    save(tmp_path, timeline)
    out = tmp_path / "report.html"
    result = invoke("--html", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    text = out.read_text(encoding="utf-8")
    page = ET.fromstring(text)  # well-formed, so every string from the file was escaped
    assert page.find(".//svg") is not None
    rects = page.findall(".//rect")
    assert len(rects) == len(phases(timeline)) == 6
    assert "http://" not in text and "https://" not in text and "<script" not in text and "@import" not in text
    assert "<x&y>" not in text and "&lt;x&amp;y&gt;" in text
    assert "<x&y>" in [label.find("title").text for label in page.iter("text") if label.find("title") is not None]
    wait = next(rect.find("title").text for rect in rects if rect.get("class") == "wait")
    assert wait.startswith("<x&y>: wait") and "1m00s → 4m00s" in wait and "creating ×2, ready" in wait
    assert len(page.findall(".//line[@class='grid']")) >= 3
    assert "5m00s: <x&y> → b" in "".join(page.itertext())


# --- no AWS libraries ----------------------------------------------------------------------------


def test_report_imports_no_aws_or_redis_libraries():
    code = (
        "import sys, ops.commands.report, ops.commands.report_html; "
        "print([m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto', 'redis')])"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_steps_starting_together_are_charted_in_the_playbooks_order_whatever_order_their_threads_wrote(
    tmp_path, monkeypatch
):
    # a dry run starts independent steps at one simulated moment, each in its own thread
    order = {"cloud9": [], "redis": [], "table": []}
    charts = []
    for written in (["redis", "table", "cloud9"], ["table", "cloud9", "redis"]):
        timeline = steps_timeline({step: (0, 60) for step in written}, dependencies=order)
        save(tmp_path, {**timeline, "run_id": "r-" + written[0]})
        monkeypatch.chdir(tmp_path)
        result = invoke("r-" + written[0], "--width", "100")
        assert result.exit_code == 0, result.output
        charts.append([label for label, _, _ in chart_rows(result.output)[0]])
    assert charts == [["cloud9", "redis", "table"]] * 2
