"""Regenerate the parts of README.md and docs/ that the code itself prints.

    python docs/gen_docs.py            rewrite what is out of date
    python docs/gen_docs.py --check    say what is out of date, change nothing (exit 1 if anything is)

Three kinds of generated text:

- **Samples**: the output of real `ops` commands, run in a throwaway folder against the dry runs'
  simulated account (nothing leaves the machine), written between `<!-- sample:NAME -->` and
  `<!-- /sample -->` in any page. What changes from run to run (run ids, resource ids, loopback
  ports, latencies, wall-clock dates and ages) becomes a stable placeholder; long outputs are
  trimmed by a fixed rule per sample. Steps run concurrently, so lines printed at the same
  simulated instant (or rows listed in record order) may come out in another order next time:
  samples are compared with those lines sorted, and a sample that still matches is left as it
  was, so regenerating does not churn the committed text.
- **docs/reference/step-types.md**: every registered step type, as `ops steps TYPE` describes it.
- **docs/reference/cli.md**: every command and its options, from the click definitions.

tests/test_docs.py runs the same functions and fails when anything committed differs.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
STEP_TYPES_PAGE = DOCS / "reference" / "step-types.md"
CLI_PAGE = DOCS / "reference" / "cli.md"
REGENERATE = "python docs/gen_docs.py"
ELLIPSIS = "…"
S3_STATE = "s3://my-team-ops-state/labs"

SAMPLE_BLOCK = re.compile(r"(<!-- sample:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /sample -->)", re.S)


# --- running the commands ---------------------------------------------------------------------

# What each session runs, in order: {session: [(key, argv after `ops`)]}. The sessions are
# independent of each other (each runs in a folder, and against a simulated account, of its
# own), so the tests run them in parallel; within one, each command sees what the last left.
SESSIONS: Dict[str, List[Tuple[str, List[str]]]] = {
    "offline": [
        ("steps", ["steps"]),
        ("validate", ["validate", "playbooks/lab.yaml"]),
    ],
    "lab": [
        ("dry-run", ["run", "playbooks/lab.yaml", "--dry-run"]),
        ("report", ["report", "--width", "100"]),
        ("waits", ["report", "--waits", "--dry-run"]),
    ],
    "kept-lab": [
        ("plan", ["plan", "playbooks/lab.yaml", "--dry-run"]),
        ("keep", ["run", "playbooks/lab.yaml", "--dry-run", "--keep", "--ttl", "2h"]),
        ("exec-connect", ["exec", "elasticache-lab", "--dry-run", "--", "python3", "test_connection.py"]),
        ("exec-fetch", ["exec", "elasticache-lab", "--dry-run", "--", "python3", "fetch_restaurant_summary.py"]),
        ("status", ["status", "--dry-run"]),
        ("push", ["state", "push", "elasticache-lab", "--dry-run", "--state", S3_STATE]),
        ("status-s3", ["status", "--dry-run", "--state", S3_STATE]),
        ("pull", ["state", "pull", "elasticache-lab", "--dry-run", "--state", S3_STATE]),
        ("teardown", ["teardown", "playbooks/lab.yaml", "--dry-run"]),
        ("sim-reset", ["sim", "reset"]),
    ],
}


def _environment(home: Path) -> Dict[str, str]:
    """The user's environment without anything that could point at a real account or change
    output (a test's warm simulator servers, OPS_SIM_FORKSERVER, change only how fast)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPS_")) or k == "OPS_SIM_FORKSERVER"}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        PYTHONUNBUFFERED="1",
        COLUMNS="100",
        NO_COLOR="1",
    )
    return env


def run_sessions(names: Optional[List[str]] = None) -> Dict[str, Tuple[str, str]]:
    """Run the named sessions (all by default), each in a throwaway folder: {key: (command
    line, combined output)}."""
    outputs: Dict[str, Tuple[str, str]] = {}
    for name in names or list(SESSIONS):
        folder = Path(tempfile.mkdtemp(prefix=f"ops-docs-{name}-"))
        try:
            outputs.update(run_session(name, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return outputs


def cold_ops(argv: List[str], *, cwd: Path, env: Dict[str, str], stdout: Any, stderr: Any, stdin: Any) -> Any:
    """`python -m ops.cli ARGV` as a new process (subprocess.Popen); the tests pass a warm one."""
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *argv], cwd=cwd, env=env, stdout=stdout, stderr=stderr, stdin=stdin, text=True
    )


