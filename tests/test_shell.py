"""`ops shell`: a dry run's shell is driven through a pseudo-terminal and proves the simulated
host's environment; the real path is checked for the exact `aws ssm start-session` it runs and
for what it says when the AWS CLI or the Session Manager plugin is missing."""

import json
import os
import pty
import select
import shutil
import sys
import time
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

import ops
from ops.cli import cli
from ops.commands.lab_host import LabHost
from ops.commands.shell import session_argv
from ops.engine.state import RunState
from ops.model import Resource

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
SOURCE_ROOT = str(Path(ops.__file__).resolve().parent.parent)


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env)


class Terminal:
    """`ops ...` on a pseudo-terminal, as a person at a terminal runs it."""

    def __init__(self, cwd: Path, *args: str):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: ops, in the test's folder
            os.chdir(cwd)
            os.environ["PYTHONPATH"] = SOURCE_ROOT
            os.environ["PYTHONFAULTHANDLER"] = "1"
            os.execv(sys.executable, [sys.executable, "-m", "ops.cli", *args])
        self.seen = ""

    def read_until(self, marker: str, limit: float = 120) -> str:
        """What the terminal shows up to `marker` (limit: a safety net, not a measurement)."""
        end = time.monotonic() + limit
        while marker not in self.seen and time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the other end closed
                    break
                if not chunk:
                    break
                self.seen += chunk.decode(errors="replace")
        if marker not in self.seen:
            import signal

            os.kill(self.pid, signal.SIGABRT)
            time.sleep(2)
            self.seen += os.read(self.fd, 100000).decode(errors="replace")
        assert marker in self.seen, self.seen
        shown, _, self.seen = self.seen.partition(marker)
        return shown

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def exit_status(self) -> int:
        while True:  # drain, so the child is never blocked on a full terminal
            try:
                if not os.read(self.fd, 4096):
                    break
            except OSError:
                break
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


@pytest.mark.long
def test_a_dry_run_shell_is_the_simulated_host(workdir):
    assert invoke("run", str(PLAYBOOKS / "lab.yaml"), "--dry-run", "--keep").exit_code == 0
    record = json.loads((workdir / ".ops/dry-run/state/elasticache-lab.json").read_text())
    cluster = next(r["id"] for r in record["resources"] if r["kind"] == "cache-cluster")
    instances = list((workdir / ".ops/dry-run/account/instances").iterdir())
    assert len(instances) == 1
    home = instances[0]

    term = Terminal(workdir, "shell", "elasticache-lab", "--dry-run")
    term.read_until("]$ ")
    term.send('echo "host=<$REDIS_HOSTNAME> cwd=<$PWD> home=<$HOME>"')
    assert f"host=<127.0.0.1> cwd=<{home / 'lesson'}> home=<{home}>" in term.read_until("]$ ")  # the workspace
    if shutil.which("redis-cli"):  # as a student would (CI installs it); the check below needs only Python
        term.send('redis-cli -h "$REDIS_HOSTNAME" -p "$REDIS_PORT" ping')
        assert "PONG" in term.read_until("]$ ")
    term.send(
        'python3 -c \'import os, socket; s = socket.create_connection((os.environ["REDIS_HOSTNAME"], '
        'int(os.environ["REDIS_PORT"]))); s.sendall(b"PING\\r\\n"); print("py", s.recv(64))\''
    )
    assert "py b'+PONG\\r\\n'" in term.read_until("]$ ")
    # the host's own `aws` asks as the instance's role (AmazonSSMManagedInstanceCore may read any
    # parameter; a process that is not the instance's is anonymous, and refused)
    term.send("command -v aws; aws ssm get-parameter --name /nope --query Parameter.Value --output text; echo rc=$?")
    answer = term.read_until("]$ ")
    assert "/ops-sim-cli-" in answer and "/bin/aws" in answer
    assert "(ParameterNotFound)" in answer and "anonymous" not in answer, answer
    assert "rc=254" in answer
    term.send("sleep 0 | aws ssm get-parameter --name /nope --query Parameter.Value --output text")
    assert "(ParameterNotFound)" in term.read_until("]$ ")  # a pipeline is the instance's too
    term.send("echo made > note.txt; exit 7")
    assert term.exit_status() == 7
    assert (home / "lesson" / "note.txt").read_text() == "made\n"  # the host's folder keeps what was done there
    assert cluster  # the lab is still up after the shell
    assert invoke("teardown", "elasticache-lab", "--dry-run").exit_code == 0


def test_a_dry_run_shell_lands_in_the_lesson_and_runs_it(workdir):
    assert invoke("run", str(PLAYBOOKS / "lab-ec2.yaml"), "--dry-run", "--keep").exit_code == 0
    [home] = list((workdir / ".ops/dry-run/account/instances").iterdir())
    term = Terminal(workdir, "shell", "elasticache-lab-ec2", "--dry-run")
    term.read_until("]$ ")
    term.send('echo "<$PWD> <$TABLE_NAME> <$REDIS_HOSTNAME>"')  # what the workspace's profile exports
    assert f"<{home / 'lesson'}> <ops-lab-reviews-" in term.read_until("]$ ")
    term.send("python3 test_connection.py")
    assert "Connected to Redis!" in term.read_until("]$ ")
    term.send("exit")
    assert term.exit_status() == 0


