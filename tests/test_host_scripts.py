"""No value ever becomes code in a script ops runs on a host (issue 12).

Every value that reaches a host script (the PING host and port, the SSM parameter name, the
demo's Redis URL, table, region, restaurant, reads and ttl) is fed arbitrary and adversarial
strings, bypassing the Param checks, so the builder alone is shown safe:

(a) bash -n accepts every script, and the SSM command text is exactly `bash -c SCRIPT`;
(b) bashlex parses each value's line as one `export` command of one word, the rest of the
    script parses the same whatever the values, and bash itself reads every value back
    byte for byte;
(c) run in a sandbox (a clean environment whose PATH holds only tracers for every command
    on this machine, /dev/tcp to a closed loopback port or a local Redis), the scripts run
    exactly the expected commands, with each value as one argument, and create no file.

Then: the checks that keep such values out of playbooks, at validate and at run time.
"""

import ast
import os
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import bashlex
import pytest
from harness import make_runner, playbook_from
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ops.hostscript import HostScript, Template
from ops.netnames import check_network_name
from ops.sim.local_redis import start_local_redis
from ops.steps.demo import EXIT_NO_PACKAGE_INDEX, NO_PACKAGE_INDEX_HINT, remote_script
from ops.steps.redis_ping import check_parameter_name, ping_script
from ops.steps.ssm_command import run_shell

OPS = Path(__file__).resolve().parent.parent / "ops"
ADVERSARIAL = [
    "'",
    '"',
    "\\",
    "$(touch pwned)",
    "`touch pwned`",
    "; touch pwned",
    "\ntouch pwned\n",
    "' ; touch pwned ; '",
    '" ; touch pwned ; "',
    "'\"'\"'",
    "$'\\x27'; touch pwned",
    "${IFS}touch${IFS}pwned",
    "&& touch pwned",
    "| sh",
    "> pwned",
    "<(touch pwned)",
    "# comment",
    "127.0.0.1/1; touch /tmp/x; #",
    "!!",
    "*",
    "~root",
    "{a,b}",
    "\r",
    "-verify_hostname",
    "--seed",
    "$OPS_HOST",
    "${token}",
    "%s%n",
    "é ☕ 缓存",
    "\t\v\f",
    "')\nimport os; os.system('touch pwned')\n('",
    "\\'; touch pwned; echo \\'",
]
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)  # what YAML can hold
VALUES = st.one_of(TEXT, st.sampled_from(ADVERSARIAL), st.tuples(TEXT, st.sampled_from(ADVERSARIAL), TEXT).map("".join))
PORTS = st.one_of(st.integers(0, 70000), VALUES)
QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def ping_scripts(host, port, parameter):
    """redis.ping's four shapes (plain, TLS, AUTH, TLS and AUTH), with the same values."""
    return [ping_script(host, port, tls, token, 1) for tls in (False, True) for token in ("", parameter)]


def demo_scripts(url, table, region, restaurant, reads, ttl, parameter):
    return [remote_script(url, table, region, restaurant, reads, ttl, token, 2) for token in ("", parameter)]


# --- (a) and (b): the scripts as text ----------------------------------------------------------


def bash_accepts(text: str) -> bool:
    return subprocess.run(["bash", "-n"], input=text.encode(), capture_output=True).returncode == 0


def nodes(tree, offset=0):
    """(kind, word, start, end) of every bashlex node under tree, positions relative to offset."""
    found = [(tree.kind, getattr(tree, "word", None), tree.pos[0] - offset, tree.pos[1] - offset)]
    for value in vars(tree).values():
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, bashlex.ast.node):
                found += nodes(child, offset)
    return found


