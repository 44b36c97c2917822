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
