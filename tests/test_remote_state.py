"""Records in S3 (--state s3://BUCKET/PREFIX): conditional writes, a lock per lab with a lease,
`ops unlock`, `ops status --state`, `ops state push|pull`, and the failure cases.

Dry runs keep the S3 records in the simulated account's S3 (moto); runs "on AWS" here go to
a moto server on 127.0.0.1 through AWS_ENDPOINT_URL, which two working directories share
like two machines share a real bucket.
"""

import json
import os
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from harness import move_calendar, realtime_config, start_ops

from ops.cli import cli
from ops.engine.lock import LabLock, LockOptions, hold_locks
from ops.engine.records import Location, S3Records, StaleRecord, parse_location
from ops.engine.state import RecordKeptLocally, RunState
from ops.engine.target import RunTarget, open_target
from ops.errors import BadInput
from ops.model import Resource
from ops.paths import sim_home

STATE = "s3://team-ops-state/labs"
TABLE_LAB = """\
name: shared-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
  - name: second
    type: dynamodb.table
    needs: [table]
    with:
      table_name: more-${{ run.id }}
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def simulated_s3(workdir):
    """The S3 of the dry runs' simulated account in workdir (a context manager)."""
    return open_target(True, "us-east-1", None, {"home": sim_home(workdir)})


def read_json(s3, key, bucket="team-ops-state"):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def put_lock(s3, lab, who, pid, renewed_ago, lease=120.0):
    now = time.time()
    body = {
        "id": "someone-else",
        "who": who,
        "pid": pid,
        "command": "ops run lab.yaml",
        "acquired_at": now - renewed_ago - 60,
        "renewed_at": now - renewed_ago,
        "lease_seconds": lease,
    }
    s3.put_object(Bucket="team-ops-state", Key=f"labs/{lab}.lock", Body=json.dumps(body).encode())


# --- the store and its conditional writes ----------------------------------------------


def test_location_is_checked_as_input():
    assert parse_location("s3://my-bucket/a/b/").url == "s3://my-bucket/a/b"
    assert parse_location("s3://my-bucket").key("x.json") == "x.json"
    for bad in ("my-bucket/labs", "s3://", "s3://UPPER/labs", "s3://a/labs"):
        with pytest.raises(BadInput):
            parse_location(bad)


