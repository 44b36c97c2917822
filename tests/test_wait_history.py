"""Expectations that learn (ops/engine/wait_history.py): every run's waits teach the next run
of this folder (or of a team, with records in S3) when to poll; config still wins; a history
that cannot be read or written never fails a run; `ops report --waits` shows what was learned.

The runs are dry runs, on the simulator's virtual clock: a cluster that takes 150 s of
simulated time costs a few seconds of wall time.
"""

import io
import json
import stat

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.engine.records import S3Records, parse_location
from ops.engine.target import open_target
from ops.engine.wait_history import LocalHistory, SharedHistory, WaitHistory
from ops.paths import sim_home

STATE = "s3://team-ops-state/labs"
SIZE = "cache.t3.micro redis cluster"
CLUSTER_LAB = """\
name: cache-lab
steps:
  - name: redis
    type: elasticache.cluster
    with:
      cluster_id: c-${{ run.id }}
"""
# ElastiCache much faster than the built-in expectation (7 minutes)
FAST_CACHE = """\
simulator:
  durations:
    elasticache.create: 150s
    elasticache.delete: 30s
"""
TABLE_LAB = """\
name: table-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: t-${{ run.id }}
"""
# a table much slower than the built-in expectation (8 s)
SLOW_TABLE = """\
simulator:
  durations:
    dynamodb.create: 100s
    dynamodb.delete: 2s
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def dry_run(workdir, lab, config, *extra):
    """`ops run LAB --dry-run --config CONFIG ...` with JSON events: (exit code, events)."""
    (workdir / "lab.yaml").write_text(lab)
    (workdir / "timings.yaml").write_text(config)
    result = invoke("run", "lab.yaml", "--dry-run", "--config", "timings.yaml", "--output", "json", *extra)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, events


def polls(events, noun):
    """The elapsed time and status of each poll of the creation wait of a `noun` (cluster, table)."""
    return [
        (e["elapsed"], e["status"])
        for e in events
        if e["event"] == "step_waiting" and e["what"].startswith(noun) and "delet" not in e["what"]
    ]


def notes(events):
    return [e["text"] for e in events if e["event"] == "note"]


def learned(workdir, *extra):
    result = invoke("report", "--waits", "--dry-run", "--output", "json", *extra)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return document, {(row["wait"], row["size"]): row for row in document["waits"]}


def test_a_second_run_expects_what_the_first_took_and_notices_readiness_sooner(workdir):
    code, first = dry_run(workdir, CLUSTER_LAB, FAST_CACHE, "--ttl", "none")  # no switch: only the cluster's waits
    assert code == 0
    seen = polls(first, "cluster")
    ready_at = next(t for t, status in seen if status == "available")
    assert 150 <= ready_at <= 165  # ready at 150 s: seen within 10 %, whatever was expected (420 s)
    assert all(t != 420.0 for t, _ in seen)

    document, rows = learned(workdir)
    assert document["simulated"] is True and document["history"].endswith(".ops/dry-run/waits.json")
    cluster = rows[("elasticache.create", SIZE)]
    # midway between the last look that found it creating and the first that found it ready
    sample = (max(t for t, status in seen if status == "creating") + ready_at) / 2
    assert cluster["samples"] == [pytest.approx(sample, abs=0.05)]
    assert (cluster["median"], cluster["default"], cluster["in_use"], cluster["source"]) == (
        cluster["samples"][0],
        420.0,
        cluster["samples"][0],
        "learned",
    )
    # the teardown found the cluster deletable at its first look: that teaches nothing
    assert set(rows) == {("elasticache.create", SIZE), ("elasticache.delete", "")}

    code, second = dry_run(workdir, CLUSTER_LAB, FAST_CACHE, "--ttl", "none")
    assert code == 0
    seen = polls(second, "cluster")
    assert any(t == pytest.approx(sample, abs=0.1) for t, _ in seen)  # one look at the learned time
    ready_at = next(t for t, status in seen if status == "available")
    assert 150 <= ready_at <= 155  # then every 5 s just after it: at most 5 s late
    _, rows = learned(workdir)
    assert len(rows[("elasticache.create", SIZE)]["samples"]) == 2


def test_a_configured_expectation_wins_over_the_learned_one(workdir):
    code, _ = dry_run(workdir, CLUSTER_LAB, FAST_CACHE)
    assert code == 0
    _, rows = learned(workdir)
    (sample,) = rows[("elasticache.create", SIZE)]["samples"]
    code, configured = dry_run(workdir, CLUSTER_LAB, FAST_CACHE + "expected:\n  elasticache.create: 10m\n")
    assert code == 0
    assert all(t != pytest.approx(sample, abs=0.1) for t, _ in polls(configured, "cluster"))  # no look at it
    (workdir / "mine.yaml").write_text("expected:\n  elasticache.create: 10m\n")
    _, rows = learned(workdir, "--config", "mine.yaml")
    assert (rows[("elasticache.create", SIZE)]["in_use"], rows[("elasticache.create", SIZE)]["source"]) == (
        600.0,
        "config",
    )
    assert rows[("elasticache.delete", "")]["source"] == "learned"  # the config names only the creation
    text = invoke("report", "--waits", "--dry-run", "--config", "mine.yaml").output
    assert "10m00s (config)" in text and "7m00s" in text  # in use, and the built-in default beside it


def test_the_history_file_is_owner_only_and_real_runs_keep_their_own(workdir):
    code, _ = dry_run(workdir, TABLE_LAB, SLOW_TABLE)
    assert code == 0
    history = workdir / ".ops" / "dry-run" / "waits.json"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    assert not (workdir / ".ops" / "waits.json").exists()  # simulated seconds never teach a real run
    real = invoke("report", "--waits")
    assert real.exit_code == 0
    assert real.output.startswith("ops: no waits learned yet from real runs in ")


def test_a_corrupt_history_is_ignored_with_a_note_and_replaced(workdir):
    history = workdir / ".ops" / "dry-run" / "waits.json"
    history.parent.mkdir(parents=True)
    history.write_text('{"version": 1, "waits": [{"region": "us-east-1", "wait": "dynamodb.create", "size": ')
    refused = invoke("report", "--waits", "--dry-run")
    assert refused.exit_code == 2 and "is unreadable (not JSON" in refused.output and str(history) in refused.output

    code, events = dry_run(workdir, TABLE_LAB, SLOW_TABLE)
    assert code == 0
    assert any(f"the wait history {history} could not be read" in text for text in notes(events))
    _, rows = learned(workdir)
    assert len(rows[("dynamodb.create", "")]["samples"]) == 1  # this run's, in a file that reads again


@pytest.mark.parametrize(
    "entry, why",
    [
        ({"region": "us-east-1", "wait": "x", "size": "\x1b[2J", "seconds": [1]}, "without a region, wait and size"),
        ({"region": "us-east-1", "wait": "x", "size": "", "seconds": [0]}, "more than 0 s, up to a day"),
        ({"region": "us-east-1", "wait": "x", "size": "", "seconds": [1e9]}, "more than 0 s, up to a day"),
        ({"region": "us-east-1", "wait": "x", "size": "", "seconds": ["5m"]}, "more than 0 s, up to a day"),
        ({"region": "us-east-1", "wait": "x", "seconds": [1]}, "without a region, wait and size"),
    ],
)
def test_a_history_ops_would_not_write_is_refused_by_the_report(workdir, entry, why):
    history = workdir / ".ops" / "dry-run" / "waits.json"
    history.parent.mkdir(parents=True)
    history.write_text(json.dumps({"version": 1, "waits": [entry]}))
    refused = invoke("report", "--waits", "--dry-run")
    assert refused.exit_code == 2 and why in refused.output
    assert "\x1b" not in refused.output  # shown escaped, never sent to the terminal


def test_a_history_that_cannot_be_written_never_fails_the_run(workdir):
    history = workdir / ".ops" / "dry-run" / "waits.json"
    history.mkdir(parents=True)  # a folder where the file should be: unreadable and unwritable
    code, events = dry_run(workdir, TABLE_LAB, SLOW_TABLE)
    assert code == 0
    said = notes(events)
    assert any("could not be read" in text for text in said)
    assert any(f"this run's wait times could not be added to {history}" in text for text in said)
    assert next(e for e in events if e["event"] == "run_finished")["result"] == "lab completed and torn down"


def test_labs_run_at_once_all_add_their_samples(workdir):
    code, events = dry_run(workdir, TABLE_LAB, SLOW_TABLE, "--count", "3")
    assert code == 0
    _, rows = learned(workdir)
    samples = rows[("dynamodb.create", "")]["samples"]
    assert len(samples) == 3 and all(85 <= s <= 115 for s in samples)  # ready at 100 s, to half a poll interval


def test_histories_opened_at_once_keep_each_others_samples(workdir):
    """Two commands that read the file at their start: each save merges into the file as it
    is then (under its lock), so the one that saves last does not drop the other's samples."""
    key = ("us-east-1", "dynamodb.create", "")
    one = WaitHistory([LocalHistory(workdir, dry_run=True)], note=print)
    other = WaitHistory([LocalHistory(workdir, dry_run=True)], note=print)
    one.add(*key, 10.0)
    other.add(*key, 20.0)
    one.save()
    other.save()
    assert LocalHistory(workdir, dry_run=True).read() == {key: [10.0, 20.0]}


