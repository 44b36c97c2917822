"""`ops iam-policy`: the policy covers every AWS call a run and its teardown make."""
import json
from pathlib import Path

from click.testing import CliRunner

from ops.cli import cli
from ops.iam_policy import policy_for
from ops.playbook import load_playbook
from harness import ON_THE_HOST, allowed_actions, calls_of_a_run_and_teardown

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"
def test_the_policy_allows_every_call_of_a_run_and_its_teardown(tmp_path, monkeypatch):
    playbook = load_playbook(LAB)
    calls, _, _ = calls_of_a_run_and_teardown(playbook, tmp_path, monkeypatch)
    assert calls, "nothing was recorded"
    assert calls - allowed_actions(policy_for(playbook)) - ON_THE_HOST == set()  # the demo's reads: on the host


def test_the_command_prints_a_valid_policy_document():
    result = CliRunner().invoke(cli, ["iam-policy", str(LAB)])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["Version"] == "2012-10-17"
    pass_role = [s for s in doc["Statement"] if s["Action"] == "iam:PassRole"]
    assert pass_role and all(r.startswith("arn:aws:iam::*:role/") for r in pass_role[0]["Resource"])