def test_bad_state_flag_is_bad_input_and_creates_nothing(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    result = invoke("run", "lab.yaml", "--dry-run", "--state", "team-ops-state/labs")
    assert result.exit_code == 2, result.output
    assert "is not s3://BUCKET/PREFIX" in result.output and "Traceback" not in result.output
    assert not (workdir / ".ops").exists()
    (workdir / "ops.yaml").write_text("state: s3://Bad_Bucket/x\n")
    result = invoke("run", "lab.yaml", "--dry-run", "--config", "ops.yaml")
    assert result.exit_code == 2 and "ops.yaml:1:" in result.output and "bucket name" in result.output


def test_state_in_a_config_file_is_used_like_the_flag(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    (workdir / "team.yaml").write_text(f"state: {STATE}\nlock_timeout: 30s\n")
    result = invoke("run", "lab.yaml", "--dry-run", "--keep", "--config", "team.yaml")
    assert result.exit_code == 0, result.output
    assert not (workdir / ".ops/dry-run/state").exists()
    assert "shared-lab" in invoke("status", "--dry-run", "--config", "team.yaml").output
    assert invoke("teardown", "shared-lab", "--dry-run", "--config", "team.yaml").exit_code == 0
    (workdir / "bad.yaml").write_text("lock_lease: soon\n")
    result = invoke("run", "lab.yaml", "--dry-run", "--config", "bad.yaml")
    assert result.exit_code == 2 and "bad.yaml:1:" in result.output and "lock_lease" in result.output


def test_a_write_based_on_a_stale_copy_is_refused(workdir):
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")
        store = S3Records(parse_location(STATE), aws)
        mine = RunState.start(store.slot("lab"), "lab", "p", "us-east-1", dry_run=True)
        theirs = RunState.load(store.slot("lab"))  # another process reads the same version
        mine.record(Resource("table", "dynamodb.table", "dynamodb-table", "t1", "us-east-1", status="created"))
        with pytest.raises(StaleRecord, match="changed by someone else"):
            theirs.record(Resource("table", "dynamodb.table", "dynamodb-table", "t2", "us-east-1"))
        stored = read_json(aws.client("s3"), "labs/lab.json")
        assert [r["id"] for r in stored["resources"]] == ["t1"]  # their stale write did not land
        assert stored["serial"] == 2

        # with a local fallback, the refused writer keeps its record here and asks its run to stop
        from ops.engine.records import LocalSlot

        theirs.fallback = LocalSlot(workdir / "kept.json")
        theirs.record(Resource("table", "dynamodb.table", "dynamodb-table", "t2", "us-east-1", status="created"))
        assert isinstance(theirs.problem, RecordKeptLocally)
        assert "kept.json" in theirs.problem.message
        assert [r["id"] for r in json.loads((workdir / "kept.json").read_text())["resources"]] == ["t2"]
        assert oct((workdir / "kept.json").stat().st_mode & 0o777) == "0o600"


def test_missing_or_denied_bucket_is_a_clear_error(workdir):
    with simulated_s3(workdir) as aws:
        store = S3Records(Location("no-such-bucket-here", "labs/"), aws)
        with pytest.raises(BadInput, match="'no-such-bucket-here' does not exist") as missing:
            store.slot("lab").read()
        assert "aws s3 mb s3://no-such-bucket-here" in missing.value.hint
        denied = ClientError(
            {
                "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            "PutObject",
        )
        problem = store.explain(denied, "write")
        assert isinstance(problem, BadInput)
        assert "s3:PutObject" in problem.hint and "arn:aws:s3:::no-such-bucket-here/labs/*" in problem.hint


# --- locks -------------------------------------------------------------------------------


def test_a_lock_is_exclusive_renewed_and_released(workdir):
    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="team-ops-state")
        store = S3Records(parse_location(STATE), aws)
        first = LabLock(store, "lab", lease=0.4)
        holder = first.acquire()
        first_renewal = holder.renewed_at
        time.sleep(0.5)
        assert first.holder.renewed_at > first_renewal  # renewed while held
        # S3 holds that renewal, or a later one (the renewer writes S3, then its holder)
        before = first.holder.renewed_at
        assert read_json(s3, "labs/lab.lock")["renewed_at"] >= before > first_renewal
        from ops.engine.lock import Locked

        with pytest.raises(Locked, match=f"pid {os.getpid()}"):
            LabLock(store, "lab").acquire(wait=0)
        first.release()
        assert s3.list_objects_v2(Bucket="team-ops-state", Prefix="labs/").get("KeyCount") == 0
        second = LabLock(store, "lab")
        second.acquire(wait=0)
        second.release()


def test_the_account_wide_lock_beside_the_records_takes_over_a_holder_gone_for_a_lease(workdir):
    """Held for a few IAM calls at a time (tests/test_iam_shared.py): a holder whose lease ran
    out is gone, so the next run takes its lock over at once, where a lab's needs ops unlock."""
    from ops.engine.account_wide import AccountLock
    from ops.engine.lock import Locked

    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="team-ops-state")
        store = S3Records(parse_location(STATE), aws)
        gone = {"id": "x", "who": "ci@runner-7", "pid": 1, "command": "ops run lab.yaml", "lease_seconds": 120.0}
        gone.update(acquired_at=time.time() - 400, renewed_at=time.time() - 300)
        s3.put_object(Bucket="team-ops-state", Key="labs/_account/iam.lock", Body=json.dumps(gone).encode())
        lock = AccountLock(store)
        lock.acquire(0)
        assert read_json(s3, "labs/_account/iam.lock")["pid"] == os.getpid()
        with pytest.raises(Locked, match="account-wide IAM lock s3://team-ops-state/labs/_account/iam.lock"):
            AccountLock(store).acquire(0)  # a live holder: waited for, never taken over
        lock.release()
        assert s3.list_objects_v2(Bucket="team-ops-state", Prefix="labs/").get("KeyCount") == 0
        assert store.slots() == []  # not a lab's record


def test_a_deleted_lock_is_lost_at_the_next_renewal_not_when_the_lease_ends(workdir):
    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="team-ops-state")
        lock = LabLock(S3Records(parse_location(STATE), aws), "lab", lease=60)
        lost = []
        lock.acquire(on_lost=lost.append)
        lock._stop.set()  # renew now, not in 15 s: restart the loop with a short period
        lock._renewer.join()
        lock.lease = 0.4
        s3.delete_object(Bucket="team-ops-state", Key="labs/lab.lock")  # 'ops unlock' by someone else
        lock._start_renewing()
        deadline = time.monotonic() + 5
        while not lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lost and "taken over (deleted)" in lost[0].message
        lock.release()
        assert s3.list_objects_v2(Bucket="team-ops-state").get("KeyCount") == 0