def assert_values_stay_values(script: HostScript, placeholder: HostScript) -> None:
    text = script.text()
    # (a) bash parses the script, and SSM is sent exactly `bash -c SCRIPT`
    assert bash_accepts(text), text
    assert shlex.split(script.bash_command()) == ["bash", "-c", text]
    # the script after the values is the same text whatever they are
    assert script.body == placeholder.body
    prologue = script.prologue()
    assert len(prologue) == len(script.environment) and script.lines() == prologue + script.body
    # (b) each value's line: one `export` command whose one other word spans the rest of the line,
    # with no expansion in it, and that word is NAME=value once its quotes are removed
    for line, (name, value) in zip(prologue, script.environment.items()):
        trees = bashlex.parse(line)
        assert len(trees) == 1 and trees[0].kind == "command", line
        words = trees[0].parts
        assert [w.kind for w in words] == ["word", "word"] and words[0].word == "export", line
        assert words[1].pos == (len("export "), len(line)) and words[1].parts == [], line
        assert shlex.split(line) == ["export", f"{name}={value}"]
    # the whole script: the values' lines are those commands, and what follows parses the same as
    # with harmless values (bashlex has no coproc: the TLS script's body is covered by the equality)
    if not any("coproc" in part for part in script.body):
        assert_same_shape(script, placeholder)
    # bash reads every value back exactly
    names = list(script.environment)
    echo = "\nprintf '%s\\0' " + " ".join(f'"${name}"' for name in names)
    read = subprocess.run(
        ["bash", "-c", "\n".join(prologue) + echo], env={"PATH": os.defpath}, capture_output=True, check=True
    ).stdout.decode()
    assert read.split("\0")[:-1] == [script.environment[name] for name in names]


def assert_same_shape(script: HostScript, placeholder: HostScript) -> None:
    def split(s):
        trees = bashlex.parse(s.text())
        count = len(s.prologue())
        body_at = len("\n".join(s.prologue())) + 1
        return trees[:count], [n for tree in trees[count:] for n in nodes(tree, body_at)]

    exports, body = split(script)
    _, expected = split(placeholder)
    assert [[(p.kind, p.parts) for p in tree.parts] for tree in exports] == [[("word", [])] * 2] * len(exports)
    assert body == expected


@QUICK
@given(host=VALUES, port=PORTS, parameter=VALUES)
@example(host="127.0.0.1/1; touch /tmp/x; #", port=6379, parameter="/a'; touch x2; '")
def test_no_value_becomes_code_in_ping_scripts(host, port, parameter):
    placeholders = ping_scripts("h", 1, "p" if parameter else "")
    for script, placeholder in zip(ping_scripts(host, port, parameter), placeholders, strict=True):
        assert_values_stay_values(script, placeholder)


@pytest.fixture
def small_bundle(monkeypatch):
    """The demo's code is ops's own, not a value from a playbook; bashlex takes 0.1 s over its
    14 KB, so the properties use a short stand-in (test_the_demo_script_with_its_real_bundle
    checks the real one once)."""
    monkeypatch.setattr("ops.steps.demo.demo_bundle", lambda: "H4sIAAAAAAAAA+3BAQ0AAADCoPdPbQ43oAAAAAAAAAAA")


def test_the_demo_script_with_its_real_bundle():
    for parameter in ("", "/ops/lab/r0000001/cache/auth-token"):
        assert_values_stay_values(
            remote_script(
                "rediss://cache.example:6379/0", "lab-reviews", "us-east-1", "The Vineyard", 50, 900, parameter, 12
            ),
            remote_script("u", "t", "r", "s", 1, 1, "p" if parameter else "", 2),
        )


@settings(QUICK, max_examples=25)
@given(url=VALUES, table=VALUES, region=VALUES, restaurant=VALUES, reads=PORTS, ttl=PORTS, parameter=VALUES)
@example(
    url="redis://x:1/0",
    table="t'); import os; os.system('id'); ('",
    region="us-east-1'); x=('",
    restaurant="$(touch pwned)",
    reads=5,
    ttl=9,
    parameter="/a'; touch x2; '",
)
def test_no_value_becomes_code_in_the_demo_script(small_bundle, url, table, region, restaurant, reads, ttl, parameter):
    placeholders = demo_scripts("u", "t", "r", "s", 1, 1, "p" if parameter else "")
    for script, placeholder in zip(
        demo_scripts(url, table, region, restaurant, reads, ttl, parameter), placeholders, strict=True
    ):
        assert_values_stay_values(script, placeholder)