def test_copies_must_be_named(workdir):
    assert invoke("run", str(PLAYBOOKS / "lab-ec2.yaml"), "--dry-run", "--keep", "--names", "alice,bob").exit_code == 0
    result = invoke("shell", "elasticache-lab-ec2", "--dry-run")
    assert result.exit_code == 2
    assert "has 2 copies" in result.output and "ops shell elasticache-lab-ec2-alice" in result.output


def test_no_such_lab_is_bad_input(workdir):
    result = invoke("shell", "nothing-here", "--dry-run")
    assert result.exit_code == 2 and "no live lab 'nothing-here'" in result.output
    assert not (workdir / ".ops/dry-run/account").exists()  # looking made no simulated account


# --- the real path ----------------------------------------------------------------------------


def test_the_session_is_start_session_into_the_lesson():
    host = LabHost("lab", "rabcdefg", "eu-west-1", "cloud9", "i-0123456789abcdef0", "env1", "my.cache;rm -rf /", 6379)
    argv = session_argv(host, profile="teacher")
    assert argv[:10] == [
        "aws", "ssm", "start-session", "--target", "i-0123456789abcdef0", "--region", "eu-west-1",
        "--document-name", "AWS-StartInteractiveCommand", "--parameters",
    ]  # fmt: skip
    assert argv[11:] == ["--profile", "teacher"]
    [command] = json.loads(argv[10])["command"]
    import shlex

    words = shlex.split(command)  # the value stays one word: quoted, never code
    assert words[:5] == ["sudo", "-i", "-u", "ec2-user", "env"]
    assert "REDIS_HOSTNAME=my.cache;rm -rf /" in words and "REDIS_PORT=6379" in words
    assert words[-3:-1] == ["bash", "-c"] and words[-1].startswith("cd ~/lesson") and words[-1].endswith("exec bash -l")
    assert "--profile" not in session_argv(host)


def _tools(tmp_path, *names):
    """A PATH holding only these stand-ins (the AWS CLI one writes its argv to argv.json)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in names:
        tool = folder / name
        tool.write_text(
            f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(tmp_path / 'argv.json')!r}, 'w'))\n"
        )
        tool.chmod(0o755)
    return str(folder)


def test_without_the_aws_cli_shell_says_how_to_install_it(workdir):
    result = invoke("shell", "some-lab", env={"PATH": _tools(workdir)})
    assert result.exit_code == 2
    assert "needs the AWS CLI ('aws')" in result.output and "getting-started-install" in result.output
    assert "Traceback" not in result.output


def test_without_the_plugin_shell_says_how_to_install_it(workdir):
    result = invoke("shell", "some-lab", env={"PATH": _tools(workdir, "aws")})
    assert result.exit_code == 2
    assert "Session Manager plugin ('session-manager-plugin')" in result.output
    assert "session-manager-working-with-install-plugin" in result.output


def test_a_real_shell_runs_start_session_for_the_recorded_host(workdir, emulator, monkeypatch):
    """ops, without --dry-run, against a local AWS emulator: it finds the host and becomes the CLI."""
    import subprocess

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ec2 = boto3.client("ec2", endpoint_url=emulator, region_name="eu-west-1")
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    state = RunState.start(workdir / ".ops/state/my-lab.json", "my-lab", "lab.yaml", "eu-west-1", dry_run=False)
    state.record(Resource("host", "ec2.client_host", "ec2-instance", instance, "eu-west-1", status="created"))
    (workdir / "aws-config").write_text(
        "[profile lab]\nregion = eu-west-1\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    env = {**os.environ, "PYTHONPATH": SOURCE_ROOT, "PATH": _tools(workdir, "aws", "session-manager-plugin")}
    env["AWS_CONFIG_FILE"] = str(workdir / "aws-config")
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "shell", "my-lab", "--profile", "lab"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    argv = json.loads((workdir / "argv.json").read_text())
    assert argv[:6] == ["ssm", "start-session", "--target", instance, "--region", "eu-west-1"]
    assert argv[6:8] == ["--document-name", "AWS-StartInteractiveCommand"]
    assert argv[-2:] == ["--profile", "lab"]


# --- ops doctor -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tools, expected",
    [
        ((), ["[warning] the AWS CLI ('aws') is not on PATH", "[warning] the Session Manager plugin is not on PATH"]),
        (("aws",), ["[ok] the AWS CLI is on PATH", "[warning] the Session Manager plugin is not on PATH"]),
        (
            ("aws", "session-manager-plugin"),
            ["[ok] the AWS CLI is on PATH", "[ok] the Session Manager plugin is on PATH"],
        ),
    ],
)
def test_doctor_checks_the_session_tools_for_real_runs(workdir, emulator, monkeypatch, tools, expected):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = invoke("doctor", "--region", "eu-west-1", env={"PATH": _tools(workdir, *tools)})
    lines = result.output.splitlines()
    for wanted in expected:
        assert any(line.startswith(wanted) for line in lines), result.output
    if len(tools) < 2:
        assert "Install the" in result.output
    dry = invoke("doctor", "--dry-run", env={"PATH": _tools(workdir)})
    assert "Session Manager plugin" not in dry.output  # a dry run's shell needs neither