def test_a_lock_taken_over_is_lost_and_the_record_goes_local(workdir):
    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="team-ops-state")
        store = S3Records(parse_location(STATE), aws)
        from ops.engine.records import LocalSlot

        state = RunState.start(
            store.slot("lab"), "lab", "p", "us-east-1", dry_run=True, fallback=LocalSlot(workdir / "local.json")
        )
        lost = []
        with hold_locks(
            store,
            ["lab"],
            LockOptions(lease=0.4),
            reporter=None,
            on_lost=lambda lab, problem: (lost.append(problem), state.lose_lock(problem)),
        ):
            put_lock(s3, "lab", "bob@ci", 777, renewed_ago=0)  # someone ran 'ops unlock --force' and took it
            deadline = time.monotonic() + 5
            while not lost and time.monotonic() < deadline:
                time.sleep(0.05)
            assert lost and "taken over by bob@ci" in lost[0].message
            state.record(Resource("table", "dynamodb.table", "dynamodb-table", "t1", "us-east-1", status="created"))
        assert isinstance(state.problem, RecordKeptLocally)
        assert read_json(s3, "labs/lab.lock")["who"] == "bob@ci"  # release left the new holder's lock alone
        assert read_json(s3, "labs/lab.json")["resources"] == []  # nothing more written to the shared record
        assert json.loads((workdir / "local.json").read_text())["resources"][0]["id"] == "t1"