# --- (c): the scripts run, in a sandbox --------------------------------------------------------

TRACER = """#!/bin/bash
# records how many arguments it got, its name, the arguments and the OPS_* environment,
# NUL-separated, one file per call (a count, not a marker: any argument may look like a marker)
name=${0##*/}
printf '%s\\0' "$#" "$name" "$@" "${!OPS_@}" > "$TRACE_LOG/$EPOCHREALTIME-$$"
[ "$name" = "${TRACE_FAIL:-}" ] && exit 1
case $name in
  seq) exec /usr/bin/seq "$@" ;;
  mktemp) printf '%s\\n' "$TRACE_WORK" ;;
  python3)  # `python3 -m venv DIR` makes DIR/bin/pip and DIR/bin/python, tracers too
    if [ "$1" = -m ] && [ "$2" = venv ]; then /usr/bin/mkdir -p "$3/bin" && /usr/bin/ln -s "$0" "$3/bin/pip" && /usr/bin/ln -s "$0" "$3/bin/python"; fi ;;
esac
exit 0
"""
SYSTEM_BINS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
EXTRA = ["aws", "openssl", "timeout", "python3", "redis-cli", "nc", "curl", "wget"]


@pytest.fixture(scope="module")
def tracers(tmp_path_factory):
    """A PATH of one folder: every command name of this machine, each a tracer; and where they log."""
    root = tmp_path_factory.mktemp("tracers")
    bin_dir, log = root / "bin", root / "log"
    bin_dir.mkdir()
    log.mkdir()
    tracer = root / "tracer"
    # the log folder and the demo's work folder reach the tracer in its environment, like any value
    tracer.write_text(TRACER)
    tracer.chmod(0o755)
    names = set(EXTRA)
    for folder in SYSTEM_BINS:
        if os.path.isdir(folder):
            names.update(os.listdir(folder))
    for name in names:
        if "/" not in name and name not in (".", ".."):
            (bin_dir / name).symlink_to(tracer)
    return bin_dir, log


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def run_sandboxed(script: HostScript, tracers, where: Path, work: Path = None, fail: str = ""):
    """Run the script as SSM would (`bash -c SCRIPT`), with only the tracers on PATH; return the
    exit code and the calls, in order, as (argv, OPS_* names seen). fail: a command that exits 1."""
    bin_dir, log = tracers
    for old in log.iterdir():
        old.unlink()
    env = {
        "PATH": str(bin_dir),
        "HOME": str(where),
        "LANG": "C.UTF-8",
        "TRACE_LOG": str(log),
        "TRACE_WORK": str(work or where),
        "TRACE_FAIL": fail,
    }
    done = subprocess.run(["/bin/bash", "-c", script.text()], cwd=where, env=env, capture_output=True, timeout=30)
    calls = []
    for record in sorted(log.iterdir(), key=lambda p: float(p.name.split("-")[0])):
        count, *fields = record.read_bytes().decode().split("\0")[:-1]
        calls.append((fields[: int(count) + 1], set(fields[int(count) + 1 :])))
    return done, calls


