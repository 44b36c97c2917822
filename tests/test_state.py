"""The run record: written as it goes, owner-only, one row per step and kind."""

import json
import os
import stat

from ops.engine.records import LocalRecords
from ops.engine.state import RunState, new_run_id
from ops.model import Resource


def test_run_ids_fit_resource_names():
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 8 and i[0].isalpha() and i == i.lower() for i in ids)


def test_state_file_is_owner_only_and_survives_reload(tmp_path):
    path = tmp_path / ".ops" / "state" / "lab.json"
    state = RunState.start(path, "lab", "playbooks/lab.yaml", "us-east-1", dry_run=False)
    resource = Resource(step="redis", type="elasticache.cluster", kind="cache-cluster", id="c1", region="us-east-1")
    state.record(resource)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = RunState.load(path)
    assert again.run_id == state.run_id
    assert [r.id for r in again.live()] == ["c1"]
    assert again.live()[0].status == "intent"


def test_intent_then_created_updates_the_same_row(tmp_path):
    state = RunState.start(tmp_path / "s.json", "lab", "p", "us-east-1", dry_run=False)
    resource = Resource(
        step="ingress", type="ec2.ingress", kind="ingress-rule", id="sg-1:tcp:6379:sg-2", region="us-east-1"
    )
    state.record(resource)
    resource.id, resource.status = "sgr-123", "created"
    state.record(resource)
    rows = json.loads((tmp_path / "s.json").read_text())["resources"]
    assert len(rows) == 1 and rows[0]["id"] == "sgr-123" and rows[0]["status"] == "created"


def test_teardown_order_is_newest_first_and_skips_what_is_not_ours(tmp_path):
    state = RunState.start(tmp_path / "s.json", "lab", "p", "us-east-1", dry_run=False)
    for step, ours in (("a", True), ("b", False), ("c", True)):
        state.record(
            Resource(
                step=step, type="t", kind="k", id=step, region="r", ours=ours, status="created" if ours else "adopted"
            )
        )
    assert [r.id for r in state.to_delete()] == ["c", "a"]
    done = state.resources()[2]
    done.status = "deleted"
    state.record(done)
    assert [r.id for r in state.to_delete()] == ["a"]


def test_a_write_cut_short_leaves_no_second_record(tmp_path):
    from ops.commands.status import all_states

    state = RunState.start(tmp_path / ".ops" / "state" / "lab.json", "lab", "p", "us-east-1", dry_run=False)
    (state.path.parent / ".state-abc123.json").write_text(state.path.read_text())  # SIGKILL during a save
    assert [s.data["lab"] for s in all_states(LocalRecords(tmp_path, dry_run=False))] == ["lab"]


def test_a_real_runs_record_reaches_the_disk_before_it_replaces_the_last_and_a_dry_runs_need_not(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    for dry_run in (False, True):
        state = RunState.start(LocalRecords(tmp_path, dry_run).slot("lab"), "lab", "p", "us-east-1", dry_run=dry_run)
        state.record(
            Resource(step="redis", type="elasticache.cluster", kind="cache-cluster", id="c1", region="us-east-1")
        )
    assert len(synced) == 2 and all("/.ops/state/.state-" in path for path in synced), synced
