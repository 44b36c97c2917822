"""`ops plan` and the preview `ops run` shows before creating anything billable."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ops.cli
from ops.cli import cli

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_plan_lists_creates_adoptions_changes_and_the_hourly_cost(workdir):
    result = invoke("plan", LAB, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "+ create  cache cluster ops-lab-<run id>: redis, 1 x cache.t3.micro, no replicas" in out
    assert "~ change  add inbound tcp/6379 to <redis.security_group_id> from <cloud9.security_group_id>" in out
    assert "about $0.027/hour" in out and "prices taken 2026-11-01" in out  # cache.t3.micro + t3.micro
    assert "[ok] the account can use Cloud9." in out and "Ready to run." in out
    assert not (workdir / ".ops/dry-run/state").exists()  # a plan records nothing


def test_plan_warns_about_previous_generation_nodes(workdir):
    result = invoke("plan", LAB, "--dry-run", "--var", "node_type=cache.t2.micro", "--output", "json")
    doc = json.loads(result.output)
    warnings = [f["text"] for f in doc["findings"] if f["level"] == "warning"]
    assert any("cache.t2.micro is a previous-generation" in w and "cache.t3.micro" in w for w in warnings)
    assert doc["ready"] is True and doc["hourly_usd"] == pytest.approx(0.0274)


EMULATED = """\
name: plan-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
"""


def test_run_on_a_terminal_shows_the_plan_and_asks(emulator, workdir, monkeypatch):
    (workdir / "lab.yaml").write_text(EMULATED)
    monkeypatch.setattr(ops.cli, "interactive", lambda: True)
    declined = invoke("run", "lab.yaml", "--region", "us-east-1", input="n\n")
    assert declined.exit_code == 1
    assert "+ create  DynamoDB table reviews-<run id>" in declined.output
    assert "Create these resources? [y/N]" in declined.output and "nothing was created" in declined.output
    assert not (workdir / ".ops").exists()

    accepted = invoke("run", "lab.yaml", "--region", "us-east-1", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "lab completed and torn down" in accepted.output


def test_yes_skips_the_question(emulator, workdir, monkeypatch):
    (workdir / "lab.yaml").write_text(EMULATED)
    monkeypatch.setattr(ops.cli, "interactive", lambda: True)
    result = invoke("run", "lab.yaml", "--region", "us-east-1", "--yes")
    assert result.exit_code == 0 and "Create these resources?" not in result.output