def files_under(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@QUICK
@given(junk=VALUES, parameter=VALUES)
@example(junk="1; touch pwned; #", parameter="/a'; touch pwned; '")
def test_ping_scripts_run_nothing_but_what_they_should(tracers, tmp_path_factory, junk, parameter):
    """The host part of /dev/tcp/HOST/... stays 127.0.0.1 (so nothing is looked up or reached
    beyond loopback); everything after it is the arbitrary text."""
    where = tmp_path_factory.mktemp("host")
    port = closed_port()
    done, calls = run_sandboxed(ping_script("127.0.0.1/" + junk, port, False, "", 1), tracers, where)
    assert (done.returncode, calls) == (3, []), done.stderr
    if not parameter:
        return
    done, calls = run_sandboxed(ping_script("127.0.0.1", port, False, parameter, 1), tracers, where)
    assert done.returncode == 3, done.stderr
    assert [argv for argv, _ in calls] == [
        ["seq", "1", "1"],
        [
            "aws",
            "ssm",
            "get-parameter",
            "--name",
            parameter,
            "--with-decryption",
            "--query",
            "Parameter.Value",
            "--output",
            "text",
        ],
    ]
    assert files_under(where) == []


@settings(QUICK, max_examples=20)
@given(url=VALUES, table=VALUES, region=VALUES, restaurant=VALUES, reads=PORTS, parameter=VALUES)
@example(
    url="redis://x:1/0",
    table="t'); import os; os.system('id'); ('",
    region="us-east-1'); x=('",
    restaurant="$(touch pwned)",
    reads="--seed",
    parameter="/a'; touch pwned; '",
)
@example(url="", table="", region="", restaurant="\x01", reads=0, parameter="\x01")  # once read as a separator
def test_the_demo_script_runs_nothing_but_what_it_should(
    tracers, tmp_path_factory, small_bundle, url, table, region, restaurant, reads, parameter
):
    where, work = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work")
    before = files_under(work)
    done, calls = run_sandboxed(
        remote_script(url, table, region, restaurant, reads, 900, parameter, 1), tracers, where, work
    )
    assert done.returncode == 0, done.stderr
    argvs = [argv for argv, _ in calls]
    venv = str(where / ".cache" / "ops-demo" / "venv-1")
    expected = [
        ["mktemp", "-d"],
        ["base64", "-d"],
        ["tar", "-xz"],
        ["rm", "-rf", venv],
        ["python3", "-m", "venv", venv],
        [
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "20",
            "--retries",
            "2",
            "redis",
            "boto3",
            "click",
            "tenacity",
        ],
        ["seq", "1", "24"],
    ]
    assert sorted(map(tuple, argvs[:3])) == sorted(map(tuple, expected[:3]))  # a pipeline: any order
    assert argvs[3:7] == expected[3:]
    probe = argvs[7]
    assert probe[:2] == ["python", "-c"] and "os.environ" in probe[2] and calls[7][1] >= {"OPS_REGION", "OPS_TABLE"}
    reads_token = [
        ["seq", "1", "1"],
        [
            "aws",
            "ssm",
            "get-parameter",
            "--name",
            parameter,
            "--with-decryption",
            "--query",
            "Parameter.Value",
            "--output",
            "text",
        ],
    ]
    assert argvs[8:-2] == (reads_token if parameter else [])
    assert argvs[-2] == [
        "python",
        "-m",
        "ops.demo",
        f"--redis-url={url}",
        f"--table={table}",
        f"--region={region}",
        f"--restaurant={restaurant}",
        f"--reads={reads}",
        "--ttl=900",
    ]
    assert argvs[-1] == ["rm", "-rf", str(work)]
    assert files_under(work) == before
    kept = ".cache/ops-demo/venv-1"  # the demo's venv stays for the next run, and nothing else
    assert files_under(where) == [
        ".cache",
        ".cache/ops-demo",
        kept,
        f"{kept}/bin",
        f"{kept}/bin/pip",
        f"{kept}/bin/python",
    ]


def test_the_demo_installs_its_packages_once_per_host_and_from_the_index_given(tracers, tmp_path, small_bundle):
    where, work = tmp_path / "home", tmp_path / "work"
    where.mkdir(), work.mkdir()
    script = remote_script("redis://h:1/0", "t", "us-east-1", "r", 1, 900, index_url="https://pypi.example/simple")
    done, calls = run_sandboxed(script, tracers, where, work)
    assert done.returncode == 0, done.stderr
    pip = [argv for argv, _ in calls if argv[0] == "pip"]
    assert len(pip) == 1 and pip[0][-6:] == [
        "--index-url",
        "https://pypi.example/simple",
        "redis",
        "boto3",
        "click",
        "tenacity",
    ]
    done, calls = run_sandboxed(script, tracers, where, work)  # the next run finds the venv it made
    assert done.returncode == 0, done.stderr
    names = [argv[0] for argv, _ in calls]
    assert "pip" not in names and "python3" not in names
    assert [argv[:2] for argv, _ in calls if argv[0] == "python"][0] == ["python", "-c"]  # the import check


def test_a_host_that_reaches_no_package_index_says_so_and_what_to_do(tracers, tmp_path, small_bundle):
    where, work = tmp_path / "home", tmp_path / "work"
    where.mkdir(), work.mkdir()
    done, calls = run_sandboxed(
        remote_script("redis://h:1/0", "t", "us-east-1", "r", 1, 900), tracers, where, work, fail="pip"
    )
    assert done.returncode == EXIT_NO_PACKAGE_INDEX
    assert (
        b"could not install the demo packages (redis, boto3, click, tenacity) from the index pip is configured with"
        in done.stderr
    )
    assert [argv for argv, _ in calls][-2:] == [
        ["rm", "-rf", str(where / ".cache" / "ops-demo" / "venv-1")],
        ["rm", "-rf", str(work)],
    ]
    assert "--var demo_index_url=" in NO_PACKAGE_INDEX_HINT


@pytest.mark.parametrize("kind", ["fakeredis", "redis-server"])
def test_the_plain_ping_speaks_resp_to_any_local_redis(tracers, tmp_path, kind):
    """fakeredis' server refuses inline commands; the script sends a RESP array."""
    if kind == "redis-server" and not shutil.which("redis-server"):
        kind = "fakeredis"  # the fallback the simulator uses on such machines
    server = start_local_redis(prefer=kind)
    try:
        done, calls = run_sandboxed(ping_script(server.host, server.port, False, "", 1), tracers, tmp_path)
    finally:
        server.stop()
    assert (done.returncode, done.stdout.decode()) == (0, "+PONG\n"), done.stderr
    assert [argv for argv, _ in calls] == [["seq", "1", "1"]]


# --- the builder takes nothing else ------------------------------------------------------------


def test_every_template_in_ops_is_a_string_literal():
    """Script text is written in ops's code: each Template(...) gets one literal, nothing built."""
    found = 0
    for path in OPS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Template":
                found += 1
                assert len(node.args) == 1 and not node.keywords, f"{path}:{node.lineno}"
                assert isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str), (
                    f"{path}:{node.lineno}: a Template's text must be a string literal"
                )
    assert found >= 10


