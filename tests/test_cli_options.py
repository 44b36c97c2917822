"""Options where users expect them: --output and --debug on every command, a usage error that
says what `-dry-run` meant, shell completion and --version."""

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ops.cli import cli

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")


def leaf_commands(group=cli, path=()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaf_commands(command, path + (name,))
        else:
            yield path + (name,)


COMMANDS = list(leaf_commands())


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), prog_name="ops", **kwargs)


def test_the_walk_finds_every_command():
    assert {" ".join(c) for c in COMMANDS} >= {
        "run",
        "teardown",
        "plan",
        "validate",
        "status",
        "sweep",
        "doctor",
        "iam-policy",
        "steps",
        "schema",
        "report",
        "unlock",
        "state push",
        "state pull",
        "demo cache-aside",
        "sim reset",
    }


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_takes_output_and_debug(command):
    accepted = invoke(*command, "--output", "json", "--debug", "--help")
    assert accepted.exit_code == 0, accepted.output
    assert "--output [text|json]" in accepted.output and "--debug" in accepted.output
    refused = invoke(*command, "--output", "yaml")
    assert refused.exit_code == 2
    assert "'yaml' is not one of 'text', 'json'" in refused.output, refused.output


def test_steps_prints_the_step_types_as_json():
    listed = json.loads(invoke("steps", "--output", "json").output)
    assert "elasticache.cluster" in {t["type"] for t in listed}
    one = json.loads(invoke("steps", "elasticache.cluster", "--output", "json").output)
    params = {p["name"]: p for p in one["parameters"]}
    assert params["cluster_id"]["required"] is True and "default" not in params["cluster_id"]
    assert params["node_type"]["default"] == "cache.t3.micro"
    assert {"name": "cluster_id", "doc": "the cluster id", "early": True} in one["outputs"]
    assert one["example"].startswith("- name: redis")


def test_an_unknown_step_type_is_a_json_error_event_too():
    result = invoke("steps", "elasticache.clusterr", "--output", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["event"] == "error" and "unknown step type 'elasticache.clusterr'" in error["message"]


def test_report_as_json_and_with_debug(workdir):
    missing = invoke("report", "--debug")
    assert missing.exit_code == 2
    assert "Traceback" in missing.output and "ops: error: no timeline of any run" in missing.output
    quiet = invoke("report")
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output

    folder = workdir / ".ops" / "dry-run" / "runs" / "lab"
    folder.mkdir(parents=True)
    events = [
        {"t": 0, "event": "run_started", "lab": "lab", "run_id": "r1"},
        {"t": 0, "event": "step_started", "step": "a", "type": "t.a"},
        {"t": 30, "event": "step_finished", "step": "a", "elapsed": 30.0},
        {"t": 30, "event": "run_finished", "result": "done", "elapsed": 30.0, "simulated": True},
    ]
    (folder / "r1.json").write_text(json.dumps({"lab": "lab", "run_id": "r1", "simulated": True, "events": events}))
    document = json.loads(invoke("report", "--output", "json").output)
    assert (document["lab"], document["run_id"], document["total"], document["critical_steps"]) == (
        "lab",
        "r1",
        30.0,
        ["a"],
    )
    assert [(row["label"], row["start"], row["end"]) for row in document["rows"]] == [("a", 0, 30)]


def test_one_line_results_are_json_notes(workdir):
    reset = invoke("sim", "reset", "--output", "json")
    assert json.loads(reset.output) == {
        "event": "note",
        "text": "ops: the simulated account and its dry-run records are gone.",
    }
    written = invoke("schema", "--write", "schema.json", "--output", "json")
    assert json.loads(written.output)["text"] == "ops: schema written to schema.json"
    assert json.loads((workdir / "schema.json").read_text())["type"] == "object"


@pytest.mark.parametrize("typed, meant", [("-dry-run", "--dry-run"), ("-keep", "--keep"), ("-output", "--output")])
def test_a_long_option_with_one_dash_is_answered_with_what_was_meant(typed, meant):
    result = invoke("run", LAB, typed)
    assert result.exit_code == 2
    assert result.output == (
        f"ops: error: '{typed}' is not an option: long options take two dashes. "
        f"Did you mean '{meant}'? See 'ops run --help'.\n"
    )


def test_a_single_dash_word_that_is_no_option_at_all():
    result = invoke("status", "-everything")
    assert result.exit_code == 2
    assert (
        "'-everything' is not an option: long options take two dashes, and '--everything' is not one "
        "either." in result.output
    )


def test_an_unknown_short_option_keeps_clicks_message():
    result = invoke("status", "-z")
    assert result.exit_code == 2 and "No such option '-z'" in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output == f"ops, version {version('ops-lab')}\n"


def complete(words: str):
    env = {
        "_OPS_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="ops")
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.output.splitlines()]


def test_completion_of_commands_options_and_choices():
    assert complete("ops pl") == ["plan"]
    assert complete("ops state ") == ["pull", "push"]
    assert complete("ops status --out") == ["--output"]
    assert complete("ops steps --output ") == ["text", "json"]


def test_the_bash_completion_script_completes_in_bash():
    """The documented recipe, end to end: the script from the installed `ops`, sourced in bash."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    script = subprocess.run(
        ["ops"], env={**env, "_OPS_COMPLETE": "bash_source"}, capture_output=True, text=True, check=True
    ).stdout
    assert "complete -o nosort -F _ops_completion ops" in script
    shell = subprocess.run(
        [
            "bash",
            "--norc",
            "-c",
            script + '\nCOMP_WORDS=(ops sw); COMP_CWORD=1; _ops_completion ops; echo "${COMPREPLY[@]}"',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.stdout.split() == ["sweep"], shell.stderr
