"""`ops exec` streams: on a kept dry-run lab, a command's output is printed while it runs,
whole past SSM's cap and in order, stdout and stderr apart, characters split across reads
whole; a lost answer of a read neither repeats nor drops output; Ctrl-C cancels the command
on the host and exits 130."""

import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness import start_ops

from ops.cli import cli
from ops.commands.exec_command import OUT_BYTES, exec_on_lab
from ops.engine.target import RunTarget
from ops.sim.faults import FaultPlan
from ops.sim.processes import alive
from ops.sim.world import SimWorld

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
LAB = "elasticache-lab"


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A kept dry-run lab (one for the module: a run takes seconds): (its folder, its host's home)."""
    folder = tmp_path_factory.mktemp("kept")
    shutil.copy(PLAYBOOKS / "lab.yaml", folder / "lab.yaml")
    shutil.copy(PLAYBOOKS / "playbook.schema.json", folder / "playbook.schema.json")
    before = os.getcwd()
    os.chdir(folder)
    try:
        run = invoke("run", "lab.yaml", "--dry-run", "--keep", "--var", "demo_reads=5")
        assert run.exit_code == 0, run.output
        (home,) = (folder / ".ops/dry-run/account/instances").iterdir()
        yield folder, home
        assert invoke("teardown", LAB, "--dry-run").exit_code == 0
    finally:
        os.chdir(before)
        SimWorld.destroy(folder / ".ops/dry-run/account")


@pytest.fixture
def lab(kept, monkeypatch):
    monkeypatch.chdir(kept[0])
    return kept


def test_the_first_line_is_printed_before_the_command_ends(lab):
    """The command cannot end before ops has printed its first line: it waits for a file the
    test makes only once it has read that line from ops's standard output."""
    folder, home = lab
    wait_for_go = 'echo first; for i in $(seq 200); do [ -f "$HOME/go" ] && break; sleep 0.05; done; '
    script = wait_for_go + '[ -f "$HOME/go" ] && echo second || echo "no go"'
    with start_ops(folder, "exec", LAB, "--dry-run", "--", "bash", "-c", script) as process:
        assert process.stdout.readline() == "first\n"
        (home / "go").touch()
        out, err = process.communicate(timeout=120)
    (home / "go").unlink()
    assert process.returncode == 0, err
    assert out == "second\n"
    assert not list(home.glob(".ops-exec/*"))


def test_long_output_arrives_whole_in_order_with_stderr_apart_and_the_exit_code(lab):
    _, home = lab
    # 'a\n' first puts the chunk boundaries (every OUT_BYTES bytes) inside two-byte 'é's
    script = (
        "import sys\n"
        "print('a')\n"
        "for i in range(1500):\n"
        "    print(f'{i:05d}', 'é' * 20, '✓')\n"
        "    if i % 100 == 0: print(f'err {i:05d}', 'x' * 600, file=sys.stderr)\n"
        "sys.exit(7)"
    )
    expected_out = "a\n" + "".join(f"{i:05d} {'é' * 20} ✓\n" for i in range(1500))
    expected_err = "".join(f"err {i:05d} {'x' * 600}\n" for i in range(0, 1500, 100))
    assert len(expected_out) > 24000 and len(expected_err) > 8000
    assert expected_out.encode()[:OUT_BYTES].decode(errors="replace").endswith("\ufffd")  # the first read's cut
    result = invoke("exec", LAB, "--dry-run", "--", "python3", "-c", script)
    assert result.exit_code == 7, result.stderr
    assert result.stdout == expected_out and result.stderr == expected_err
    assert not list(home.glob(".ops-exec/*"))


def test_a_lost_answer_of_a_read_neither_repeats_nor_drops_output(lab):
    folder, home = lab
    lost: Counter = Counter()
    calls: Counter = Counter()

    class LoseReadAnswers(FaultPlan):
        """Every other SendCommand after the command's own (each a read or the clean-up), and
        every third GetCommandInvocation: applied, their answers lost."""

        def draw(self, service, operation, n):
            if service != "ssm":
                return None
            calls[operation] += 1
            if (operation == "SendCommand" and calls[operation] % 2 == 0) or (
                operation == "GetCommandInvocation" and calls[operation] % 3 == 0
            ):
                lost[operation] += 1
                return "lost_answer"
            return None

    written = []
    target = RunTarget(folder, dry_run=True, sim_faults=LoseReadAnswers(seed=0))
    script = "for i in range(4000): print(f'line {i:05d}')"
    result = exec_on_lab(LAB, ["python3", "-c", script], target, lambda text, is_error: written.append(text))
    expected = "".join(f"line {i:05d}\n" for i in range(4000))
    assert len(expected) > 2 * OUT_BYTES  # several reads
    assert lost["SendCommand"] >= 2 and lost["GetCommandInvocation"] >= 2
    assert result["exit_code"] == 0 and "".join(written) == expected == result["stdout"]
    assert not list(home.glob(".ops-exec/*"))


def test_ctrl_c_cancels_the_command_on_the_host_and_exits_130(lab):
    folder, home = lab
    script = 'echo "$$" > "$HOME/cmd.pid"; echo started; sleep 60; echo never'
    with start_ops(folder, "exec", LAB, "--dry-run", "--", "bash", "-c", script) as process:
        assert process.stdout.readline() == "started\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert out == "" and "ops: the command was cancelled on i-" in err
    assert not alive(int((home / "cmd.pid").read_text()))
    assert not list(home.glob(".ops-exec/*"))