def run_session(name: str, folder: Path, start: Callable[..., Any] = cold_ops) -> Dict[str, Tuple[str, str]]:
    """Run every command of session `name` in `folder`: {key: (command line, combined output)}.
    start(argv, cwd=, env=, stdout=, stderr=, stdin=) starts one ops process (Popen-like)."""
    shutil.copytree(ROOT / "playbooks", folder / "playbooks")
    env = _environment(folder)
    outputs: Dict[str, Tuple[str, str]] = {}

    def ops(argv: List[str], output: Any) -> Tuple[int, str]:
        with start(
            argv, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ) as process:
            try:
                out, _ = process.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
        return process.returncode, out or ""

    try:
        for key, argv in SESSIONS[name]:
            code, out = ops(argv, subprocess.PIPE)
            if code != 0:
                raise RuntimeError(f"`ops {' '.join(argv)}` exited {code}:\n{out}")
            outputs[key] = (
                "$ ops " + " ".join(argv),
                out.replace(str(folder.resolve()), "$PWD").replace(str(folder), "$PWD"),
            )
    finally:
        if "sim-reset" not in outputs:  # never leave the simulated account's servers running
            ops(["sim", "reset"], subprocess.DEVNULL)
    return outputs


# --- normalising and trimming -----------------------------------------------------------------


def _same_width(pattern: str, placeholder: Callable[[re.Match], str], text: str) -> str:
    """Replace pattern, eating or adding spaces after it so the columns of a table stay aligned."""

    def one(m: re.Match) -> str:
        new, spaces = placeholder(m), m.group("pad")
        if len(spaces) < 2:  # not a table column: leave the spacing alone
            return new + spaces
        return new + " " * max(1, len(m.group(0)) - len(new))

    return re.sub(f"(?:{pattern})(?P<pad> *)", one, text)


def _right_aligned(pattern: str, placeholder: str, text: str) -> str:
    """Replace a right-aligned field, keeping its column: spaces before it are adjusted."""

    def one(m: re.Match) -> str:
        return " " * max(1, len(m.group(0)) - len(placeholder)) + placeholder

    return re.sub(f" +(?:{pattern})", one, text)


def normalise(text: str, ages: bool = False) -> str:
    """What differs between two runs of the same command becomes a stable placeholder."""
    for run_id in set(re.findall(r"\brun (r[a-z0-9]{7})\b", text)):
        text = text.replace(run_id, "<run-id>")  # same width as a run id
    text = _same_width(r"\b[0-9a-f]{32}\b", lambda m: "<environment-id>", text)  # Cloud9
    text = _same_width(
        r"\b(?P<kind>sgr|sg|i|vpc|subnet|ami)-[0-9a-f]{8,17}\b", lambda m: f"{m.group('kind')}-<id>", text
    )
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"\bport=\d+", "port=<port>", text)
    text = re.sub(r"\b\d+(?:\.\d+)? ms\b", "<n> ms", text)  # the demo's latencies
    text = re.sub(r"_ms=\d+(?:\.\d+)?", "_ms=<n>", text)
    text = re.sub(r"\b\d+ s remaining", "<n> s remaining", text)  # the cache key's TTL, with jitter
    text = re.sub(r"expires \d{4}-\d\d-\d\d \d\d:\d\d UTC", "expires <date> UTC", text)
    # ops status: ages and costs so far run on the wall clock
    if ages:  # ops status: the ages and costs so far of its rows run on the wall clock
        text = "\n".join(
            _right_aligned(r"(?:\d+h)?(?:\d+m)?\d+s$|(?:\d+h)?(?:\d+m)?\d+s(?=  \$)", "<age>", line)
            if line.startswith("  ")
            else line
            for line in text.splitlines()
        )
        text = re.sub(r"\$\d+\.\d{4} so far", "$x.xxxx so far", text)
        # the time left too: `ops exec`'s reads follow its command in real time, on the lab's calendar
        text = re.sub(r"UTC \(in (?:\d+h)?(?:\d+m)?\d+s\)", "UTC (in <time left>)", text)
    return text


@dataclass(frozen=True)
class Sample:
    """One sample: which command's output, which lines to keep (others collapse into one … line),
    how wide a line may be, and whether line order within an instant is free (steps run concurrently)."""

    run: str
    keep: Optional[str] = None  # a regex: lines to keep; None keeps them all
    width: Optional[int] = None
    loose: bool = True
    ages: bool = False  # wall-clock ages and costs so far (ops status)


