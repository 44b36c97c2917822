"""One describe call serves every waiter of a kind (ops/shared_describe.py).

First the shared describe alone, on a virtual clock with scripted answers (each cluster's
statuses over time), with waits as the step types make them (wait_until on botocore's
acceptors); then whole runs of many labs in the simulator, through run_labs and the CLI."""

import io
import json
import threading
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from ops.clock import VirtualClock
from ops.engine.scheduler import Pool, run_each
from ops.shared_describe import MAX_AGE, SharedDescribe, not_found
from ops.waiting import Schedule, WaitFailed, wait_until, waiter_check

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
SCHEDULE = Schedule(expected=120.0)


def lag_bound(ready_after):
    """How late the schedule may see a resource ready after this many seconds (its promise)."""
    return min(SCHEDULE.ceiling, max(SCHEDULE.floor, SCHEDULE.ratio * ready_after))


class ScriptedAccount:
    """Clusters whose status follows a script of (from time, status); a status of None: the
    cluster is gone. Records each describe call: (time, ids)."""

    def __init__(self, clock, scripts, throttle_from=None):
        self.clock = clock
        self.scripts = scripts
        self.throttle_from = throttle_from  # the first call from this time on fails as a whole
        self.calls = []
        self.client = boto3.client("elasticache", region_name="us-east-1")

    def status(self, cluster_id):
        now = self.clock.now()
        return [status for since, status in self.scripts[cluster_id] if since <= now][-1]

    def fetch(self, ids):
        self.calls.append((self.clock.now(), tuple(ids)))
        if self.throttle_from is not None and self.clock.now() >= self.throttle_from:
            self.throttle_from = None
            raise ClientError(
                {
                    "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "DescribeCacheClusters",
            )
        answers = {}
        for cluster_id in ids:
            status = self.status(cluster_id)
            answers[cluster_id] = (
                not_found(self.client, "DescribeCacheClusters", "CacheClusterNotFound", f"{cluster_id} is gone")
                if status is None
                else {"CacheClusters": [{"CacheClusterId": cluster_id, "CacheClusterStatus": status}]}
            )
        return answers


def wait_all(clock, account, ids, waiter="cache_cluster_available", start_at=None, gather=0.0):
    """Each id's wait on its own thread, as many labs' steps wait: {id: (outcome, when, polls)}.
    gather: how long first looks wait for others' (0: waits that start together need none)."""
    shared = SharedDescribe(clock, account.fetch, gather=gather)
    results = {}

    def wait(cluster_id):
        polls = []
        if start_at:
            clock.sleep(start_at[cluster_id])
        check = waiter_check(
            None,
            account.client,
            waiter,
            lambda r: r["CacheClusters"][0]["CacheClusterStatus"],
            answer=lambda: shared.answer(cluster_id),
        )
        try:
            with shared.watching(cluster_id):
                outcome = wait_until(
                    clock,
                    check,
                    what=f"cluster {cluster_id}",
                    timeout=3600,
                    schedule=SCHEDULE,
                    on_poll=lambda status, elapsed: polls.append((clock.now(), status)),
                )
        except WaitFailed as exc:
            outcome = exc
        results[cluster_id] = (outcome, clock.now(), polls)

    run_each(clock, ids, wait, name=lambda cluster_id: f"wait-{cluster_id}")
    return results


def seen_when_due(polls, changed_at):
    """The poll that saw a change came when the schedule promised, but for a shared answer's
    age: the poll before it was answered before the change (by a call at most MAX_AGE before it)."""
    times = [t for t, _ in polls]
    late = changed_at + MAX_AGE
    return times[-2] < late and changed_at <= times[-1] <= late + lag_bound(late)


def served_within_max_age(results, account):
    """Every poll was answered by a call made at most MAX_AGE before it."""
    calls = [t for t, _ in account.calls]
    return all(any(t - MAX_AGE <= c <= t for c in calls) for _, _, polls in results.values() for t, _ in polls)


def test_waiters_polling_together_share_one_call_per_tick_and_each_ends_on_its_own_time():
    clock = VirtualClock()
    ready = {f"lab{i}": 100.0 + 4 * i for i in range(12)}  # readiness 4 s apart: 100 s to 144 s
    account = ScriptedAccount(clock, {c: [(0, "creating"), (t, "available")] for c, t in ready.items()})

    results = wait_all(clock, account, list(ready))

    for cluster_id, (outcome, _, polls) in results.items():
        assert outcome == "available" and seen_when_due(polls, ready[cluster_id])
        assert [status for _, status in polls[:-1]] == ["creating"] * (len(polls) - 1)
    # after the first looks (each lab's own call, until its cluster is in one), one call per
    # instant anyone polled at (unless a call under MAX_AGE old answered it), covering every
    # cluster still waited on then
    later = [(t, ids) for t, ids in account.calls if t > 0]
    assert len({t for t, _ in later}) == len(later)
    for t, ids in later:
        assert set(ids) == {c for c, (_, ended, _) in results.items() if ended >= t}
    assert served_within_max_age(results, account)
    polls = sum(len(p) for _, _, p in results.values())
    assert len(later) * 8 < polls  # far fewer calls than the waiters' polls


def test_a_failed_and_a_deleted_cluster_fail_their_own_waits_only():
    clock = VirtualClock()
    scripts = {
        "good1": [(0, "creating"), (110, "available")],
        "failed": [(0, "creating"), (52, "restore-failed")],
        "deleted": [(0, "creating"), (71, None)],  # deleted by someone else while creating
        "good2": [(0, "creating"), (140, "available")],
    }
    account = ScriptedAccount(clock, scripts)

    results = wait_all(clock, account, list(scripts))

    for good, ready in (("good1", 110), ("good2", 140)):
        assert results[good][0] == "available" and seen_when_due(results[good][2], ready)
    failed, _, polls = results["failed"]
    assert isinstance(failed, WaitFailed) and "restore-failed" in str(failed) and seen_when_due(polls, 52)
    deleted, gone_seen, polls = results["deleted"]
    assert isinstance(deleted, WaitFailed) and "CacheClusterNotFound" in str(deleted)
    assert seen_when_due([*polls, (gone_seen, "CacheClusterNotFound")], 71)  # the failing poll reports no status
    assert all("failed" not in ids and "deleted" not in ids for t, ids in account.calls if t > gone_seen)


def test_a_deletion_wait_counts_a_cluster_gone_as_deleted():
    clock = VirtualClock()
    scripts = {"a": [(0, "deleting"), (100, None)], "b": [(0, "deleting"), (130, None)]}
    account = ScriptedAccount(clock, scripts)

    results = wait_all(clock, account, list(scripts), waiter="cache_cluster_deleted")

    assert results["a"][0] == "CacheClusterNotFound" and seen_when_due(results["a"][2], 100)
    assert results["b"][0] == "CacheClusterNotFound" and seen_when_due(results["b"][2], 130)


def test_a_throttled_call_reaches_every_waiter_that_shared_it_and_they_wait_on():
    clock = VirtualClock()
    scripts = {c: [(0, "creating"), (100, "available")] for c in ("a", "b", "c")}
    account = ScriptedAccount(clock, scripts, throttle_from=60)

    results = wait_all(clock, account, list(scripts))

    throttled = {
        c: [t for t, status in polls if status.endswith("(throttled)")] for c, (_, _, polls) in results.items()
    }
    assert all(len(times) == 1 for times in throttled.values())  # then each backed off, on its own
    [when] = {times[0] for times in throttled.values()}  # all three at the instant of the one failed call
    assert [t for t, _ in account.calls].count(when) == 1
    assert all(outcome == "available" for outcome, _, _ in results.values())


def test_waiters_a_moment_apart_share_first_looks_and_calls_made_within_max_age():
    clock = VirtualClock()
    starts = {"early": 0.0, "soon": 0.5, "sooner": 1.0, "late": 1.75}
    scripts = {c: [(0, "creating"), (40, "available")] for c in starts}  # polls every 5 s until then
    account = ScriptedAccount(clock, scripts)

    results = wait_all(clock, account, list(starts), start_at=starts, gather=1.0)

    looks = {c: [t for t, _ in polls] for c, (_, _, polls) in results.items()}
    calls = [t for t, _ in account.calls]
    assert account.calls[0] == (0.0, ("early",))  # alone: its first look is not held back
    # soon's first look waited a second for others' (another wait was registered): sooner's
    # went in the same call
    assert account.calls[1] == (1.5, ("early", "soon", "sooner"))
    assert looks["soon"][0] == looks["sooner"][0] == 1.5
    assert account.calls[2] == (2.75, ("early", "late", "soon", "sooner"))  # late's, after it
    # from then on, a call only when the last is over MAX_AGE old: each serves the others' polls
    assert all(later - earlier > MAX_AGE for earlier, later in zip(calls[2:], calls[3:]))
    assert served_within_max_age(results, account)
    assert 2 * len(calls) < sum(len(looks[c]) for c in looks)
    assert all(outcome == "available" and ended <= 40 + MAX_AGE + 5 for outcome, ended, _ in results.values())


def test_a_new_wait_on_a_cluster_never_gets_an_answer_from_before_it_began():
    clock = VirtualClock()
    account = ScriptedAccount(clock, {"c": [(0, "available")]})
    shared = SharedDescribe(clock, account.fetch)
    with shared.watching("c"):
        assert shared.answer("c")["CacheClusters"][0]["CacheClusterStatus"] == "available"
        shared.answer("c")  # the same instant: the same answer
    assert len(account.calls) == 1
    account.scripts["c"] = [(0, "deleting")]  # e.g. the run sent DeleteCacheCluster
    with shared.watching("c"):  # the deletion wait, at the same instant
        assert shared.answer("c")["CacheClusters"][0]["CacheClusterStatus"] == "deleting"
    assert len(account.calls) == 2
    with pytest.raises(RuntimeError, match="outside watching"):
        shared.answer("c")


def test_a_waiter_whose_cluster_the_call_in_flight_does_not_cover_asks_again():
    clock = VirtualClock()
    account = ScriptedAccount(clock, {"a": [(0, "creating")], "b": [(0, "creating")]})
    entered, release = threading.Event(), threading.Event()
    fetch = account.fetch

    def slow_fetch(ids):  # the first call is in flight while b registers
        if not account.calls:
            entered.set()
            with clock.blocked():
                release.wait()
        return fetch(ids)

    shared = SharedDescribe(clock, slow_fetch)
    answers = {}

    answered_b = threading.Event()

    def ask(cluster_id):
        if cluster_id == "b":
            with clock.blocked():
                entered.wait()
        with shared.watching(cluster_id):
            if cluster_id == "b":
                release.set()
            answers[cluster_id] = shared.answer(cluster_id)
            if cluster_id == "b":
                answered_b.set()
            else:  # a's wait goes on until b has its answer
                with clock.blocked():
                    answered_b.wait()

    pool = Pool(clock)
    for cluster_id in ("a", "b"):
        pool.start(cluster_id, lambda cluster_id=cluster_id: ask(cluster_id))
    pool.join()
    assert answers["b"]["CacheClusters"][0]["CacheClusterId"] == "b"
    assert [ids for _, ids in account.calls] == [("a",), ("a", "b")]


# --- many labs in the simulator --------------------------------------------------------


def run_copies(root, playbook, count, plan=None, during=None):
    """`count` copies of `playbook` in one throwaway simulated account, through run_labs:
    (the StepFailed it ended with or 0, events, requests as (operation, parameters));
    during(aws) runs on a thread of its own on the run's clock, as another actor."""
    from ops.commands.config import load_settings
    from ops.commands.lab import run_labs
    from ops.engine.target import RunTarget
    from ops.errors import StepFailed
    from ops.output import Reporter

    settings, _, _ = load_settings(())
    stream, requests = io.StringIO(), []
    target = RunTarget(root, dry_run=True, throwaway=True, sim_faults=plan)
    with target.open(patient=True) as aws:
        aws.session.events.register(
            "before-parameter-build", lambda params, model, **_: requests.append((model.name, dict(params)))
        )
        actor = Pool(aws.clock)
        if during is not None:
            actor.start("another-actor", lambda: during(aws))
        try:
            outcome = run_labs(
                playbook, target, aws=aws, reporter=Reporter("json", stream), settings=settings, keep=False, count=count
            )
        except StepFailed as failure:
            outcome = failure
        actor.join()
    return outcome, [json.loads(line) for line in stream.getvalue().splitlines()], requests


def finished(events):
    return {e["lab"]: e for e in events if e["event"] == "run_finished"}


def polls(events, what):
    return [e for e in events if e["event"] == "step_waiting" and e["what"].startswith(what)]


def tagged(client, arns, lab):
    """Of these ARNs, the one tagged with ops:lab=`lab` (Cloud9 answers tags as Tags, ElastiCache as TagList)."""
    for arn in arns:
        answer = client.list_tags_for_resource(**{"ResourceARN" if "cloud9" in arn else "ResourceName": arn})
        if {"Key": "ops:lab", "Value": lab} in answer.get("Tags", answer.get("TagList", [])):
            return arn
    return None


def test_many_labs_share_describes_and_one_whose_environment_is_deleted_mid_wait_fails_alone(tmp_path):
    from ops.engine.playbook import load_playbook

    deleted = []

    def delete_the_second_labs_environment(aws):  # while every lab waits for its environment
        aws.clock.sleep(60)
        cloud9 = aws.world.session().client("cloud9")
        ids = cloud9.list_environments()["environmentIds"]
        environments = cloud9.describe_environments(environmentIds=ids)["environments"]
        arn = tagged(cloud9, [env["arn"] for env in environments], "elasticache-lab-2")
        [env] = [env for env in environments if env["arn"] == arn]
        deleted.append(env["lifecycle"]["status"])
        cloud9.delete_environment(environmentId=env["id"])

    outcome, events, requests = run_copies(
        tmp_path, load_playbook(PLAYBOOKS / "lab.yaml"), 2, during=delete_the_second_labs_environment
    )

    assert deleted == ["CREATING"]
    assert outcome.step == "cloud9" and "deleting" in str(outcome)
    results = {lab: e["result"] for lab, e in finished(events).items()}
    assert results == {
        "elasticache-lab-1": "lab completed and torn down",
        "elasticache-lab-2": "FAILED, then torn down",
    }
    assert all(e["left"] == [] for e in finished(events).values())
    # the waits shared their calls: fewer describes than polls, and calls that answered several labs
    environments = [params for op, params in requests if op == "DescribeEnvironments"]
    assert any(len(params["environmentIds"]) > 1 for params in environments)
    assert len(environments) < len(polls(events, "environment"))
    clusters = [params for op, params in requests if op == "DescribeCacheClusters"]
    assert any("CacheClusterId" not in params for params in clusters)  # the listing, for several labs
    assert len(clusters) < len(polls(events, "cluster"))


def test_many_labs_share_group_and_instance_describes_and_a_failed_group_fails_its_lab_alone(tmp_path):
    from ops.engine.playbook import load_playbook
    from ops.sim.faults import FaultPlan

    failing = []

    def make_the_third_labs_group_fail(aws):  # its creation will end create-failed
        aws.clock.sleep(60)
        elasticache = aws.world.session().client("elasticache")
        groups = elasticache.describe_replication_groups()["ReplicationGroups"]
        arn = tagged(elasticache, [group["ARN"] for group in groups], "elasticache-lab-valkey-3")
        failing.extend(group["ReplicationGroupId"] for group in groups if group["ARN"] == arn)
        aws.world.faults = FaultPlan(seed=1, create_failed=failing)

    outcome, events, requests = run_copies(
        tmp_path, load_playbook(PLAYBOOKS / "lab-valkey.yaml"), 3, during=make_the_third_labs_group_fail
    )

    assert len(failing) == 1
    assert outcome.step == "valkey" and "create-failed" in str(outcome)
    results = {lab: e["result"] for lab, e in finished(events).items()}
    assert results == {
        "elasticache-lab-valkey-1": "lab completed and torn down",
        "elasticache-lab-valkey-2": "lab completed and torn down",
        "elasticache-lab-valkey-3": "FAILED, then torn down",
    }
    assert all(e["left"] == [] for e in finished(events).values())
    groups = [params for op, params in requests if op == "DescribeReplicationGroups"]
    assert any("ReplicationGroupId" not in params for params in groups)
    assert len(groups) < len(polls(events, "replication group"))
    by_filter = [
        params["Filters"][0]["Values"]
        for op, params in requests
        if op == "DescribeInstances" and params.get("Filters", [{}])[0].get("Name") == "instance-id"
    ]
    assert any(len(ids) > 1 for ids in by_filter)  # one call for several labs' instances
