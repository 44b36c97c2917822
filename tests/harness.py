"""Small builders shared by tests: a playbook from text, a runner on a given AWS target."""
import io
import json
import textwrap

from ops.config import load_settings
from ops.output import Reporter
from ops.playbook import build_playbook
from ops.runner import Runner
from ops.state import RunState
from ops.yamlsource import parse_yaml


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
    state = RunState.start(tmp_path / ".ops" / "state" / f"{playbook.name}.json", playbook.name, "test.yaml",
                           aws.region, dry_run=aws.dry_run)
    reporter = Reporter("json", stream or io.StringIO(), aws.clock)
    return Runner(playbook, aws, aws.clock, state, reporter, settings)


def events(runner):
    return [json.loads(line) for line in runner.reporter.stream.getvalue().splitlines()]


# the demo's reads, made on the client host in a real run, with the host's role and its table policy
ON_THE_HOST = {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:TransactWriteItems"}


def calls_of_a_run_and_teardown(playbook, tmp_path, monkeypatch, inspect=lambda world, runner: None):
    """Run a playbook, then its teardown, in a fresh simulated account. Returns the AWS calls
    ops's own clients made ('service:Operation'), what teardown left, and what inspect(world,
    runner) found while the account was up."""
    import botocore.client

    from ops.aws import Aws
    from ops.clock import VirtualClock
    from ops.runner import teardown
    from ops.sim.world import SimWorld

    calls = set()
    real = botocore.client.BaseClient._make_api_call

    def record(client, operation, params):
        if client in aws._clients.values():  # ops's own clients, not the simulator's internals
            calls.add(f"{client.meta.service_model.service_name}:{operation}")
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
    return {action for statement in policy["Statement"]
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