SAMPLES: Dict[str, Sample] = {
    # README: the dry run, to each step's end, its answers and its end
    "dry-run": Sample(
        "dry-run",
        keep=r"^\$ |^ops: |\] (cloud9|redis) +done |\] ping +\| |\] demo +\| +(  cache hits|"
        r"  cached read|  database read)",
        width=100,
    ),
    "dry-run-full": Sample("dry-run"),
    "report": Sample("report"),
    "waits": Sample("waits", loose=False),
    "plan": Sample("plan", loose=False),
    "keep": Sample("keep", keep=r"^\$ |^ops: |^  - |\] \S+ +done "),
    "exec-connect": Sample("exec-connect", loose=False),
    "exec-fetch": Sample("exec-fetch", loose=False),
    "exec-fetch-short": Sample("exec-fetch", keep=r"^\$ |^Using |^Restaurant<", loose=False),
    "status": Sample("status", ages=True),
    "push": Sample("push", loose=False),
    "status-s3": Sample("status-s3", ages=True),
    "pull": Sample("pull", loose=False),
    "teardown": Sample("teardown"),
    "sim-reset": Sample("sim-reset", loose=False),
    "steps": Sample("steps", loose=False),
    "validate": Sample("validate", loose=False),
}


def render(sample: Sample, command: str, output: str) -> str:
    """The text of a sample: the command, then its normalised (and trimmed) output."""
    lines = normalise(command + "\n" + output.rstrip("\n"), sample.ages).splitlines()
    if sample.keep:
        kept: List[str] = []
        for line in lines:
            if re.search(sample.keep, line):
                kept.append(line)
            elif not kept or kept[-1] != ELLIPSIS:
                kept.append(ELLIPSIS)
        lines = kept
    if sample.width:
        lines = [line if len(line) <= sample.width else line[: sample.width - 1] + ELLIPSIS for line in lines]
    return "\n".join(line.rstrip() for line in lines)


def canonical(text: str, loose: bool) -> List[str]:
    """A sample's lines as compared: without the … lines, and (loose) with the lines of one simulated
    instant, or one run of indented rows, sorted."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines() if line.strip() != ELLIPSIS]
    if not loose:
        return lines
    out: List[str] = []
    group: List[str] = []
    key = None

    def group_key(line: str):
        instant = re.match(r"\[[ 0-9hms]+\]", line)
        if instant:
            return instant.group(0)
        return "rows" if line.startswith("  ") and line.strip() else None

    for line in lines:
        k = group_key(line)
        if k is None or k != key:
            out.extend(sorted(group))
            group = []
        key = k
        if k is None:
            out.append(line)
        else:
            group.append(line)
    out.extend(sorted(group))
    return out


def samples(outputs: Dict[str, Tuple[str, str]]) -> Dict[str, str]:
    """Every sample whose command is among `outputs`, rendered."""
    return {name: render(s, *outputs[s.run]) for name, s in SAMPLES.items() if s.run in outputs}


def block(text: str) -> str:
    return f"```text\n{text}\n```\n"


def unblock(body: str) -> str:
    """The text inside a sample's ```text block."""
    body = body.strip("\n")
    m = re.fullmatch(r"```[a-z]*\n(.*)\n```", body, re.S)
    return m.group(1) if m else body


