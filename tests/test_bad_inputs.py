"""The bad-input suite: every broken playbook, config file and command line in
tests/bad_inputs/cases.yaml goes through the CLI, and must get

- exit code 2;
- one paragraph: a single non-empty line, starting "ops: error:", naming the file and, where
  the problem has one, the line (`file.yaml:N:`), with the case's expected phrases (hints too);
- no traceback;
- no AWS call (botocore's _make_api_call and Endpoint.make_request are patched to record and
  refuse), and no .ops/ folder in the working directory.

A case with `gap:` is what a user would expect but ops does not do yet: it is an
xfail(strict=True), so fixing the core turns it into an XPASS that fails until the `gap:`
line is removed. With --output json, the paragraph is on stderr and stdout holds one JSON
error event. The `good:` cases are odd-looking inputs that must be accepted.
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ops.cli import cli

HERE = Path(__file__).resolve().parent / "bad_inputs"
FIXTURES = HERE / "fixtures"
CASES_FILES = sorted(HERE.glob("cases*.yaml"))  # cases.yaml, plus cases-TOPIC.yaml by topic
DEFAULT_ARGS = ["validate", "lab.yaml"]
MAX_BYTES = 1_000_000  # ops' documented limit for playbooks and configs


def _load_cases():
    bad, good = [], []
    for path in CASES_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        bad += doc.get("cases") or []
        good += doc.get("good") or []
    return bad, good


BAD, GOOD = _load_cases()


def _params(cases):
    params = []
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, reason=case["gap"])] if case.get("gap") else []
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


# --- writing the case's files ------------------------------------------------------------------


def _binary_bytes() -> bytes:
    # deterministic "random" bytes with NULs, like an image or an archive saved as .yaml
    return bytes((i * 131 + 7) % 256 for i in range(4096))


def _huge_bytes() -> bytes:
    # a valid playbook padded with comments to just over the limit: only its size is wrong
    head = (FIXTURES / "good.yaml").read_bytes()
    filler = b"# " + b"padding " * 12 + b"\n"
    return head + filler * ((MAX_BYTES - len(head)) // len(filler) + 10)


def _deep_text(opener: str, depth: int) -> str:
    # nested `depth` levels: flow sequences ([[[...), flow mappings ({a: {a: ...) or block mappings
    if opener == "[":
        return "name: lab\nsteps: " + "[" * depth + "]" * depth + "\n"
    if opener == "{":
        return "name: lab\nsteps: " + "{a: " * depth + "x" + "}" * depth + "\n"
    return "name: lab\nsteps:\n" + "".join(" " * level + "a:\n" for level in range(1, depth + 1))


def write_files(root: Path, files) -> None:
    for name, spec in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, str):
            path.write_bytes(spec.encode("utf-8"))
        elif "fixture" in spec:
            shutil.copyfile(FIXTURES / spec["fixture"], path)
        elif spec.get("directory"):
            path.mkdir()
        elif spec.get("generate") == "binary":
            path.write_bytes(_binary_bytes())
        elif spec.get("generate") == "huge":
            path.write_bytes(_huge_bytes())
        elif spec.get("generate") == "deep":
            path.write_text(_deep_text(spec["open"], spec["depth"]))
        elif spec.get("generate") == "long-value":
            path.write_text(f"name: lab\ndescription: {'x' * spec['chars']}\nsteps: []\n")
        elif spec.get("fifo"):
            os.mkfifo(path)
        elif "symlink" in spec:
            path.symlink_to(spec["symlink"])
        elif "encoding" in spec:
            path.write_bytes(spec["text"].encode(spec["encoding"]))
        elif spec.get("bom"):
            path.write_bytes(b"\xef\xbb\xbf" + spec["text"].encode("utf-8"))
        else:
            raise ValueError(f"unknown file spec for {name}: {spec!r}")


# --- no AWS call ---------------------------------------------------------------------------------


class AwsCallAttempted(Exception):
    """Raised by the patched botocore entry points, so a call never goes further."""


@pytest.fixture
def aws_calls(monkeypatch):
    """Every botocore API call / HTTP request attempted during the test, refused."""
    import botocore.client
    import botocore.endpoint

    calls = []

    def make_api_call(client, operation_name, api_params):
        calls.append(("api", client.meta.service_model.service_name, operation_name))
        raise AwsCallAttempted(f"AWS call attempted: {operation_name}")

    def make_request(endpoint, operation_model, request_dict):
        calls.append(("http", endpoint.host, operation_model.name))
        raise AwsCallAttempted(f"AWS request attempted: {operation_model.name}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", make_request)
    return calls


@pytest.fixture
def passthrough_aws_calls(monkeypatch):
    """Every botocore API call made during the test, recorded and let through (dry runs)."""
    import botocore.client

    calls = []
    real = botocore.client.BaseClient._make_api_call

    def make_api_call(client, operation_name, api_params):
        calls.append((client.meta.service_model.service_name, operation_name))
        return real(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return calls


class Outcome:
    """A CliRunner result with stdout, stderr and both (`output`), on any click >= 8.1."""

    def __init__(self, result, output: str, stdout: str, stderr: str):
        self.exit_code, self.exception = result.exit_code, result.exception
        self.output, self.stdout, self.stderr = output, stdout, stderr


def invoke(args) -> Outcome:
    args = [str(a) for a in args]
    try:
        runner = CliRunner(mix_stderr=False)  # click < 8.2: keep stderr apart
    except TypeError:
        runner = CliRunner()  # click >= 8.2: stderr is always kept apart, output has both interleaved
        result = runner.invoke(cli, args, prog_name="ops", catch_exceptions=True)
        return Outcome(result, result.output, result.stdout, result.stderr)
    result = runner.invoke(cli, args, prog_name="ops", catch_exceptions=True)
    return Outcome(result, result.stdout + result.stderr, result.stdout, result.stderr)


def describe(result) -> str:
    return f"exit {result.exit_code}, output:\n{result.output}" + (
        f"\nexception: {result.exception!r}"
        if result.exception and not isinstance(result.exception, SystemExit)
        else ""
    )


# --- the suite ------------------------------------------------------------------------------------


def test_the_suite_is_big_enough_and_well_formed():
    ids = [c["id"] for c in BAD + GOOD]
    assert len(BAD) >= 40
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in BAD:
        assert case.get("expect"), f"{case['id']}: every case names phrases the message must contain"
        if case.get("line"):
            assert case.get("at") or case.get("files"), case["id"]
    commands = {(c.get("args") or DEFAULT_ARGS)[0] for c in BAD}
    assert {"validate", "run"} <= commands
    real_runs = [c for c in BAD if (c.get("args") or [""])[0] == "run" and "--dry-run" not in c["args"]]
    dry_runs = [c for c in BAD if (c.get("args") or [""])[0] == "run" and "--dry-run" in c["args"]]
    assert len(real_runs) >= 3 and len(dry_runs) >= 3


def check_message(case, result, text: str) -> list:
    """What is wrong with the error text, for the case (empty: nothing)."""
    problems = []
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        problems.append(f"{len(lines)} non-empty lines, not one paragraph")
    if not text.startswith("ops: error: "):
        problems.append("the error does not start with 'ops: error: '")
    line = case.get("line")
    at = case.get("at") or (next(iter(case["files"])) if line else None)
    if at and line and f"{at}:{line}:" not in text:
        found = re.findall(r"[\w./-]+:\d+:", text)
        problems.append(f"does not give '{at}:{line}:' (found {found or 'no file:line'})")
    elif at and at not in text:
        problems.append(f"does not name the file '{at}'")
    for phrase in case["expect"]:
        if phrase not in text:
            problems.append(f"does not say {phrase!r}")
    return problems


def json_mode(args) -> bool:
    return any(a == "--output" and b == "json" for a, b in zip(args, args[1:]))


def check_json_event(result) -> list:
    """--output json: stdout is one JSON event for the error, for the machine reading it."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        events = [json.loads(line) for line in lines]
    except ValueError:
        return [f"stdout is not JSON lines: {result.stdout!r}"]
    if len(events) != 1 or events[0].get("event") != "error" or events[0].get("exit_code") != 2:
        return [f"stdout is not one {{'event': 'error', 'exit_code': 2, ...}} event: {events}"]
    return []


