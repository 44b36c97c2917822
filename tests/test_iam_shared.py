"""The account-wide Cloud9 SSM role and instance profile (and the policies on the role) go with
the last lab out (issue 15): teardown deletes one only when no instance, no Cloud9 environment
and no other lab's record uses it, decided under the account-wide lock and asked again right
before each delete call; never one that ops's tags no longer claim."""

import contextlib
import io
import json
import threading
import time

import pytest
from click.testing import CliRunner
from harness import error_response, events, playbook_from, realtime_config, start_ops

from ops.cli import cli
from ops.commands.config import load_settings
from ops.commands.lab import run_labs
from ops.engine.inventory import tagged_resources
from ops.engine.playbook import load_playbook
from ops.engine.records import LocalRecords
from ops.engine.runner import Runner, teardown
from ops.engine.scheduler import Pool
from ops.engine.state import RunState
from ops.engine.target import RunTarget
from ops.errors import StepFailed
from ops.output import Reporter
from ops.sim.faults import FaultPlan

ROLE, PROFILE = "AWSCloud9SSMAccessRole", "AWSCloud9SSMInstanceProfile"
LAB = """\
name: {name}
steps:
  - name: client
    type: cloud9.environment
    with:
      name: {name}-${{{{ run.id }}}}
"""


def runner_in(records: LocalRecords, name: str, aws) -> Runner:
    """A run of the Cloud9 lab `name` whose record is kept with the other records in `records`."""
    settings, _, _ = load_settings(())
    state = RunState.start(records.slot(name), name, "test.yaml", aws.region, dry_run=True)
    return Runner(
        playbook_from(LAB.format(name=name)), aws, aws.clock, state, Reporter("json", io.StringIO()), settings
    )


def shared_pieces(world) -> dict:
    """What the account holds of the shared pieces (read past IAM's lag)."""
    iam = world.client("iam")
    found = {}
    try:
        profile = iam.get_instance_profile(InstanceProfileName=PROFILE)["InstanceProfile"]
        found["profile"] = [r["RoleName"] for r in profile["Roles"]]
    except iam.exceptions.NoSuchEntityException:
        pass
    try:
        iam.get_role(RoleName=ROLE)
        found["policies"] = sorted(
            p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
        )
    except iam.exceptions.NoSuchEntityException:
        pass
    return found


IN_PLACE = {"profile": [ROLE], "policies": ["AWSCloud9SSMInstanceProfile", "AmazonSSMManagedInstanceCore"]}


def kept(runner) -> dict:
    return {e["kind"]: e["reason"] for e in events(runner) if e["event"] == "resource_kept"}


def test_a_lab_that_adopted_the_pieces_and_has_no_instance_yet_keeps_them(world, aws, tmp_path):
    records = LocalRecords(tmp_path, dry_run=True)
    alpha, beta = runner_in(records, "alpha", aws), runner_in(records, "beta", aws)
    alpha.apply()
    # beta adopts the pieces; its environment is refused for now: no environment, no instance
    cloud9 = aws.client("cloud9")
    refuse = lambda **_: error_response("ValidationException", "ops test: not now")  # noqa: E731
    cloud9.meta.events.register("before-call.cloud9.CreateEnvironmentEC2", refuse)
    with pytest.raises(StepFailed):
        beta.apply()
    cloud9.meta.events.unregister("before-call.cloud9.CreateEnvironmentEC2", refuse)
    assert {r.kind: r.status for r in beta.state.live()} == {
        "iam-role": "adopted",
        "instance-profile": "adopted",
        "role-policy:AWSCloud9SSMInstanceProfile": "adopted",
        "role-policy:AmazonSSMManagedInstanceCore": "adopted",
    }

    assert teardown(alpha.state, aws, aws.clock, alpha.reporter, alpha.settings, "alpha") == []
    assert set(kept(alpha)) == {"iam-role", "instance-profile", *(f"role-policy:{p}" for p in IN_PLACE["policies"])}
    assert all("lab beta" in reason and "last lab using it" in reason for reason in kept(alpha).values())
    assert shared_pieces(world) == IN_PLACE

    beta.apply()  # its environment now, with the pieces it counted on
    assert teardown(beta.state, aws, aws.clock, beta.reporter, beta.settings, "beta") == []
    assert kept(beta) == {} and shared_pieces(world) == {}
    assert tagged_resources(aws) == []


