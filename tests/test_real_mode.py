"""The real (non-dry) path, pointed at a local AWS emulator through AWS_ENDPOINT_URL.

A moto server on 127.0.0.1 stands in for AWS; ops is run exactly as a user would without
--dry-run. This checks that AWS_ENDPOINT_URL and --region are honoured, that a failed step
exits 1 with the step, the AWS error, what exists and the teardown command, and that
`ops teardown` then deletes what the record lists, from a separate invocation.
"""

import json

import boto3
from click.testing import CliRunner

from ops.cli import cli

PLAYBOOK = """\
name: emulator-lab
vars:
  group: sg-0123456789abcdef0
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{ vars.group }}
      port: 6379
      source_group_id: ${{ vars.group }}
"""


def client(url, service):
    return boto3.client(service, endpoint_url=url, region_name="eu-west-1")


def test_failed_step_then_teardown_from_the_record(emulator, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "lab.yaml", "--region", "eu-west-1"])
    assert result.exit_code == 1, result.output
    assert "Step 'ingress' failed" in result.output and "InvalidGroup.NotFound" in result.output
    exists_now = result.output.split("exist now:")[1]
    assert "dynamodb-table reviews-" in exists_now
    assert "ingress-rule" not in exists_now  # AWS refused it: nothing to delete
    assert "ops teardown lab.yaml --region eu-west-1" in result.output
    assert "Traceback" not in result.output
    tables = client(emulator, "dynamodb").list_tables()["TableNames"]
    assert len(tables) == 1 and tables[0].startswith("reviews-")
    state = json.loads((workdir / ".ops/state/emulator-lab.json").read_text())
    assert state["region"] == "eu-west-1"

    result = runner.invoke(cli, ["teardown", "lab.yaml", "--region", "eu-west-1"])
    assert result.exit_code == 0, result.output
    assert client(emulator, "dynamodb").list_tables()["TableNames"] == []
    again = runner.invoke(cli, ["teardown", "lab.yaml"])
    assert again.exit_code == 0 and "nothing to delete" in again.output


def test_json_output_is_one_event_per_line(emulator, workdir):
    (workdir / "lab.yaml").write_text(PLAYBOOK)
    group = client(emulator, "ec2").create_security_group(GroupName="g", Description="d")["GroupId"]
    result = CliRunner().invoke(
        cli, ["run", "lab.yaml", "--region", "eu-west-1", "--output", "json", "--var", f"group={group}"]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert sorted(e["step"] for e in events if e["event"] == "step_finished") == ["ingress", "table"]
    deleted = {e["id"].split("-")[0] for e in events if e["event"] == "resource_deleted"}
    assert deleted == {"sgr", "reviews", "ops"}  # ops-...: the table's dead man's switch (schedule, group, role)
    assert client(emulator, "dynamodb").list_tables()["TableNames"] == []