def test_a_team_shares_its_history_in_s3_and_racing_writers_lose_nothing(workdir):
    prefix = "labs/_waits.json"
    code, first = dry_run(workdir, TABLE_LAB, SLOW_TABLE, "--state", STATE, "--keep")  # the account stays
    assert code == 0
    assert polls(first, "table")[1][0] == 5.0  # the built-in 8 s: dense polls from the start
    with open_target(True, "us-east-1", None, {"home": sim_home(workdir)}) as aws:
        shared = SharedHistory(S3Records(parse_location(STATE), aws))
        assert shared.where() == f"s3://team-ops-state/{prefix}"
        (sample,) = shared.read()[("us-east-1", "dynamodb.create", "")]
        assert 85 <= sample <= 115
    (workdir / ".ops" / "dry-run" / "waits.json").unlink()  # another machine, as far as this folder goes

    code, second = dry_run(workdir, TABLE_LAB, SLOW_TABLE, "--state", STATE, "--names", "b")
    assert code == 0
    # the team's history, read from S3: one look at the time it learned
    assert any(t == pytest.approx(sample, abs=0.1) for t, _ in polls(second, "table"))
    _, rows = learned(workdir, "--state", STATE)
    assert len(rows[("dynamodb.create", "")]["samples"]) == 2
    status = invoke("status", "--dry-run", "--state", STATE)
    assert status.exit_code == 0 and "_waits" not in status.output  # beside the records, not one of them

    with open_target(True, "us-east-1", None, {"home": sim_home(workdir)}) as aws:
        records = S3Records(parse_location(STATE), aws)
        racing = SharedHistory(records)
        put = records.put

        def another_writer_first(key, body, condition, doing):
            records.put = put  # once
            rival = WaitHistory([SharedHistory(S3Records(parse_location(STATE), aws))], note=print)
            rival.add("eu-west-1", "ec2.running", "t3.micro", 30.0)
            rival.save()
            return put(key, body, condition, doing)  # refused: the object changed since it was read

        records.put = another_writer_first
        mine = WaitHistory([racing], note=print)
        mine.add("eu-west-1", "ec2.running", "t3.micro", 40.0)
        mine.save()
        assert racing.read()[("eu-west-1", "ec2.running", "t3.micro")] == [30.0, 40.0]
        assert len(racing.read()[("us-east-1", "dynamodb.create", "")]) == 2
    assert invoke("teardown", "table-lab", "--dry-run", "--state", STATE).exit_code == 0


