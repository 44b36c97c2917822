"""Lab names outside playbooks (issue 12): every command that takes a lab refuses a name that is
not one before it touches a file or AWS, record file names and S3 keys become labs only when
they are lab names, a path built from a name stays in its folder, and the printed teardown
command is shell-quoted."""

import json
import shlex

import pytest

from ops.commands.lab import lab_names, teardown_command
from ops.engine.records import LocalRecords, Location, fallback_slot, parse_location
from ops.engine.state import RunState
from ops.errors import BadInput
from ops.names import is_lab_name
from tests import test_bad_inputs
from tests.test_bad_inputs import invoke
from tests.test_remote_state import STATE, TABLE_LAB, simulated_s3

aws_calls = test_bad_inputs.aws_calls  # the fixture: every AWS call attempted, refused

BAD_NAMES = {
    "dot-dot-slash": "../x",
    "slash": "a/b",
    "dot-dot": "..",
    "overlong": "a" * 300,
    "nul": "a\x00b",
    "newline": "lab\nx",
    "trailing-newline": "lab\n",
    "upper": "Lab",
}
NAMED_BY_LAB = [
    ["unlock", "{}", "--state", STATE],
    ["state", "push", "{}", "--state", STATE],
    ["state", "pull", "{}", "--state", STATE],
    ["sweep", "--playbook", "{}"],
    ["sweep", "--playbook", "{}", "--expired", "--state", STATE],
]


def _argv(template, name):
    return [name if part == "{}" else part for part in template]


def assert_refused(result, *phrases):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("ops: error: "), result.stderr
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


@pytest.fixture
def victim(tmp_path, monkeypatch):
    """A working directory whose .ops/ folders exist (so ../ paths would resolve), and a file
    beside it that a path escaping .ops/ would reach."""
    work = tmp_path / "work"
    for folder in (".ops/state", ".ops/dry-run/state"):
        (work / folder).mkdir(parents=True)
    monkeypatch.chdir(work)
    target = tmp_path / "victim.json"
    target.write_text('{"version": 1, "lab": "x", "resources": []}')
    return target


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_the_rule_covers_playbook_names_and_their_copies():
    longest = "a" * 30
    for name in lab_names(longest, None, ["b" * 12]) + lab_names("lab", 500, None) + ["elasticache-lab"]:
        assert is_lab_name(name), name
    for name in list(BAD_NAMES.values()) + [
        "",
        "-lab",
        "1lab",
        "a" * 31,
        "lab.json",
        "lab x",
        longest + "-" + "b" * 13,
        None,
        5,
    ]:
        assert not is_lab_name(name), name


@pytest.mark.parametrize("template", NAMED_BY_LAB, ids=lambda t: " ".join(t[:2]))
@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_commands_that_take_a_lab_refuse_what_is_not_a_lab_name(template, name, victim, aws_calls):
    before = files_under(victim.parent)
    result = invoke(_argv(template, name))
    assert_refused(result, "is not a lab name", "a lowercase letter, then up to 29")
    assert aws_calls == []
    assert victim.exists() and files_under(victim.parent) == before


@pytest.mark.parametrize("name", list(BAD_NAMES.values()) + ["VICTIM"], ids=list(BAD_NAMES) + ["absolute"])
def test_teardown_refuses_what_is_neither_a_playbook_file_nor_a_lab_name(name, victim, aws_calls):
    name = str(victim.with_suffix("")) if name == "VICTIM" else name  # an absolute path, not a file
    before = files_under(victim.parent)
    for extra in ([], ["--state", STATE], ["--dry-run"]):
        result = invoke(["teardown", name, *extra])
        assert_refused(result)
        assert any(phrase in result.stderr for phrase in ("is not a lab name", "not found", "is a directory"))
        assert aws_calls == []
        assert victim.exists() and files_under(victim.parent) == before


def test_push_and_pull_of_a_path_leave_files_outside_ops_alone(victim):
    """The attack as seen: a push deleted ../victim.json, a pull wrote outside .ops/ and chmodded above it."""
    mode = victim.parent.stat().st_mode
    for direction, name in (("push", "../../../../victim"), ("pull", "../../../../pulled")):
        result = invoke(["state", direction, name, "--dry-run", "--state", STATE])
        assert_refused(result, "is not a lab name")
    assert victim.exists() and not (victim.parent / "pulled.json").exists()
    assert victim.parent.stat().st_mode == mode
    assert not (victim.parent / "work" / ".ops" / "dry-run" / "account").exists()  # no simulated account either


def test_a_copy_name_is_a_lab_name_for_every_command(workdir):
    result = invoke(["teardown", "elasticache-lab-alice"])
    assert result.exit_code == 0 and "nothing to delete for lab 'elasticache-lab-alice'" in result.output


