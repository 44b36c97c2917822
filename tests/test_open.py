"""`ops open`: the URL a person steps into a kept lab through, per region and partition, and the
instructor's table of every copy."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from ops.commands.lab_host import LabHost
from ops.commands.open_lab import host_url

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    "region, cloud9, session_manager",
    [
        (
            "eu-west-1",
            "https://eu-west-1.console.aws.amazon.com/cloud9/ide/env1?region=eu-west-1",
            "https://eu-west-1.console.aws.amazon.com/systems-manager/session-manager/i-0abc?region=eu-west-1",
        ),
        (
            "cn-north-1",
            "https://console.amazonaws.cn/cloud9/ide/env1?region=cn-north-1",
            "https://console.amazonaws.cn/systems-manager/session-manager/i-0abc?region=cn-north-1",
        ),
        (
            "us-gov-west-1",
            "https://console.amazonaws-us-gov.com/cloud9/ide/env1?region=us-gov-west-1",
            "https://console.amazonaws-us-gov.com/systems-manager/session-manager/i-0abc?region=us-gov-west-1",
        ),
    ],
)
def test_urls_follow_the_region_and_its_partition(region, cloud9, session_manager):
    assert host_url(LabHost("lab", "rabcdefg", region, "cloud9", "i-0abc", "env1")) == cloud9
    assert host_url(LabHost("lab", "rabcdefg", region, "ec2", "i-0abc")) == session_manager


def test_open_a_cloud9_lab_prints_its_ide(workdir):
    assert invoke("run", str(PLAYBOOKS / "lab.yaml"), "--dry-run", "--keep").exit_code == 0
    record = json.loads((workdir / ".ops/dry-run/state/elasticache-lab.json").read_text())
    env_id = next(r["id"] for r in record["resources"] if r["kind"] == "cloud9-environment")
    result = invoke("open", "elasticache-lab", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output == f"https://us-east-1.console.aws.amazon.com/cloud9/ide/{env_id}?region=us-east-1\n"


def test_open_copies_of_an_ec2_lab_is_a_table_with_time_left(workdir):
    assert (
        invoke("run", str(PLAYBOOKS / "lab-ec2.yaml"), "--dry-run", "--keep", "--names", "alice,bob", "--ttl", "2h")
    ).exit_code == 0
    table = invoke("open", "elasticache-lab-ec2", "--dry-run")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["LAB", "URL", "TIME", "LEFT"]
    assert [line.split()[0] for line in lines[1:]] == ["elasticache-lab-ec2-alice", "elasticache-lab-ec2-bob"]
    for line in lines[1:]:
        assert "/systems-manager/session-manager/i-" in line and line.split()[-1].startswith(("1h", "2h"))
    one = invoke("open", "elasticache-lab-ec2-bob", "--dry-run")
    assert one.exit_code == 0
    assert "/systems-manager/session-manager/i-" in one.output
    assert "or, in a terminal: ops shell elasticache-lab-ec2-bob --dry-run" in one.output
    as_json = json.loads(invoke("open", "elasticache-lab-ec2", "--dry-run", "--output", "json").output)
    assert [row["lab"] for row in as_json["labs"]] == ["elasticache-lab-ec2-alice", "elasticache-lab-ec2-bob"]
    assert all(0 < row["time_left"] <= 7200 for row in as_json["labs"])


def test_open_without_a_lab_is_bad_input(workdir):
    result = invoke("open", "no-such-lab", "--dry-run")
    assert result.exit_code == 2 and "no live lab 'no-such-lab'" in result.output