@pytest.mark.parametrize("case", _params(BAD))
def test_bad_input(case, workdir, aws_calls):
    write_files(workdir, case.get("files"))
    args = case.get("args") or DEFAULT_ARGS
    result = invoke(args)
    problems = []

    if result.exit_code != 2:
        problems.append(f"exit code {result.exit_code}, not 2")
    if "Traceback" in result.output or (result.exception and not isinstance(result.exception, SystemExit)):
        problems.append("a traceback / an uncaught exception")
    if json_mode(args):
        # the paragraph for people on stderr, one event for machines on stdout
        problems += check_message(case, result, result.stderr) + check_json_event(result)
    else:
        # stdout + stderr, as a terminal shows them: one paragraph
        problems += check_message(case, result, result.output)
    if aws_calls:
        problems.append(f"AWS calls were attempted: {aws_calls}")
    if (workdir / ".ops").exists():
        problems.append("a .ops/ folder was created")

    assert not problems, f"{case['id']}: " + "; ".join(problems) + "\n" + describe(result)


@pytest.mark.parametrize("case", _params(GOOD))
def test_odd_but_good_input(case, workdir, passthrough_aws_calls):
    write_files(workdir, case.get("files"))
    args = case.get("args") or DEFAULT_ARGS
    result = invoke(args)
    assert result.exit_code == 0, describe(result)
    assert "Traceback" not in result.output and "internal error" not in result.output, describe(result)
    for phrase in case["expect"]:
        assert phrase in result.output, describe(result)
    if "--dry-run" not in args:
        assert passthrough_aws_calls == [], "a check without --dry-run must not call AWS"
        assert not (workdir / ".ops").exists()


def test_huge_file_is_over_the_limit_and_only_that():
    data = _huge_bytes()
    assert len(data) > MAX_BYTES
    assert yaml.safe_load(data) == yaml.safe_load((FIXTURES / "good.yaml").read_bytes())


def test_fixtures_are_what_the_cases_say(workdir):
    """good.yaml is valid (so command-line cases fail for their flags alone); tabs.yaml has a tab."""
    shutil.copyfile(FIXTURES / "good.yaml", workdir / "lab.yaml")
    result = invoke(["validate", "lab.yaml"])
    assert result.exit_code == 0, describe(result)
    assert "\t" in (FIXTURES / "tabs.yaml").read_text().splitlines()[3]
