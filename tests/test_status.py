"""`ops status`, --ttl and `ops sweep --expired`."""

import json
import time

import pytest
from click.testing import CliRunner
from harness import move_calendar

from ops.cli import cli
from ops.commands.pricing import Prices
from ops.commands.status import lab_status
from ops.engine.state import RunState
from ops.model import Resource

LAB = """\
name: status-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
      seed: false
"""


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_status_shows_live_state_then_ttl_expiry_and_sweep_expired(emulator, workdir, monkeypatch):
    (workdir / "lab.yaml").write_text(LAB)
    assert invoke("run", "lab.yaml", "--region", "us-east-1", "--keep", "--ttl", "1s").exit_code == 0
    doc = json.loads(invoke("status", "--output", "json", "--region", "us-east-1").output)
    [lab] = doc
    table = next(r for r in lab["resources"] if r["kind"] == "dynamodb-table")
    assert lab["lab"] == "status-lab" and table["state"] == "ACTIVE"
    move_calendar(monkeypatch, 2)  # let the 1 s TTL pass
    text = invoke("status").output
    assert "EXPIRED: ops sweep --expired removes it" in text
    preview = invoke("sweep", "--expired")
    assert "expired" in preview.output and "add --yes" in preview.output
    [lab] = json.loads(invoke("status", "--output", "json").output)
    assert next(r for r in lab["resources"] if r["kind"] == "dynamodb-table")["state"] == "ACTIVE"
    assert invoke("sweep", "--expired", "--yes").exit_code == 0
    assert invoke("status").output.strip() == "ops: no labs recorded here."


def test_cost_so_far_comes_from_the_price_list(tmp_path):
    state = RunState.start(tmp_path / "s.json", "lab", "p", "us-east-1", dry_run=False)
    state.record(
        Resource(
            step="redis",
            type="elasticache.cluster",
            kind="cache-cluster",
            id="c1",
            region="us-east-1",
            status="created",
            attrs={"node_type": "cache.t3.micro"},
        )
    )
    state.record(
        Resource(
            step="cloud9",
            type="cloud9.environment",
            kind="iam-role",
            id="r",
            region="us-east-1",
            ours=False,
            status="adopted",
        )
    )
    recorded = (
        time.mktime(time.strptime(state.data["resources"][0]["recorded_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    )
    status = lab_status(state, None, Prices.load(), now=recorded + 7200)
    cluster = status.rows[0]
    assert cluster.hourly == pytest.approx(0.017) and cluster.cost == pytest.approx(0.034)
    assert status.rows[1].hourly is None  # not ours, not billed to the lab
    assert status.hourly == pytest.approx(0.017)


def test_status_prices_the_client_host_and_the_replication_group(workdir):
    from pathlib import Path

    valkey = Path(__file__).resolve().parent.parent / "playbooks" / "lab-valkey.yaml"
    assert invoke("run", str(valkey), "--dry-run", "--keep").exit_code == 0
    labs = json.loads(invoke("status", "--dry-run", "--output", "json").output)
    rows = {row["kind"]: row for row in labs[0]["resources"]}
    prices = Prices.load()
    assert rows["replication-group"]["state"] == "available"
    assert rows["replication-group"]["hourly_usd"] == prices.hourly("us-east-1", "elasticache", "cache.t3.micro")
    assert rows["ec2-instance"]["state"] == "running"
    assert rows["ec2-instance"]["hourly_usd"] == prices.hourly("us-east-1", "ec2", "t3.micro") > 0
    assert labs[0]["hourly_usd"] == pytest.approx(
        rows["replication-group"]["hourly_usd"] + rows["ec2-instance"]["hourly_usd"], abs=1e-4
    )
    assert invoke("teardown", "elasticache-lab-valkey", "--dry-run").exit_code == 0