def test_a_cloud9_environment_being_made_elsewhere_keeps_them(world, aws, tmp_path):
    """A lab whose records are in another folder shares only AWS: while its environment is
    being made (no instance yet), the pieces stay; it deletes them when it goes."""
    alpha = runner_in(LocalRecords(tmp_path / "here", dry_run=True), "alpha", aws)
    beta = runner_in(LocalRecords(tmp_path / "elsewhere", dry_run=True), "beta", aws)
    alpha.apply()
    world.faults = FaultPlan(seed=1, create_failed=[f"beta-{beta.state.run_id}"])  # its stack gets no instance
    failures = []

    def beta_runs_and_goes():
        try:
            with pytest.raises(StepFailed, match="CREATE_FAILED"):
                beta.apply()
            failures.extend(teardown(beta.state, aws, aws.clock, beta.reporter, beta.settings, "beta"))
        finally:
            world.clock.task_done()

    world.clock.task_submitted()
    thread = threading.Thread(target=beta_runs_and_goes)
    thread.start()
    assert teardown(alpha.state, aws, aws.clock, alpha.reporter, alpha.settings, "alpha") == []
    with world.clock.blocked():
        thread.join()
    assert all(f"Cloud9 environment beta-{beta.state.run_id}" in reason for reason in kept(alpha).values())
    assert len(kept(alpha)) == 4 and kept(beta) == {}
    assert failures == [] and shared_pieces(world) == {} and tagged_resources(aws) == []


def test_an_instance_that_takes_the_profile_between_two_calls_stops_its_deletion(world, aws, tmp_path):
    """Asked again before each call: a profile whose role is out already is not deleted once
    an instance uses it, and gets its role back."""
    alpha = runner_in(LocalRecords(tmp_path, dry_run=True), "alpha", aws)
    alpha.apply()
    launched = []

    def an_instance_elsewhere(**_):
        launched.append(
            world.client("ec2").run_instances(
                ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": PROFILE}
            )["Instances"][0]["InstanceId"]
        )

    aws.client("iam").meta.events.register("after-call.iam.RemoveRoleFromInstanceProfile", an_instance_elsewhere)
    assert teardown(alpha.state, aws, aws.clock, alpha.reporter, alpha.settings, "alpha") == []
    assert launched and launched[0] in kept(alpha)["instance-profile"]
    assert launched[0] in kept(alpha)["iam-role"]
    assert shared_pieces(world)["profile"] == [ROLE]  # put back as it was


def test_two_labs_leaving_at_the_same_moment_leave_nothing(world, aws, tmp_path, monkeypatch):
    """Each counts the other as a user of the profile. The one that decides first must hand it
    over before the lock goes, or the other, deciding next, keeps it too: both leave it."""
    from ops.engine.account_wide import AccountWide, _turns_of

    records = LocalRecords(tmp_path, dry_run=True)
    alpha, beta = runner_in(records, "alpha", aws), runner_in(records, "beta", aws)
    alpha.apply()
    beta.apply()
    held, beta_went, beta_left = AccountWide.held, [], []

    @contextlib.contextmanager
    def then_beta_goes(self, clock):  # right after alpha's decision on the profile, beta goes
        try:
            with held(self, clock):
                yield
        finally:
            deciding = [e for e in events(alpha) if e["event"] == "resource_deleting"]
            released = _turns_of(self.key).depth == 0
            if released and not beta_went and deciding and deciding[-1]["kind"] == "instance-profile":
                beta_went.append(True)
                pool = Pool(aws.clock)  # beta on its own thread; alpha's waits without holding up the clock
                pool.start(
                    "beta",
                    lambda: beta_left.append(
                        teardown(beta.state, aws, aws.clock, beta.reporter, beta.settings, "beta")
                    ),
                )
                pool.join()

    monkeypatch.setattr(AccountWide, "held", then_beta_goes)
    assert teardown(alpha.state, aws, aws.clock, alpha.reporter, alpha.settings, "alpha") == []
    assert beta_left == [[]]
    assert "lab beta" in kept(alpha)["instance-profile"]  # alpha decided first: beta deleted it
    assert "instance-profile" not in kept(beta)
    assert shared_pieces(world) == {} and tagged_resources(aws) == []


