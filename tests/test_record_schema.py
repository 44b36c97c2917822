"""Records are checked when read (issue 12): a damaged or foreign record is bad input naming
its file or S3 key and what to do, a record from a newer ops is never torn down, and cyclic
dependencies are refused instead of hanging teardown."""

import copy
import json
import threading

import pytest

from ops.engine.state import RunState
from tests import test_bad_inputs
from tests.test_bad_inputs import invoke
from tests.test_remote_state import STATE, TABLE_LAB, simulated_s3

aws_calls = test_bad_inputs.aws_calls  # the fixture: every AWS call attempted, refused

GOOD = {
    "version": 1,
    "lab": "lab",
    "playbook": "lab.yaml",
    "region": "us-east-1",
    "dry_run": False,
    "run_id": "rabcdefg",
    "started_at": "2026-01-01T00:00:00Z",
    "serial": 3,
    "group": "lab",
    "dependencies": {"table": [], "second": ["table"]},
    "resources": [
        {
            "step": "table",
            "type": "dynamodb.table",
            "kind": "dynamodb-table",
            "id": "t1",
            "region": "us-east-1",
            "status": "created",
            "ours": True,
            "attrs": {},
        }
    ],
}


def broken(change):
    record = copy.deepcopy(GOOD)
    change(record)
    return record


def row(**fields):
    return lambda record: record["resources"][0].update(fields)


def without(key):
    return lambda record: record.pop(key)


def row_without(key):
    return lambda record: record["resources"][0].pop(key)


# name -> (the record, a phrase of the message)
MALFORMED = {
    "a-list": ([], "it is a list, not a JSON object"),
    "a-string": ("lab", "it is a string, not a JSON object"),
    "null": (None, "it is null"),
    "no-version": (broken(without("version")), "it has no 'version'"),
    "version-a-string": (broken(lambda r: r.update(version="1")), "'version' is '1'"),
    "version-zero": (broken(lambda r: r.update(version=0)), "'version' is 0"),
    "no-lab": (broken(without("lab")), "it has no 'lab'"),
    "lab-a-path": (broken(lambda r: r.update(lab="../../x")), "'lab' is '../../x', not a lab name"),
    "run-id-a-path": (broken(lambda r: r.update(run_id="../r")), "'run_id' is '../r', not a run id"),
    "region-a-command": (broken(lambda r: r.update(region="us-east-1; id")), "not an AWS region"),
    "no-resources": (broken(without("resources")), "it has no 'resources'"),
    "resources-a-mapping": (broken(lambda r: r.update(resources={})), "'resources' is a JSON object, not a list"),
    "row-a-string": (broken(lambda r: r.update(resources=["t1"])), "resources[0] is a string"),
    "row-without-id": (broken(row_without("id")), "resources[0] has no 'id'"),
    "row-id-a-number": (broken(row(id=5)), "'id' of resources[0] is 5"),
    "row-empty-kind": (broken(row(kind="")), "'kind' of resources[0] is ''"),
    "row-unknown-status": (broken(row(status="gone")), "'status' of resources[0] is 'gone', not one of intent"),
    "row-ours-a-string": (broken(row(ours="yes")), "'ours' of resources[0] is 'yes'"),
    "row-attrs-a-list": (broken(row(attrs=[])), "'attrs' of resources[0] is a list"),
    "expires-at-a-string": (broken(lambda r: r.update(expires_at="tomorrow")), "'expires_at' is 'tomorrow'"),
    "serial-true": (broken(lambda r: r.update(serial=True)), "'serial' is True"),
    "dependencies-a-list": (broken(lambda r: r.update(dependencies=[])), "'dependencies' is a list"),
    "dependencies-unknown-step": (
        broken(lambda r: r["dependencies"].update(second=["nope"])),
        "step 'second' depends on 'nope'",
    ),
    "dependency-cycle": (
        broken(lambda r: r["dependencies"].update(table=["second"])),
        "go round in a circle (table -> second -> table)",
    ),
}


def write_record(workdir, record, dry_run=False, lab="lab"):
    path = workdir / ".ops" / ("dry-run/state" if dry_run else "state") / f"{lab}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def assert_refused(result, *phrases):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("ops: error: "), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def within(seconds, action):
    """action(), failing (not hanging) if it takes longer than seconds."""
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=action()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds}s: it hangs"
    return outcome["result"]


def test_a_good_record_is_read_as_it_is(workdir):
    path = write_record(workdir, GOOD)
    state = RunState.load(path)
    assert state.data == GOOD and [r.id for r in state.live()] == ["t1"]


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_record_here_is_bad_input_naming_the_file(name, workdir, aws_calls):
    record, phrase = MALFORMED[name]
    path = write_record(workdir, record)
    result = within(60, lambda: invoke(["teardown", "lab"]))
    assert_refused(result, f"the record {path} cannot be used", phrase, "ops state pull", "ops sweep")
    assert aws_calls == []
    assert json.loads(path.read_text()) == record  # left as it was