def test_only_run_shell_sends_commands_and_only_host_scripts():
    senders = [
        str(path.relative_to(OPS))
        for path in OPS.rglob("*.py")
        if path.parts[-2] != "sim" and "send_command" in path.read_text()
    ]
    assert senders == ["steps/ssm_command.py"]
    with pytest.raises(TypeError, match="HostScript"):
        run_shell(None, "i-0123456789abcdef0", ["echo hello"], "a list of lines")


def test_the_builder_refuses_text_that_is_not_a_template_and_values_it_cannot_carry():
    ping = Template('echo "$OPS_HOST"')
    with pytest.raises(TypeError, match="Template"):
        HostScript({"OPS_HOST": "h"}, "echo $OPS_HOST")
    with pytest.raises(ValueError, match="NUL"):
        HostScript({"OPS_HOST": "a\0b"}, ping)
    with pytest.raises(ValueError, match="UTF-8"):
        HostScript({"OPS_HOST": "a\ud840b"}, ping)
    with pytest.raises(ValueError, match="no template uses it"):
        HostScript({"OPS_HOST": "h", "OPS_PORT": 1}, ping)
    with pytest.raises(ValueError, match="OPS_"):
        HostScript({"PATH": "/tmp"}, ping)
    with pytest.raises(TypeError, match="string or an integer"):
        HostScript({"OPS_HOST": True}, ping)
    assert HostScript({"OPS_HOST": "a'b"}, ping).text() == "export 'OPS_HOST=a'\"'\"'b'\necho \"$OPS_HOST\""


