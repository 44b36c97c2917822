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


@pytest.mark.long
def test_status_names_a_class_copies_with_their_state_url_time_left_and_cost(workdir):
    """`ops status LAB --names` (or --count): every copy named as `ops run --names` names them,
    kept, torn down or never made; a kept one's URL is `ops open`'s."""
    from pathlib import Path

    playbook = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")
    run = invoke("run", playbook, "--dry-run", "--keep", "--names", "a,b", "--ttl", "2h", "--var", "demo_reads=5")
    assert run.exit_code == 0, run.output
    assert invoke("teardown", "elasticache-lab-b", "--dry-run").exit_code == 0

    text = invoke("status", playbook, "--names", "a,b,c", "--dry-run")
    assert text.exit_code == 0, text.output
    header, a, b, c, total = text.output.splitlines()
    assert header.split() == ["LAB", "STATE", "URL", "TIME", "LEFT", "COST", "SO", "FAR"]
    url = json.loads(invoke("open", "elasticache-lab-a", "--dry-run", "--output", "json").output)["url"]
    name, state, shown_url, left, cost = a.split()
    assert (name, state, shown_url) == ("elasticache-lab-a", "kept", url) and "/cloud9/ide/" in url
    assert left.startswith(("1h", "2h")) and float(cost.lstrip("$")) > 0
    assert b.split() == ["elasticache-lab-b", "torn", "down", "-", "-", "-"]
    assert c.split() == ["elasticache-lab-c", "none", "-", "-", "-"]
    assert total == f"1 of 3 kept; about {cost} so far"

    copies = json.loads(invoke("status", "elasticache-lab", "--names", "a,b,c", "--dry-run", "--output", "json").output)
    rows = {row["lab"]: row for row in copies["copies"]}
    assert [row["state"] for row in copies["copies"]] == ["kept", "torn down", "none"]
    assert rows["elasticache-lab-a"]["url"] == url and 0 < rows["elasticache-lab-a"]["time_left_s"] <= 7200
    assert rows["elasticache-lab-a"]["cost_usd"] > 0 and rows["elasticache-lab-a"]["hourly_usd"] > 0
    assert rows["elasticache-lab-b"] == {
        "lab": "elasticache-lab-b",
        "state": "torn down",
        "url": None,
        "time_left_s": None,
        "cost_usd": None,
        "hourly_usd": None,
    }

    counted = invoke("status", "elasticache-lab", "--count", "2", "--dry-run", "--output", "json").output
    assert [(r["lab"], r["state"]) for r in json.loads(counted)["copies"]] == [
        ("elasticache-lab-1", "none"),
        ("elasticache-lab-2", "none"),
    ]
    recorded = json.loads(invoke("status", "elasticache-lab", "--dry-run", "--output", "json").output)
    assert [(r["lab"], r["state"]) for r in recorded["copies"]] == [
        ("elasticache-lab-a", "kept"),
        ("elasticache-lab-b", "torn down"),
    ]

    for bad in (
        ["--names", "a"],
        ["elasticache-lab", "--names", "a", "--count", "2"],
        ["elasticache-lab", "--names", "A!"],
    ):
        refused = invoke("status", *bad, "--dry-run")
        assert refused.exit_code == 2 and refused.output.startswith("ops: error: --"), refused.output
    assert invoke("teardown", "elasticache-lab-a", "--dry-run").exit_code == 0