def test_pieces_someone_made_again_without_ops_tags_are_never_deleted(world, aws, tmp_path):
    alpha = runner_in(LocalRecords(tmp_path, dry_run=True), "alpha", aws)
    alpha.apply()
    environment = next(r.id for r in alpha.state.live() if r.kind == "cloud9-environment")
    aws.client("cloud9").delete_environment(environmentId=environment)
    world.clock.sleep(world.durations["cloud9.delete"])
    iam = world.client("iam")  # the console: deleted, then made again, untagged
    for policy in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=ROLE, PolicyArn=policy["PolicyArn"])
    iam.remove_role_from_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)
    iam.delete_instance_profile(InstanceProfileName=PROFILE)
    iam.delete_role(RoleName=ROLE)
    iam.create_role(RoleName=ROLE, Path="/service-role/", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName=PROFILE, Path="/cloud9/")
    iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)
    for name in IN_PLACE["policies"]:
        iam.attach_role_policy(RoleName=ROLE, PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    world.clock.sleep(world.durations["iam.propagation"])

    assert teardown(alpha.state, aws, aws.clock, alpha.reporter, alpha.settings, "alpha") == []
    assert len(kept(alpha)) == 4 and all("no longer carries ops's tags" in r for r in kept(alpha).values())
    assert shared_pieces(world) == IN_PLACE


@pytest.mark.long
def test_ten_labs_at_once_then_three_more_leave_nothing(workdir):
    """run_labs with ten copies in one account, then three more in the same account and folder
    (the first round's records still there, none of them live): one copy makes the pieces,
    the others adopt them, every copy but the last out hands them over, and nothing is left.
    (CI's fault suite runs twenty rounds of ten full labs: bench/faults.py.)"""
    settings, _, _ = load_settings(())
    (workdir / "lab.yaml").write_text(LAB.format(name="class"))
    playbook = load_playbook(str(workdir / "lab.yaml"), {})
    target = RunTarget(workdir, dry_run=True)
    for count in (10, 3):
        stream = io.StringIO()
        code = run_labs(playbook, target, reporter=Reporter("json", stream), settings=settings, keep=False, count=count)
        assert code == 0, stream.getvalue()[-3000:]
        seen = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert not [e for e in seen if e["event"] in ("step_failed", "resource_delete_failed")]
        made = [e for e in seen if e["event"] == "step_created" and e["kind"] == "instance-profile"]
        assert sum(e["ours"] for e in made) == 1 and len(made) == count
        for kind in ("iam-role", "instance-profile", "role-policy:AmazonSSMManagedInstanceCore"):
            handed = [e for e in seen if e["event"] == "resource_kept" and e["kind"] == kind]
            deleted = [e for e in seen if e["event"] == "resource_deleted" and e["kind"] == kind]
            assert len(handed) == count - 1 and len(deleted) == 1  # by the last lab out
        with target.open() as aws:
            assert tagged_resources(aws) == []
            iam = aws.client("iam")
            with pytest.raises(iam.exceptions.NoSuchEntityException):
                iam.get_instance_profile(InstanceProfileName=PROFILE)
            with pytest.raises(iam.exceptions.NoSuchEntityException):
                iam.get_role(RoleName=ROLE)


# --- two ops processes: one lab leaving while another arrives --------------------------------

FAST = realtime_config(
    {"cloud9.create": "2s", "cloud9.delete": "1s", "iam.consistency": "0.1s", "iam.propagation": "0.1s"},
    expected={"cloud9.instance": "1s", "cloud9.create": "2s", "cloud9.delete": "1s"},
)
STATE = "s3://team-ops-state/labs"


def account_lock(aws, workdir, state):
    """The account-wide lock the labs of this folder (or of the S3 prefix) share."""
    from ops.engine.account_wide import AccountLock, LocalAccountLock
    from ops.engine.records import S3Records, parse_location
    from ops.paths import locks_dir

    if state:
        return AccountLock(S3Records(parse_location(state), aws))
    return LocalAccountLock(locks_dir(workdir, dry_run=True))


def wait_for(process, event: str, kind_prefix: str, timeout: float = 120) -> None:
    """Read the process's JSON events until `event` for a resource kind starting with kind_prefix."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = json.loads(line)
        if found["event"] == event and found.get("kind", "").startswith(kind_prefix):
            return
    raise AssertionError(f"no {event} for {kind_prefix} from the process")


@pytest.mark.parametrize(
    "state, arriving_waits",
    [(None, True), (STATE, False)],
    ids=["records-here-both-waiting", "records-in-s3-leaving-first"],
)
@pytest.mark.long
def test_a_lab_leaving_and_a_lab_arriving_in_two_processes_take_turns(workdir, state, arriving_waits):
    """Another process's lab arrives while the last lab out leaves: the leaving one's decision
    waits for the account-wide lock (held here), and the arriving one either adopts the pieces
    first (starting while it is held) or finds them gone and makes them again."""
    (workdir / "lab.yaml").write_text(LAB.format(name="class"))
    (workdir / "fast.yaml").write_text(FAST)
    where = ["--state", state] if state else []
    target = RunTarget(workdir, dry_run=True)
    if state:
        with target.open() as aws:
            aws.client("s3").create_bucket(Bucket="team-ops-state")
    kept_up = CliRunner().invoke(cli, ["run", "lab.yaml", "--dry-run", "--names", "a", "--keep", *where])
    assert kept_up.exit_code == 0, kept_up.output
    arrive = ["run", "lab.yaml", "--dry-run", "--realtime", "--config", "fast.yaml", "--names", "b", "--output", "json"]

    with target.open() as aws:
        iam = aws.client("iam")
        lock = account_lock(aws, workdir, state)
        lock.acquire(0)
        try:
            leaving = start_ops(workdir, "teardown", "class-a", "--dry-run", "--output", "json", *where)
            arriving = start_ops(workdir, *arrive, *where) if arriving_waits else None
            wait_for(leaving, "resource_deleting", "role-policy")  # its decision waits for the lock
            time.sleep(1)
            attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
            assert sorted(p["PolicyName"] for p in attached) == IN_PLACE["policies"]  # nothing went meanwhile
        finally:
            lock.release()
        arriving = arriving or start_ops(workdir, *arrive, *where)
        left_out, left_err = leaving.communicate(timeout=180)
        arrived_out, arrived_err = arriving.communicate(timeout=180)
        assert leaving.returncode == 0, left_out[-2000:] + left_err
        assert arriving.returncode == 0, arrived_out[-2000:] + arrived_err
        assert tagged_resources(aws) == []
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_instance_profile(InstanceProfileName=PROFILE)

    def profile_events(out: str, event: str) -> list:
        return [e for e in map(json.loads, out.splitlines()) if e["event"] == event and e["kind"] == "instance-profile"]

    # the leaving lab deleted the profile (and the arriving one made it again), or the arriving
    # one had adopted it (the leaving one handed it over, and the arriving one was last out)
    leaver_deleted = bool(profile_events(left_out, "resource_deleted"))
    assert leaver_deleted != bool(profile_events(left_out, "resource_kept"))
    assert profile_events(arrived_out, "step_created")[0]["ours"] == leaver_deleted
    assert profile_events(arrived_out, "resource_deleted")


def test_of_many_labs_leaving_together_only_the_last_out_asks_iam_and_ec2(workdir):
    """A lab that finds another lab's record using the shared role and profile keeps them
    without asking IAM or EC2 who uses them (the answer could not change its decision): of
    five copies leaving at once, the in-use checks are the last lab out's alone."""
    import threading
    from collections import Counter

    settings, _, _ = load_settings(())
    (workdir / "lab.yaml").write_text(LAB.format(name="class"))
    playbook = load_playbook(str(workdir / "lab.yaml"), {})
    target = RunTarget(workdir, dry_run=True, throwaway=True)
    requests, lock = Counter(), threading.Lock()

    def count(event_name, **_):
        with lock:
            requests[event_name.rsplit(".", 1)[-1]] += 1

    stream = io.StringIO()
    with target.open(patient=True) as aws:
        aws.session.events.register("request-created", count)
        code = run_labs(
            playbook, target, aws=aws, reporter=Reporter("json", stream), settings=settings, keep=False, count=5
        )
        assert code == 0, stream.getvalue()[-3000:]
        assert tagged_resources(aws) == []
    seen = [json.loads(line) for line in stream.getvalue().splitlines()]
    kept = [e for e in seen if e["event"] == "resource_kept" and e["kind"] == "iam-role"]
    assert len(kept) == 4 and all("still used by lab class-" in e["reason"] for e in kept), kept
    # who uses the role is asked before each of the last lab out's deletion calls on it and
    # on its policy (3); before, every lab leaving asked too (15 for five labs)
    assert requests["ListInstanceProfilesForRole"] <= 4, requests
