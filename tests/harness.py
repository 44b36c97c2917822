"""Small builders shared by tests: a playbook from text, a runner on a given AWS target."""

import io
import json
import textwrap

from ops.commands.config import load_settings
from ops.engine.playbook import build_playbook
from ops.engine.runner import Runner
from ops.engine.state import RunState
from ops.engine.yamlsource import parse_yaml
from ops.output import Reporter

# What the demo prints for The Vineyard from the seed data (its summary, then its newest reviews).
VINEYARD = [
    "Restaurant<The Vineyard -- Fine Dining>",
    "Review<The Vineyard -- markmartin (2020-05-24T11:59:44)>",
    "Review<The Vineyard -- kgraham (2020-05-14T15:01:52)>",
    "Review<The Vineyard -- ewilliams (2020-05-13T02:36:30)>",
    "Review<The Vineyard -- hannah21 (2020-05-04T03:44:26)>",
    "Review<The Vineyard -- john97 (2020-04-27T20:45:52)>",
]


def playbook_from(text: str, overrides=None):
    return build_playbook(parse_yaml(textwrap.dedent(text), "test.yaml"), "test.yaml", overrides or {})


def make_runner(playbook, aws, tmp_path, stream=None):
    settings, _, _ = load_settings(())
    state = RunState.start(
        tmp_path / ".ops" / "state" / f"{playbook.name}.json",
        playbook.name,
        "test.yaml",
        aws.region,
        dry_run=aws.dry_run,
    )
    reporter = Reporter("json", stream or io.StringIO(), aws.clock)
    return Runner(playbook, aws, aws.clock, state, reporter, settings)


def step_context(aws, state, reporter, lab, step, step_type):
    """A StepContext for calling a step type's helpers directly, as the runner would."""
    from ops.engine.context import StepContext

    return StepContext(
        aws=aws,
        clock=aws.clock,
        state=state,
        reporter=reporter,
        settings={"expected": {}},
        lab=lab,
        step=step,
        step_type=step_type,
        timeout=600,
    )


def events(runner):
    return [json.loads(line) for line in runner.reporter.stream.getvalue().splitlines()]


# the demo's reads, made on the client host in a real run, with the host's role and its table policy
ON_THE_HOST = {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:TransactWriteItems"}


def calls_of_a_run_and_teardown(playbook, tmp_path, monkeypatch, inspect=lambda world, runner: None, detail=None):
    """Run a playbook, then its teardown, in a fresh simulated account. Returns the AWS calls
    ops's own clients made ('service:Operation'), what teardown left, and what inspect(world,
    runner) found while the account was up. detail: a list to get each call as (action,
    parameters, region)."""
    import botocore.client

    from ops.aws import Aws
    from ops.clock import VirtualClock
    from ops.engine.runner import teardown
    from ops.sim.world import SimWorld

    calls = set()
    real = botocore.client.BaseClient._make_api_call

    def record(client, operation, params):
        if client in aws._clients.values():  # ops's own clients, not the simulator's internals
            calls.add(f"{client.meta.service_model.service_name}:{operation}")
            if detail is not None:
                detail.append(
                    (f"{client.meta.service_model.service_name}:{operation}", params, client.meta.region_name)
                )
        return real(client, operation, params)

    with SimWorld(VirtualClock()) as world:
        aws = Aws(world.session(), world.region, world.clock, dry_run=True)
        aws.world = world  # as open_target does: the dry-run demo trusts the simulated account's CA
        runner = make_runner(playbook, aws, tmp_path)
        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
        runner.apply()
        found = inspect(world, runner)
        left = teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, playbook.name)
    return calls, left, found


