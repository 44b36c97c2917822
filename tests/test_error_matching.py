"""AWS errors are matched by what they are (issue 14): botocore's modeled exception where the
service models the error (client.exceptions.ResourceNotFoundException...), a ClientError's code
where it does not (EC2), and never by catching everything and comparing strings. So a bug in
ops (here a KeyError where a call should have answered) fails the step, and is never taken
for "not found" or "gone"."""

import ast
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from harness import error_response, events, make_runner, playbook_from, step_context

from ops.clock import VirtualClock
from ops.engine.runner import teardown
from ops.steps.dynamodb import TABLE_KIND
from ops.steps.ec2_host import find_instance
from ops.waiting import SUCCESS, Schedule, wait_until

OPS = Path(__file__).resolve().parent.parent / "ops"

TABLE_LAB = """\
name: table-lab
steps:
  - name: table
    type: dynamodb.table
    with:
      table_name: reviews-${{ run.id }}
      seed: false
"""


def a_bug(**_):
    """A before-call handler standing for a bug in ops where an AWS call is made."""
    raise KeyError("TableStatus")


def context(aws, runner):
    return step_context(aws, runner.state, runner.reporter, "table-lab", "table", "dynamodb.table")


def test_a_bug_where_the_table_is_looked_up_fails_the_run_and_creates_nothing(aws, tmp_path):
    dynamodb = aws.client("dynamodb")
    dynamodb.meta.events.register("before-call.dynamodb.DescribeTable", a_bug)
    runner = make_runner(playbook_from(TABLE_LAB), aws, tmp_path)
    with pytest.raises(KeyError, match="TableStatus"):
        runner.apply()
    assert dynamodb.list_tables()["TableNames"] == []  # not "no such table, so create one"
    assert runner.state.live() == []


def test_the_modeled_not_found_still_means_gone_and_a_bug_never_does(aws, tmp_path):
    runner = make_runner(playbook_from(TABLE_LAB), aws, tmp_path)
    name = runner.apply()["table"]["table_name"]
    dynamodb = aws.client("dynamodb")
    assert TABLE_KIND.state_of(aws, name) == "ACTIVE"

    # ops status: a DescribeTable answered by a bug is not a table that is gone
    dynamodb.meta.events.register("before-call.dynamodb.DescribeTable", a_bug)
    with pytest.raises(KeyError):
        TABLE_KIND.state_of(aws, name)
    # teardown: the bug is reported, and the table stays recorded (and in the account)
    dynamodb.meta.events.register("before-call.dynamodb.DeleteTable", a_bug)
    left = teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "table-lab")
    assert [r.id for r in left] == [name]
    failed = [e for e in events(runner) if e["event"] == "resource_delete_failed"]
    assert len(failed) == 1 and "KeyError" in failed[0]["error"]
    assert [r.id for r in runner.state.live()] == [name]
    assert name in dynamodb.list_tables()["TableNames"]
    dynamodb.meta.events.unregister("before-call.dynamodb.DescribeTable", a_bug)
    dynamodb.meta.events.unregister("before-call.dynamodb.DeleteTable", a_bug)

    # deleted behind ops's back: DynamoDB's ResourceNotFoundException means gone, and teardown is done
    dynamodb.delete_table(TableName=name)
    aws.clock.sleep(3600)
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.describe_table(TableName=name)
    assert TABLE_KIND.state_of(aws, name) == "gone"
    assert teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "table-lab") == []
    assert runner.state.live() == []