@pytest.mark.parametrize(
    "command", [["status"], ["sweep", "--expired", "--yes"], ["teardown", "lab"], ["teardown", "other-lab"]]
)
def test_every_command_that_reads_records_checks_them(command, workdir, aws_calls):
    path = write_record(workdir, MALFORMED["row-without-id"][0])
    result = invoke(command)
    assert_refused(result, str(path), "resources[0] has no 'id'")
    assert aws_calls == []


def test_push_checks_the_record_it_moves_and_moves_nothing(workdir):
    path = write_record(workdir, MALFORMED["no-resources"][0], dry_run=True)
    result = invoke(["state", "push", "lab", "--dry-run", "--state", STATE])
    assert_refused(result, f"the record {path} cannot be used", "it has no 'resources'")
    assert path.exists()
    with simulated_s3(workdir) as aws:
        keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket="team-ops-state").get("Contents", [])]
    assert keys == []  # neither the record nor a lock left behind


@pytest.mark.parametrize("name", ["a-list", "row-without-id", "dependency-cycle"])
def test_a_malformed_record_in_s3_is_bad_input_naming_its_key(name, workdir):
    record, phrase = MALFORMED[name]
    key = "s3://team-ops-state/labs/lab.json"
    for command in (["status"], ["teardown", "lab"], ["state", "pull", "lab"]):
        with simulated_s3(workdir) as aws:
            s3 = aws.client("s3")
            s3.create_bucket(Bucket="team-ops-state")
            s3.put_object(Bucket="team-ops-state", Key="labs/lab.json", Body=json.dumps(record).encode())
        result = within(120, lambda argv=[*command, "--dry-run", "--state", STATE]: invoke(argv))
        assert_refused(result, f"the record {key} cannot be used", phrase)
        assert not (workdir / ".ops" / "dry-run" / "state" / "lab.json").exists()  # pull brought nothing here
        with simulated_s3(workdir) as aws:
            s3 = aws.client("s3")
            assert json.loads(s3.get_object(Bucket="team-ops-state", Key="labs/lab.json")["Body"].read()) == record
            assert "labs/lab.lock" not in [o["Key"] for o in s3.list_objects_v2(Bucket="team-ops-state")["Contents"]]


# --- a real lab's record, changed ------------------------------------------------------------


@pytest.fixture
def kept_lab(workdir):
    """A dry-run lab kept up (two DynamoDB tables), and its record."""
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    result = invoke(["run", "lab.yaml", "--dry-run", "--keep"])
    assert result.exit_code == 0, result.output
    return workdir / ".ops" / "dry-run" / "state" / "shared-lab.json"


def tables(workdir):
    with simulated_s3(workdir) as aws:
        return aws.client("dynamodb").list_tables()["TableNames"]


def test_a_record_from_a_newer_ops_is_never_torn_down(kept_lab, workdir):
    made = tables(workdir)
    assert len(made) == 2
    record = json.loads(kept_lab.read_text())
    kept_lab.write_text(json.dumps({**record, "version": 99}))
    for command in (
        ["teardown", "shared-lab"],
        ["teardown", "lab.yaml"],
        ["sweep", "--expired", "--yes"],
        ["status"],
        ["run", "lab.yaml"],
    ):
        result = invoke([*command, "--dry-run"])
        assert_refused(result, f"the record {kept_lab} was made by a newer ops (record format 99", "Upgrade ops")
        assert tables(workdir) == made  # nothing deleted, nothing made
        assert json.loads(kept_lab.read_text())["version"] == 99  # nor the record rewritten

    kept_lab.write_text(json.dumps(record))  # the same record as this ops wrote it: torn down
    result = invoke(["teardown", "shared-lab", "--dry-run"])
    assert result.exit_code == 0 and "teardown complete" in result.output, result.output


@pytest.mark.parametrize(
    "cycle",
    [{"table": ["second"], "second": ["table"]}, {"table": ["table"], "second": []}],
    ids=["two-steps", "a-step-on-itself"],
)
def test_cyclic_dependencies_are_refused_not_waited_on(cycle, kept_lab, workdir):
    record = json.loads(kept_lab.read_text())
    assert record["dependencies"] == {"table": [], "second": ["table"]}
    kept_lab.write_text(json.dumps({**record, "dependencies": cycle}))
    result = within(120, lambda: invoke(["teardown", "shared-lab", "--dry-run"]))
    assert_refused(result, str(kept_lab), "go round in a circle", "ops sweep --playbook shared-lab")
    assert len(tables(workdir)) == 2

    kept_lab.write_text(json.dumps(record))
    result = invoke(["teardown", "shared-lab", "--dry-run"])
    assert result.exit_code == 0 and "teardown complete" in result.output, result.output
    assert tables(workdir) == []