def test_run_on_a_locked_lab_fails_with_the_holder_and_creates_nothing(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")
        put_lock(aws.client("s3"), "shared-lab", "alice@laptop", 4242, renewed_ago=5)
    for command in (["run", "lab.yaml"], ["teardown", "shared-lab"]):
        if command[0] == "teardown":  # a record with something live, so teardown has work to lock for
            with simulated_s3(workdir) as aws:
                aws.client("s3").put_object(
                    Bucket="team-ops-state",
                    Key="labs/shared-lab.json",
                    Body=json.dumps(
                        {
                            "version": 1,
                            "lab": "shared-lab",
                            "playbook": "lab.yaml",
                            "region": "us-east-1",
                            "dry_run": True,
                            "run_id": "rabcdefg",
                            "resources": [
                                {
                                    "step": "table",
                                    "type": "dynamodb.table",
                                    "kind": "dynamodb-table",
                                    "id": "t",
                                    "region": "us-east-1",
                                    "status": "created",
                                }
                            ],
                        }
                    ).encode(),
                )
        result = invoke(*command, "--dry-run", "--state", STATE)
        assert result.exit_code == 3, result.output
        assert "locked by alice@laptop (pid 4242, 'ops run lab.yaml')" in result.output
        assert "--lock-timeout" in result.output and "Traceback" not in result.output
    with simulated_s3(workdir) as aws:
        assert aws.client("dynamodb").list_tables()["TableNames"] == []


def test_an_expired_lease_is_taken_over_with_unlock_after_confirmation(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")
        put_lock(aws.client("s3"), "shared-lab", "alice@laptop", 4242, renewed_ago=600, lease=120)
    result = invoke("run", "lab.yaml", "--dry-run", "--state", STATE)
    assert result.exit_code == 3
    assert "lease ran out 8m" in result.output and f"ops unlock shared-lab --state {STATE}" in result.output

    result = invoke("unlock", "shared-lab", "--dry-run", "--state", STATE)  # nobody at a terminal to confirm
    assert result.exit_code == 2 and "--yes" in result.output
    result = invoke("unlock", "shared-lab", "--dry-run", "--state", STATE, "--yes")
    assert result.exit_code == 0, result.output
    assert "alice@laptop" in result.output and "removed the lock" in result.output
    assert "is not locked" in invoke("unlock", "shared-lab", "--dry-run", "--state", STATE).output

    result = invoke("run", "lab.yaml", "--dry-run", "--state", STATE, "--keep")
    assert result.exit_code == 0, result.output
    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-ops-state")["Contents"]]
        # the lock is released; the record stays, and the team's wait history beside it
        assert keys == ["labs/_waits.json", "labs/shared-lab.json"]
        record = read_json(s3, "labs/shared-lab.json")
        assert {r["status"] for r in record["resources"]} == {"created"}
    assert invoke("teardown", "shared-lab", "--dry-run", "--state", STATE).exit_code == 0


def test_unlock_refuses_a_running_lease_unless_forced(workdir):
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")
        put_lock(aws.client("s3"), "shared-lab", "alice@laptop", 4242, renewed_ago=1)
    result = invoke("unlock", "shared-lab", "--dry-run", "--state", STATE, "--yes")
    assert result.exit_code == 3 and "lease is still running" in result.output and "--force" in result.output
    result = invoke("unlock", "shared-lab", "--dry-run", "--state", STATE, "--yes", "--force")
    assert result.exit_code == 0, result.output
    assert invoke("unlock", "x", "--dry-run").exit_code == 2  # no location: bad input


def test_a_forced_unlock_takes_over_a_lock_its_holder_renews_meanwhile(workdir):
    """--force takes over the holder the user confirmed, even when that holder renews its lease
    between the read and the delete (a lease of seconds renews often); a lease that had run
    out and is renewed meanwhile means its holder lives: without --force that is refused."""
    from ops.commands.remote import unlock
    from ops.engine.lock import Locked

    target = RunTarget(workdir, dry_run=True, location=parse_location(STATE))
    with simulated_s3(workdir) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="team-ops-state")
        put_lock(s3, "shared-lab", "alice@laptop", 4242, renewed_ago=1)

        def confirm_while_it_renews(description):
            put_lock(s3, "shared-lab", "alice@laptop", 4242, renewed_ago=0)  # same holder, new lease: new ETag
            return True

        said = unlock("shared-lab", target, force=True, confirm=confirm_while_it_renews)
        assert "removed the lock" in said
        assert "Contents" not in s3.list_objects_v2(Bucket="team-ops-state", Prefix="labs/shared-lab.lock")

        put_lock(s3, "shared-lab", "alice@laptop", 4242, renewed_ago=600, lease=120)  # ran out
        with pytest.raises(Locked, match="changed while you were deciding"):
            unlock("shared-lab", target, force=False, confirm=confirm_while_it_renews)


# --- status, push and pull ---------------------------------------------------------------


def test_status_push_and_pull_move_a_lab_between_here_and_s3(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    # no expiry: the switch's pieces would count among the live resources moved
    assert invoke("run", "lab.yaml", "--dry-run", "--keep", "--ttl", "none").exit_code == 0
    local = workdir / ".ops/dry-run/state/shared-lab.json"
    before = json.loads(local.read_text())
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")

    result = invoke("state", "push", "shared-lab", "--dry-run", "--state", STATE)
    assert result.exit_code == 0, result.output
    assert f"to {STATE}/shared-lab.json" in result.output and "2 live resource(s)" in result.output
    assert not local.exists()
    status = invoke("status", "--dry-run", "--state", STATE, "--output", "json")
    labs = json.loads(status.output)
    assert [lab["lab"] for lab in labs] == ["shared-lab"] and labs[0]["run_id"] == before["run_id"]
    assert {r["state"] for r in labs[0]["resources"]} == {"ACTIVE"} and labs[0]["locked_by"] is None
    assert "no labs recorded here" in invoke("status", "--dry-run").output

    result = invoke("state", "pull", "shared-lab", "--dry-run", "--state", STATE)
    assert result.exit_code == 0, result.output
    after = json.loads(local.read_text())
    assert after["resources"] == before["resources"] and after["run_id"] == before["run_id"]
    assert "no labs recorded in" in invoke("status", "--dry-run", "--state", STATE).output
    assert invoke("teardown", "shared-lab", "--dry-run").exit_code == 0


def test_push_refuses_to_hide_another_runs_live_resources(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    assert invoke("run", "lab.yaml", "--dry-run", "--keep", "--state", STATE).exit_code == 0
    assert invoke("run", "lab.yaml", "--dry-run", "--keep").exit_code == 0  # a run recorded here too
    again = invoke("run", "lab.yaml", "--dry-run", "--keep", "--state", STATE)  # resumes the S3 run, and says
    assert again.exit_code == 0 and "this folder also has a record of lab 'shared-lab'" in again.output
    result = invoke("state", "push", "shared-lab", "--dry-run", "--state", STATE)
    assert result.exit_code == 2 and "would hide them" in result.output
    assert (workdir / ".ops/dry-run/state/shared-lab.json").exists()  # nothing moved
    assert invoke("teardown", "shared-lab", "--dry-run").exit_code == 0
    assert invoke("teardown", "shared-lab", "--dry-run", "--state", STATE).exit_code == 0


# --- failures in the middle of a run --------------------------------------------------------


def test_s3_failing_mid_run_stops_the_run_and_keeps_the_record_here(workdir):
    import io

    from ops.commands.config import load_settings
    from ops.commands.lab import run_labs
    from ops.output import Reporter
    from ops.sim.faults import FaultPlan
    from tests.harness import playbook_from

    settings, _, _ = load_settings(())
    stream = io.StringIO()
    # S3 answers the first few writes (the lock, the new record), then fails every write
    plan = FaultPlan(seed=1, server_error=1.0, services=["s3"], from_call=4)
    with pytest.raises(RecordKeptLocally) as stopped:
        run_labs(
            playbook_from(TABLE_LAB),
            RunTarget(
                workdir,
                dry_run=True,
                region="us-east-1",
                location=parse_location(STATE),
                throwaway=True,
                sim_faults=plan,
            ),
            reporter=Reporter("json", stream),
            settings=settings,
            keep=False,
        )
    local = workdir / ".ops/dry-run/state/shared-lab.json"
    assert str(local) in stopped.value.message and "ops state push shared-lab" in stopped.value.hint
    kept = json.loads(local.read_text())
    assert any(r["status"] == "created" for r in kept["resources"])
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert not any(e["event"] == "step_started" and e["step"] == "second" for e in events)  # stopped in time
    assert not any(e["event"] == "resource_deleted" for e in events)  # no teardown without a record to write


# --- two processes, two machines ---------------------------------------------------------------

SLOW = realtime_config({"dynamodb.create": "4s"})


def start_run(workdir, *extra):
    return start_ops(
        workdir, "run", "lab.yaml", "--dry-run", "--realtime", "--config", "slow.yaml", "--state", STATE, *extra
    )


def wait_for_lock(workdir, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (sim_home(workdir) / "store.json").exists():
            with simulated_s3(workdir) as aws:
                found = aws.client("s3").list_objects_v2(Bucket="team-ops-state", Prefix="labs/")
                if any(o["Key"].endswith(".lock") for o in found.get("Contents", [])):
                    return read_json(aws.client("s3"), "labs/shared-lab.lock")
        time.sleep(0.2)
    raise AssertionError("the first run never took the lock")


def wait_for_a_recorded_resource(workdir, timeout=60):
    """Until the shared record names a resource (the run has begun to create, not just locked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with simulated_s3(workdir) as aws:
            s3 = aws.client("s3")
            found = s3.list_objects_v2(Bucket="team-ops-state", Prefix="labs/shared-lab.json")
            if found.get("Contents") and read_json(s3, "labs/shared-lab.json").get("resources"):
                return
        time.sleep(0.2)
    raise AssertionError("the first run never recorded a resource")


# One table, deleted quickly: the lock is held for one creation and one deletion (~10 s of real
# polls), not two of each.
ONE_TABLE_LAB = TABLE_LAB.split("  - name: second")[0]
QUICK_DELETE = realtime_config({"dynamodb.create": "4s", "dynamodb.delete": "1s"})


@pytest.mark.long
def test_two_processes_on_one_lab_one_fails_one_waits(workdir):
    (workdir / "lab.yaml").write_text(ONE_TABLE_LAB)
    (workdir / "slow.yaml").write_text(QUICK_DELETE)
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")
    first = start_run(workdir)
    holder = wait_for_lock(workdir)
    assert holder["pid"] == first.pid
    impatient = start_run(workdir)
    patient = start_run(workdir, "--lock-timeout", "2m", "--keep")
    out, err = impatient.communicate(timeout=120)
    assert impatient.returncode == 3, out + err
    assert f"pid {first.pid}" in out + err
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_out + first_err
    out, err = patient.communicate(timeout=180)
    assert patient.returncode == 0, out + err
    assert "is locked by" in out and "waiting up to 2m" in out
    with simulated_s3(workdir) as aws:
        record = read_json(aws.client("s3"), "labs/shared-lab.json")
        assert record["written_by"].endswith(f":{patient.pid}")
        assert {r["status"] for r in record["resources"]} == {"created"}
    assert invoke("teardown", "shared-lab", "--dry-run", "--state", STATE).exit_code == 0


def test_a_run_whose_lock_is_taken_over_stops_and_keeps_its_record(workdir):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    (workdir / "slow.yaml").write_text(realtime_config({"dynamodb.create": "4s"}, lock_lease="1s"))
    with simulated_s3(workdir) as aws:
        aws.client("s3").create_bucket(Bucket="team-ops-state")
    run = start_run(workdir)
    wait_for_lock(workdir)
    wait_for_a_recorded_resource(workdir)  # taken over before that, the run has nothing to keep
    result = invoke("unlock", "shared-lab", "--dry-run", "--state", STATE, "--yes", "--force")
    assert result.exit_code == 0, result.output
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, out + err
    assert "lost the lock of lab 'shared-lab'" in out + err
    kept = json.loads((workdir / ".ops/dry-run/state/shared-lab.json").read_text())
    assert kept["resources"]  # what it made is recorded here
    assert invoke("teardown", "shared-lab", "--dry-run").exit_code == 0


def test_teardown_from_the_shared_record_on_another_machine(emulator, tmp_path, monkeypatch):
    s3 = boto3.client("s3", endpoint_url=emulator, region_name="eu-west-1")
    dynamodb = boto3.client("dynamodb", endpoint_url=emulator, region_name="eu-west-1")
    laptop, ci = tmp_path / "laptop", tmp_path / "ci"
    laptop.mkdir(), ci.mkdir()
    (laptop / "lab.yaml").write_text(TABLE_LAB)
    monkeypatch.chdir(laptop)
    result = invoke("run", "lab.yaml", "--region", "eu-west-1", "--state", STATE)
    assert result.exit_code == 2, result.output
    assert "'team-ops-state' does not exist" in result.output and "aws s3 mb" in result.output
    assert dynamodb.list_tables()["TableNames"] == []  # nothing created
    s3.create_bucket(Bucket="team-ops-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    result = invoke("run", "lab.yaml", "--region", "eu-west-1", "--keep", "--state", STATE)
    assert result.exit_code == 0, result.output
    assert f"ops teardown lab.yaml --region eu-west-1 --state {STATE}" in result.output
    assert len(dynamodb.list_tables()["TableNames"]) == 2
    assert not (laptop / ".ops/state").exists()  # the record is in S3 only

    monkeypatch.chdir(ci)  # another machine: nothing local
    status = invoke("status", "--state", STATE, "--region", "eu-west-1")
    assert "shared-lab" in status.output and "ACTIVE" in status.output
    result = invoke("teardown", "shared-lab", "--state", STATE, "--region", "eu-west-1")
    assert result.exit_code == 0, result.output
    assert dynamodb.list_tables()["TableNames"] == []
    record = json.loads(s3.get_object(Bucket="team-ops-state", Key="labs/shared-lab.json")["Body"].read())
    assert {r["status"] for r in record["resources"]} == {"deleted"}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="team-ops-state")["Contents"]] == ["labs/shared-lab.json"]
    assert not (ci / ".ops/state").exists()


def test_iam_policy_with_state_covers_every_s3_call_of_a_run_status_and_teardown(workdir, monkeypatch):
    import botocore.client

    from ops.commands.iam_policy import policy_for
    from ops.engine.playbook import load_playbook

    (workdir / "lab.yaml").write_text(TABLE_LAB)
    calls = []
    real = botocore.client.BaseClient._make_api_call

    def record(client, operation, params):
        if client.meta.service_model.service_name == "s3":
            calls.append((operation, params.get("Key", "")))
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    assert invoke("run", "lab.yaml", "--dry-run", "--keep", "--state", STATE).exit_code == 0
    assert invoke("status", "--dry-run", "--state", STATE).exit_code == 0
    assert invoke("teardown", "shared-lab", "--dry-run", "--state", STATE).exit_code == 0
    needs = {
        "GetObject": "s3:GetObject",
        "PutObject": "s3:PutObject",
        "DeleteObject": "s3:DeleteObject",
        "ListObjectsV2": "s3:ListBucket",
        "HeadBucket": "s3:ListBucket",
    }
    dry_run_only = {"CreateBucket", "ListBuckets"}  # the simulated account's bucket, and ending it when idle
    ours = [(op, key) for op, key in calls if op not in dry_run_only]
    assert {op for op, _ in ours} >= {"GetObject", "PutObject", "DeleteObject", "ListObjectsV2"}
    assert set(needs) >= {op for op, _ in ours}
    policy = policy_for(load_playbook(str(workdir / "lab.yaml")), parse_location(STATE))
    granted = {}
    for statement in policy["Statement"]:
        for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
            granted[action] = statement["Resource"]
    for op, key in ours:
        assert needs[op] in granted
        if key:
            assert granted[needs[op]] == "arn:aws:s3:::team-ops-state/labs/*" and key.startswith("labs/")


def test_expired_labs_of_the_team_are_flagged_and_swept(workdir, monkeypatch):
    (workdir / "lab.yaml").write_text(TABLE_LAB)
    assert invoke("run", "lab.yaml", "--dry-run", "--keep", "--ttl", "1s", "--state", STATE).exit_code == 0
    move_calendar(monkeypatch, 3600)  # past the run's simulated end, plus its 1 s TTL
    text = invoke("status", "--dry-run", "--state", STATE).output
    assert f"EXPIRED: ops sweep --expired --state {STATE} removes it" in text
    # nothing recorded here, but the lab's resources carry their expiry: found by tag, kept without --yes
    here = invoke("sweep", "--expired", "--dry-run").output
    assert "expired by their ops:expires tag" in here and "shared-lab" in here and "preview only" in here
    preview = invoke("sweep", "--expired", "--dry-run", "--state", STATE)
    assert preview.exit_code == 0 and "preview only" in preview.output
    result = invoke("sweep", "--expired", "--dry-run", "--state", STATE, "--yes")
    assert result.exit_code == 0, result.output
    assert "teardown complete" in result.output
    assert not (workdir / ".ops/dry-run/account").exists()  # nothing left: the simulated account ended


def test_a_holder_without_a_user_name_is_still_described(monkeypatch):
    import getpass

    from ops.engine.lock import me

    def nameless():
        raise KeyError("getpwuid(): uid not found: 1234")

    monkeypatch.setattr(getpass, "getuser", nameless)
    holder = me(60)
    assert holder.who.startswith(f"uid {os.getuid()}@") and holder.pid == os.getpid()
    assert "lease renewed" in holder.describe()