def doc_files() -> List[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def sample_blocks(path: Path) -> List[Tuple[str, str]]:
    """(sample name, committed text) for every sample block in a page."""
    return [(m.group("name"), unblock(m.group("body"))) for m in SAMPLE_BLOCK.finditer(path.read_text())]


def update_samples(path: Path, fresh: Dict[str, str]) -> bool:
    """Rewrite the page's samples that no longer match; return whether anything changed."""
    text = path.read_text()

    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in fresh:
            raise SystemExit(f"{path.relative_to(ROOT)}: unknown sample '{name}' (known: {', '.join(SAMPLES)})")
        if canonical(unblock(m.group("body")), SAMPLES[name].loose) == canonical(fresh[name], SAMPLES[name].loose):
            return m.group(0)
        return m.group(1) + block(fresh[name]) + m.group(4)

    new = SAMPLE_BLOCK.sub(one, text)
    if new != text:
        path.write_text(new)
    return new != text


# --- reference pages --------------------------------------------------------------------------

GENERATED = "<!-- generated by docs/gen_docs.py from {what}: do not edit; run `python docs/gen_docs.py` -->\n\n"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def step_types_page() -> str:
    """Every registered step type, as `ops steps TYPE` prints it, as Markdown."""
    from ops.steps import playbook_types

    types = playbook_types()
    out = [
        GENERATED.format(what="the step types (ops/steps/)"),
        "# Step types\n\n",
        "Every step type a playbook can use, from the same registry as `ops steps` and `ops steps TYPE`. "
        "Any parameter may instead hold a `${{ ... }}` reference (see [Playbooks](../playbooks.md)).\n\n",
        "| type | what it does |\n|---|---|\n",
    ]
    for name in sorted(types):
        out.append(f"| [`{name}`](#{name.replace('.', '')}) | {_cell(types[name].summary)} |\n")
    for name in sorted(types):
        cls = types[name]
        out.append(f"\n## {name}\n\n{cls.summary}\n\n")
        out.append(f"Default timeout: {_duration(cls.default_timeout)}.\n\n")
        out.append("| parameter | type | required / default | meaning |\n|---|---|---|---|\n")
        for p in cls.params:
            need = "required" if p.required else "optional" if p.default is None else f"default `{p.default!r}`"
            doc = p.doc.rstrip()
            if p.choices:
                doc += (
                    "" if doc.endswith((".", ":", ";")) else "."
                ) + f" One of: {', '.join(f'`{c}`' for c in p.choices)}."
            out.append(f"| `{p.name}` | {p.type} | {_cell(need)} | {_cell(doc)} |\n")
        out.append("\n| output | meaning |\n|---|---|\n")
        for output, o in cls.outputs.items():
            early = " *(known right after create)*" if o.early else ""
            out.append(f"| `{output}` | {_cell(o.doc)}{early} |\n")
        if cls.example:
            out.append(f"\nExample:\n\n```yaml\n{cls.example.rstrip()}\n```\n")
    return "".join(out)


def _duration(seconds: float) -> str:
    from ops.durations import format_duration

    return format_duration(seconds)


def cli_page() -> str:
    """Every command, its arguments and options, from the click definitions, as Markdown."""
    import click

    from ops.cli import cli

    out = [
        GENERATED.format(what="the click commands (ops/cli.py)"),
        "# Command options\n\n",
        "Every `ops` command with its arguments and options, as `ops COMMAND --help` prints them. "
        "What the commands are for, exit codes and JSON events: [Commands](../commands.md).\n",
    ]

    def option_rows(command: click.Command, ctx: click.Context) -> list:
        """Its options' help records, the help option built from the context: click caches a
        command's help option from the first context that asked, which in a test process may
        not be the group's (-h, --help)."""
        rows = [rec for rec in (p.get_help_record(ctx) for p in command.params) if rec]
        if ctx.help_option_names and command.add_help_option:
            rows.append((", ".join(ctx.help_option_names), "Show this message and exit."))
        return rows

    def walk(command: click.Command, ctx: click.Context) -> None:
        if ctx.parent is not None:
            out.append(f"\n## {ctx.command_path}\n\n")
            out.append(f"```text\n{command.get_usage(ctx)}\n```\n\n")
            text = (command.help or "").split("\f")[0]
            out.append(
                re.sub(
                    r"\n\s*\n",
                    "\n\n",
                    "\n".join(line.strip() for line in text.strip().splitlines()).replace("\b\n", ""),
                )
                + "\n"
            )
            rows = option_rows(command, ctx)
            if rows:
                out.append("\n| option | meaning |\n|---|---|\n")
                for names, help_text in rows:
                    out.append(f"| `{names}` | {_cell(help_text)} |\n")
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, click.Context(sub, info_name=name, parent=ctx))

    root = click.Context(cli, info_name="ops", **cli.context_settings)
    out.append("\n## ops\n\n")
    out.append(f"```text\n{cli.get_usage(root)}\n```\n\n")
    rows = option_rows(cli, root)
    out.append("| option | meaning |\n|---|---|\n")
    out.extend(f"| `{names}` | {_cell(help_text)} |\n" for names, help_text in rows)
    walk(cli, root)
    return "".join(out)


REFERENCE_PAGES: Dict[Path, Callable[[], str]] = {STEP_TYPES_PAGE: step_types_page, CLI_PAGE: cli_page}


# --- main -------------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    stale = []
    for page, make in REFERENCE_PAGES.items():
        text = make()
        if not page.exists() or page.read_text() != text:
            stale.append(page)
            if not args.check:
                page.parent.mkdir(parents=True, exist_ok=True)
                page.write_text(text)
    fresh = samples(run_sessions())
    for page in doc_files():
        if args.check:
            for name, committed in sample_blocks(page):
                if canonical(committed, SAMPLES[name].loose) != canonical(fresh[name], SAMPLES[name].loose):
                    stale.append(f"{page} (sample {name})")
        elif update_samples(page, fresh):
            stale.append(page)
    for what in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {Path(str(what)).relative_to(ROOT)}")
    if not stale:
        print("docs: every sample and reference page is what the code prints today.")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