def test_record_files_here_must_be_named_for_their_lab(workdir):
    folder = workdir / ".ops" / "state"
    RunState.start(LocalRecords(workdir, False).slot("lab"), "lab", "lab.yaml", "us-east-1", dry_run=False)
    kept = fallback_slot(workdir, False, "lab", "rkept001")  # the record of a run kept apart is listed too
    assert kept.path == folder / "lab.json"  # nothing live in lab.json: its usual place
    (folder / "lab.rkept001.json").write_text((folder / "lab.json").read_text())
    assert [s.path.name for s in LocalRecords(workdir, False).slots()] == ["lab.json", "lab.rkept001.json"]
    (folder / "Evil Lab.json").write_text((folder / "lab.json").read_text())
    result = invoke(["status"])
    assert_refused(result, "'Evil Lab.json'", "is not named like a lab's record", str(folder / "Evil Lab.json"))
    result = invoke(["teardown", "lab"])
    assert_refused(result, "is not named like a lab's record")


def put_in_simulated_s3(workdir, *keys):
    """Objects in the dry runs' S3 (its account ends after each command that leaves no lab in it)."""
    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="team-ops-state")
        for key in keys:
            s3.put_object(Bucket="team-ops-state", Key=key, Body=b"{}")


def test_record_keys_in_s3_must_be_named_for_their_lab(workdir):
    put_in_simulated_s3(workdir, "labs/other/nested.json", "labs/lab.lock.txt")  # not records of the prefix
    result = invoke(["status", "--dry-run", "--state", STATE])
    assert result.exit_code == 0 and "no labs recorded in" in result.output, result.output
    for key in ("labs/..json", "labs/UPPER.json", "labs/a b.json", "labs/lab.rabcdefg.json"):
        commands = [["status"], ["sweep", "--expired"], ["teardown", "lab"]] if key == "labs/..json" else [["status"]]
        for command in commands:
            put_in_simulated_s3(workdir, key)
            result = invoke([*command, "--dry-run", "--state", STATE])
            assert_refused(result, f"s3://team-ops-state/{key}", "is not named like a lab's record")
        with simulated_s3(workdir) as aws:  # the account is kept while it holds what ops cannot read
            aws.client("s3").delete_object(Bucket="team-ops-state", Key=key)


def test_paths_and_keys_built_from_a_name_stay_in_their_folder(tmp_path):
    store = LocalRecords(tmp_path, dry_run=True)
    assert store.slot("lab-3").path == tmp_path / ".ops" / "dry-run" / "state" / "lab-3.json"
    location = parse_location("s3://team-ops-state/labs")
    assert location.key("lab-alice.json") == "labs/lab-alice.json" and location.key("lab.lock") == "labs/lab.lock"
    for name in BAD_NAMES.values():
        with pytest.raises(BadInput):
            store.slot(name)
        with pytest.raises(BadInput):
            location.key(f"{name}.json")
        with pytest.raises(BadInput):
            Location("team-ops-state", "").key(f"{name}.lock")
    assert not (tmp_path / ".ops").exists()


# --- the teardown command ops prints ---------------------------------------------------------

NASTY = 'my labs/$(touch pwned) `id`; it\'s "here"'


def test_teardown_command_is_quoted_for_a_shell():
    location = parse_location("s3://team-ops-state/labs")
    for values in (
        (f"{NASTY}/lab.yaml", "us-east-1", "dev; rm -rf ~"),
        ("lab.yaml", None, "it's $(whoami)"),
        ("-x lab.yaml", "eu-west-1", None),
    ):
        path, region, profile = values
        argv = [
            "ops",
            "teardown",
            path,
            *(["--region", region] if region else []),
            *(["--profile", profile] if profile else []),
            "--state",
            location.url,
            "--dry-run",
        ]
        assert shlex.split(teardown_command(path, True, region, profile, location)) == argv


def test_the_printed_teardown_command_gives_back_the_argv_in_text_and_json(workdir):
    folder = workdir / "my labs $(touch pwned)"
    folder.mkdir()
    playbook = folder / "it's a lab.yaml"
    playbook.write_text(TABLE_LAB)
    expected = ["ops", "teardown", str(playbook), "--region", "us-east-1", "--state", STATE, "--dry-run"]
    result = invoke(["run", playbook, "--dry-run", "--keep", "--region", "us-east-1", "--state", STATE])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "to delete them: " in line]
    assert shlex.split(line.split("to delete them: ", 1)[1]) == expected

    result = invoke(
        ["run", playbook, "--dry-run", "--keep", "--region", "us-east-1", "--state", STATE, "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    finished = [json.loads(line) for line in result.stdout.splitlines() if '"run_finished"' in line]
    assert [shlex.split(event["teardown_command"]) for event in finished] == [expected]

    result = invoke(shlex.split(finished[0]["teardown_command"])[1:])  # the command works as printed
    assert result.exit_code == 0 and "teardown complete" in result.output, result.output
    assert not (workdir / "pwned").exists() and not list(workdir.rglob("pwned"))
