"""`ops iam-policy`: the policy covers every AWS call a run and its teardown make."""
import json
from pathlib import Path

import botocore.client
from click.testing import CliRunner

from ops.aws import Aws
from ops.cli import cli
from ops.clock import VirtualClock
from ops.iam_policy import policy_for
from ops.playbook import load_playbook
from ops.runner import teardown
from ops.sim.world import SimWorld
from harness import make_runner

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"
PREFIX = {"elasticache": "elasticache", "cloud9": "cloud9", "ec2": "ec2", "iam": "iam", "ssm": "ssm",
          "dynamodb": "dynamodb", "sts": "sts"}


def test_the_policy_allows_every_call_of_a_run_and_its_teardown(tmp_path, monkeypatch):
    calls = set()
    real = botocore.client.BaseClient._make_api_call

    def record(client, operation, params):
        if client in aws._clients.values():  # ops's own clients, not the simulator's internals
            calls.add(f"{PREFIX[client.meta.service_model.service_name]}:{operation}")
        return real(client, operation, params)

    playbook = load_playbook(LAB)
    with SimWorld(VirtualClock()) as world:
        aws = Aws(world.session(), world.region, world.clock, dry_run=True)
        runner = make_runner(playbook, aws, tmp_path)
        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
        runner.apply()
        teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, playbook.name)
    allowed = {action for statement in policy_for(playbook)["Statement"]
               for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
    on_the_host = {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:TransactWriteItems"}
    assert calls, "nothing was recorded"
    assert calls - allowed - on_the_host == set()  # the demo's reads run on the host, with its own role


def test_the_command_prints_a_valid_policy_document():
    result = CliRunner().invoke(cli, ["iam-policy", str(LAB)])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["Version"] == "2012-10-17"
    pass_role = [s for s in doc["Statement"] if s["Action"] == "iam:PassRole"]
    assert pass_role and all(r.startswith("arn:aws:iam::*:role/") for r in pass_role[0]["Resource"])
