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
