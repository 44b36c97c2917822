"""`ops status`, --ttl and `ops sweep --expired`."""
import json
import time

import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from ops.cli import cli
from ops.pricing import Prices
from ops.state import RunState
from ops.status import lab_status
from ops.steps.base import Resource

LAB = """\
name: status-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
      seed: false
"""


@pytest.fixture
def emulator(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    yield
    server.stop()


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_status_shows_live_state_then_ttl_expiry_and_sweep_expired(emulator, workdir):
    (workdir / "lab.yaml").write_text(LAB)
    assert invoke("run", "lab.yaml", "--region", "us-east-1", "--keep", "--ttl", "1s").exit_code == 0
    doc = json.loads(invoke("status", "--output", "json", "--region", "us-east-1").output)
    [lab] = doc
    assert lab["lab"] == "status-lab" and lab["resources"][0]["state"] == "ACTIVE"
    time.sleep(1.2)  # let the 1 s TTL pass
    text = invoke("status").output
    assert "EXPIRED: ops sweep --expired removes it" in text
    preview = invoke("sweep", "--expired")
    assert "expired" in preview.output and "add --yes" in preview.output
    assert json.loads(invoke("status", "--output", "json").output)[0]["resources"][0]["state"] == "ACTIVE"
    assert invoke("sweep", "--expired", "--yes").exit_code == 0
    assert invoke("status").output.strip() == "ops: no labs recorded here."


def test_cost_so_far_comes_from_the_price_list(tmp_path):
    state = RunState.start(tmp_path / "s.json", "lab", "p", "us-east-1", dry_run=False)
    state.record(Resource(step="redis", type="elasticache.cluster", kind="cache-cluster", id="c1",
                          region="us-east-1", status="created", attrs={"node_type": "cache.t3.micro"}))
    state.record(Resource(step="cloud9", type="cloud9.environment", kind="iam-role", id="r", region="us-east-1",
                          ours=False, status="adopted"))
    recorded = time.mktime(time.strptime(state.data["resources"][0]["recorded_at"], "%Y-%m-%dT%H:%M:%SZ")) \
        - time.timezone
    status = lab_status(state, None, Prices.load(), now=recorded + 7200)
    cluster = status.rows[0]
    assert cluster.hourly == pytest.approx(0.017) and cluster.cost == pytest.approx(0.034)
    assert status.rows[1].hourly is None  # not ours, not billed to the lab
    assert status.hourly == pytest.approx(0.017)