def test_the_simulator_reports_a_missing_working_directory_as_text(monkeypatch, tmp_path):
    """The simulated SSM names a workingDirectory it cannot find: quoted, never run."""
    from ops.clock import VirtualClock
    from ops.sim.world import SimWorld

    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # as tests/sim do: a lighter world
    monkeypatch.setattr(SimWorld, "aws_managed_policies", False)
    with SimWorld(VirtualClock()) as world:
        ended = _send_with_working_directory(world, f"/nowhere'; touch {tmp_path}/pwned; '")
    assert ended["Status"] == "Failed" and not (tmp_path / "pwned").exists()
    assert (
        ended["StandardErrorContent"]
        == f"ops sim: working directory /nowhere'; touch {tmp_path}/pwned; ' does not exist on this machine\n"
    )


def _send_with_working_directory(world, folder: str):
    from sim.conftest import cloud9_instance, create_ssm_environment

    session = world.session()
    environment = create_ssm_environment(world)
    world.clock.sleep(world.durations["cloud9.create"])
    instance = cloud9_instance(session, environment)["InstanceId"]
    ssm = session.client("ssm")
    command = ssm.send_command(
        InstanceIds=[instance],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo hello"], "workingDirectory": [folder]},
    )
    world.clock.sleep(world.durations["ssm.command"])
    return ssm.get_command_invocation(CommandId=command["Command"]["CommandId"], InstanceId=instance)


# --- the checks that keep such values out --------------------------------------------------------

SHELL_SPECIAL = set(" \t\n\r'\"\\$`;&|<>()*?[]{}~!#/%=,@^")


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_a_network_name_carries_no_shell_syntax(value):
    if check_network_name(value) is None:
        assert value and not (set(value) & SHELL_SPECIAL) and not value.startswith("-"), value
        assert len(value) <= 253 or (len(value) == 254 and value.endswith("."))


@pytest.mark.parametrize(
    "name",
    [
        "cache.example",
        "Lab-Cache.abc123.0001.use1.cache.amazonaws.com",
        "localhost",
        "10.0.0.25",
        "::1",
        "2001:db8::1",
        "a.b.",
        "x" * 63 + ".example",
    ],
)
def test_network_names_that_are_fine(name):
    assert check_network_name(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "a..b",
        "-a.example",
        "a-.example",
        "a_b.example",
        "x" * 64 + ".example",
        ".".join(["a" * 63] * 4),
        "10.0.0.256",
        "1.2.3",
        "fe80::1%eth0",
        "a b",
        "cache.example\n",
        "caché.example",
        "127.0.0.1/1",
    ],
)
def test_network_names_that_are_not(name):
    assert check_network_name(name) is not None


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_a_parameter_name_carries_no_shell_syntax_or_option(value):
    if check_parameter_name(value) is None:
        assert not (set(value) & (SHELL_SPECIAL - {"/"})) and not value.startswith("-"), value


def test_a_host_from_a_step_output_is_checked_before_the_step_runs(aws, tmp_path, monkeypatch):
    """A reference is resolved at run time: the value is checked then, before any SSM call."""
    import botocore.client

    playbook = playbook_from("""
        name: lab
        steps:
          - name: table
            type: dynamodb.table
            with:
              table_name: lab_reviews
              seed: false
          - name: ping
            type: redis.ping
            with:
              instance_id: i-0123456789abcdef0
              host: ${{ steps.table.outputs.table_name }}
    """)
    calls = []
    real = botocore.client.BaseClient._make_api_call

    def record(client, operation, params):
        calls.append(f"{client.meta.service_model.service_name}:{operation}")
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    runner = make_runner(playbook, aws, tmp_path)
    with pytest.raises(Exception) as failed:
        runner.apply()
    assert type(failed.value).__name__ == "StepFailed" and failed.value.exit_code == 1
    assert "Step 'ping' failed: parameter 'host' must be a DNS hostname" in str(failed.value)
    assert "'lab_reviews'" in str(failed.value)
    assert "dynamodb:CreateTable" in calls and not any(call.startswith("ssm:") for call in calls)