def allowed_actions(policy) -> set:
    return {
        action
        for statement in policy["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }


def statements_allowing(policy, action: str) -> list:
    """The statements of a policy that name this action."""
    return [
        s for s in policy["Statement"] if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]


def touched_resources(calls, partition: str, account: str) -> list:
    """(action, ARN) for each recorded call whose parameters name the resource it touches; IAM
    paths come from the run's own create calls (a role made under /service-role/ is that role)."""
    paths = {
        params.get("RoleName") or params.get("InstanceProfileName"): params.get("Path", "/")
        for action, params, _ in calls
        if action in ("iam:CreateRole", "iam:CreateInstanceProfile")
    }
    found = []
    for action, params, region in calls:
        service = action.split(":")[0]
        base = f"arn:{partition}:{service}:{region}:{account}:"
        if "CacheClusterId" in params:
            found.append((action, base + f"cluster:{params['CacheClusterId']}"))
        if "ReplicationGroupId" in params:
            found.append((action, base + f"replicationgroup:{params['ReplicationGroupId']}"))
        if service == "dynamodb" and "TableName" in params:
            found.append((action, base + f"table/{params['TableName']}"))
        if service == "iam" and "RoleName" in params and "InstanceProfileName" not in params:  # else: the profile
            name = params["RoleName"]
            found.append((action, f"arn:{partition}:iam::{account}:role{paths.get(name, '/')}{name}"))
        if service == "iam" and "InstanceProfileName" in params:
            name = params["InstanceProfileName"]
            found.append((action, f"arn:{partition}:iam::{account}:instance-profile{paths.get(name, '/')}{name}"))
        if service == "ssm" and "Name" in params:
            account_of = "" if params["Name"].startswith("/aws/") else account  # AWS's public parameters
            found.append((action, f"arn:{partition}:ssm:{region}:{account_of}:parameter/{params['Name'].lstrip('/')}"))
        if action == "ssm:SendCommand":
            found.append((action, f"arn:{partition}:ssm:{region}::document/{params['DocumentName']}"))
            found += [(action, f"arn:{partition}:ec2:{region}:{account}:instance/{i}") for i in params["InstanceIds"]]
        if action == "ec2:TerminateInstances":
            found += [(action, f"arn:{partition}:ec2:{region}:{account}:instance/{i}") for i in params["InstanceIds"]]
        if action in ("ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"):
            found.append((action, f"arn:{partition}:ec2:{region}:{account}:security-group/{params['GroupId']}"))
        if service == "cloud9" and "environmentId" in params:
            found.append((action, base + f"environment:{params['environmentId']}"))
    return found


def move_calendar(monkeypatch, seconds: float) -> None:
    """Let `seconds` of calendar time pass for ops (expiries, ages), without sleeping."""
    import time

    import ops.clock

    monkeypatch.setattr(ops.clock, "calendar", lambda: time.time() + seconds)


# The dead man's switch's own waits, cut to a moment: its new role's IAM propagation (10 s),
# its role's and group's deletions (8 s more); 15 of a one-table --realtime run's 40 s.
QUICK_SWITCH_DURATIONS = {"iam.consistency": "0.2s", "iam.propagation": "0.2s", "scheduler.group_delete": "0.2s"}
QUICK_SWITCH_EXPECTED = {"iam.propagation": "0.2s", "scheduler.delete": "0.2s"}


def realtime_config(durations, expected=None, **settings) -> str:
    """A --config for a --realtime test about something other than the switch: the simulated
    durations and what ops expects of them (the same unless given), the switch's waits short."""
    import yaml

    config = {
        "simulator": {"durations": {**QUICK_SWITCH_DURATIONS, **durations}},
        "expected": {**QUICK_SWITCH_EXPECTED, **(durations if expected is None else expected)},
        **settings,
    }
    return yaml.safe_dump(config, sort_keys=False)


def start_ops(folder, *argv):
    """`ops ARGV...` in a process of its own (forked warm by tests/ops_forkserver.py, else
    `python -m ops.cli`), in `folder`, with no AWS_* of the user's; its output as text pipes."""
    import os
    import subprocess

    import ops_forkserver

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return ops_forkserver.start(
        argv,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def rehearse_faults(workdir, playbook, plan):
    """A dry run of `playbook` (then its teardown) through the public API in a throwaway
    simulated account with the FaultPlan `plan`: (0, or the StepFailed it ended with; events)."""
    from ops.commands.lab import run_labs
    from ops.engine.target import RunTarget
    from ops.errors import StepFailed

    settings, _, _ = load_settings(())
    stream = io.StringIO()
    try:
        code = run_labs(
            playbook,
            RunTarget(workdir, dry_run=True, throwaway=True, sim_faults=plan),
            reporter=Reporter("json", stream),
            settings=settings,
            keep=False,
        )
    except StepFailed as failure:
        code = failure
    return code, [json.loads(line) for line in stream.getvalue().splitlines()]


def ok_response(parsed):
    """What a `before-call` handler returns to answer a call in a test: botocore then skips
    the request (and the simulator) and hands `parsed` to the caller as AWS's answer."""
    from botocore.awsrequest import AWSResponse

    metadata = {"RequestId": "test", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse(None, 200, {}, None), {**parsed, "ResponseMetadata": metadata}


def error_response(code, message, status=400):
    """A `before-call` handler's error answer (see ok_response): botocore raises it as AWS's."""
    from botocore.awsrequest import AWSResponse

    metadata = {"RequestId": "test", "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse(None, status, {}, None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": metadata,
    }