def test_report_waits_takes_no_run_html_or_width(workdir):
    for extra in (["some-lab"], ["--html", "x.html"], ["--width", "80"]):
        result = invoke("report", "--waits", *extra)
        assert result.exit_code == 2 and "--waits shows every learned wait as one table" in result.output


def test_only_a_wait_that_saw_its_resource_get_ready_teaches(aws, tmp_path):
    """A sample is the midpoint of the last two looks; a wait over at its first look (the
    resource was ready before) and a wait of a step that resumed an earlier run's work
    (it saw only the rest of a creation) add none."""
    from ops.commands.config import load_settings
    from ops.engine.context import StepContext
    from ops.engine.state import RunState
    from ops.output import Reporter
    from ops.waiting import RETRY, SUCCESS

    state = RunState.start(tmp_path / "lab.json", "lab", "lab.yaml", aws.region, dry_run=True)
    history = WaitHistory([LocalHistory(tmp_path, dry_run=True)], note=print)
    settings = load_settings(())[0]  # dynamodb.create: 8 s expected, so the second look is 5 s in

    def wait(answers, resumed=False):
        ctx = StepContext(
            aws=aws,
            clock=aws.clock,
            state=state,
            reporter=Reporter("json", io.StringIO(), aws.clock),
            settings=settings,
            lab="lab",
            step="table",
            step_type="dynamodb.table",
            timeout=600,
            waits=history,
        )
        if resumed:
            ctx.created(ctx.intend("dynamodb-table", "t"), verb="resumed")
        looks = iter(answers)
        ctx.wait("table t", lambda: next(looks), "dynamodb.create")

    wait([(RETRY, "CREATING"), (SUCCESS, "ACTIVE")])
    wait([(SUCCESS, "ACTIVE")])
    wait([(RETRY, "CREATING"), (SUCCESS, "ACTIVE")], resumed=True)
    history.save()
    assert LocalHistory(tmp_path, dry_run=True).read() == {(aws.region, "dynamodb.create", ""): [2.5]}