def test_ec2_models_no_errors_so_its_codes_are_matched_on_client_errors(aws, tmp_path):
    ctx = context(aws, make_runner(playbook_from(TABLE_LAB), aws, tmp_path))
    ec2 = aws.client("ec2")
    assert not [name for name in dir(ec2.exceptions) if name.endswith(("NotFound", "Exception"))]
    assert find_instance(ctx, "i-0123456789abcdef0") is None  # InvalidInstanceID.NotFound, a code
    ec2.meta.events.register(
        "before-call.ec2.DescribeInstances",
        lambda **_: error_response("UnauthorizedOperation", "You are not authorized", 403),
    )
    with pytest.raises(ClientError) as refused:  # another code: not "no such instance"
        find_instance(ctx, "i-0123456789abcdef0")
    assert refused.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_a_wait_waits_out_a_lost_connection_but_not_a_bug():
    clock, calls = VirtualClock(), []

    def check():
        calls.append(clock.now())
        if len(calls) == 1:
            raise EndpointConnectionError(endpoint_url="https://elasticache.us-east-1.amazonaws.com/")
        return SUCCESS, "available"

    assert wait_until(clock, check, what="cluster", timeout=600, schedule=Schedule(expected=60)) == "available"
    assert len(calls) == 2

    def buggy():
        calls.append(clock.now())
        raise KeyError("CacheClusters")

    calls.clear()
    with pytest.raises(KeyError):
        wait_until(clock, buggy, what="cluster", timeout=600, schedule=Schedule(expected=60))
    assert len(calls) == 1  # at once: a bug is not polled again until the deadline


# --- what the code says -------------------------------------------------------------------------

REASON = re.compile(r"#\s*noqa: BLE001 - \S.{9,}")


def broad_handlers():
    """(file:line, source line) of every handler in ops that catches Exception (or everything)."""
    found = []
    for path in sorted(OPS.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ExceptHandler):
                continue
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if node.type is None or any(isinstance(c, ast.Name) and c.id == "Exception" for c in caught):
                found.append((f"{path.relative_to(OPS.parent)}:{node.lineno}", lines[node.lineno - 1]))
    return found


def test_every_handler_that_catches_everything_says_why():
    handlers = broad_handlers()
    assert handlers, "the scan found no handler at all: it is broken"
    unexplained = [f"{where}: {line.strip()}" for where, line in handlers if not REASON.search(line)]
    assert not unexplained, (
        "catch the error you mean (client.exceptions.<Name>, or botocore's ClientError with its code "
        "where the service models none), or say why everything must be caught, as "
        "'# noqa: BLE001 - <reason>':\n" + "\n".join(unexplained)
    )


def test_every_modeled_exception_ops_catches_exists_in_botocore():
    """`except client.exceptions.Typo:` would fail only when that error comes: checked here."""
    import boto3

    session = boto3.Session(region_name="us-east-1")
    sources = [path.read_text() for path in OPS.rglob("*.py") if "sim" not in path.parts]
    services = {s for text in sources for s in re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", text)}
    assert {"elasticache", "dynamodb", "iam", "ssm", "cloud9", "s3"} <= services
    modeled = {name for s in services for name in dir(session.client(s).exceptions) if not name.startswith("_")}
    caught = (found for text in sources for found in re.findall(r"\b(\w+)\.exceptions\.([A-Za-z]\w*)", text))
    used = {name for owner, name in caught if owner not in ("botocore", "click")}  # a client's, not a library's
    assert {"NoSuchEntityException", "CacheClusterNotFoundFault", "ResourceNotFoundException"} <= used
    assert sorted(used - modeled) == []


def test_threads_sharing_a_client_catch_its_modeled_errors_by_the_same_classes(aws, monkeypatch):
    """The labs of a run share their clients across threads. botocore builds a client's
    exception classes on first use, unlocked: two threads there at once could each build a
    set, and one then raised a class the other's `except client.exceptions.X` missed (seen:
    a ping step failed on the InvocationDoesNotExist it waits out). Aws hands out clients
    whose classes are built already."""
    import threading

    from botocore.errorfactory import ClientExceptionsFactory

    build = ClientExceptionsFactory._create_client_exceptions

    def slowly(factory, model):  # widen the window the race needs
        threading.Event().wait(0.05)
        return build(factory, model)

    monkeypatch.setattr(ClientExceptionsFactory, "_create_client_exceptions", slowly)
    start, seen = threading.Barrier(6), []

    def catch():
        start.wait()
        seen.append(aws.client("ssm").exceptions.InvocationDoesNotExist)

    threads = [threading.Thread(target=catch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 and len(set(seen)) == 1
