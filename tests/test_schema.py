"""The playbook JSON Schema: generated from the step types, committed for editors, in sync."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from ops.cli import cli
from ops.commands.schema import playbook_schema

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_schema_is_the_generated_one():
    committed = json.loads((ROOT / "playbooks" / "playbook.schema.json").read_text())
    assert committed == json.loads(json.dumps(playbook_schema())), (
        "run: ops schema --write playbooks/playbook.schema.json"
    )


def test_every_shipped_playbook_names_the_schema_and_satisfies_it():
    for path in (ROOT / "playbooks").glob("*.yaml"):
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=playbook.schema.json"), path
        jsonschema.validate(yaml.safe_load(text), playbook_schema())


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda doc: doc["steps"][1]["with"].update(node_typ="x"), "node_typ"),
        (lambda doc: doc["steps"][2]["with"].update(port=70000), "70000"),
        (lambda doc: doc["steps"][0].update(type="cloud9.env"), "cloud9.env"),
        (lambda doc: doc.update(extra=1), "extra"),
    ],
)
def test_the_schema_catches_what_validate_catches(mutate, words):
    doc = yaml.safe_load((ROOT / "playbooks" / "lab.yaml").read_text())
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, playbook_schema())


def test_ops_schema_prints_it():
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    types = {item["properties"]["type"]["const"] for item in schema["properties"]["steps"]["items"]["oneOf"]}
    assert {"elasticache.cluster", "cloud9.environment", "ec2.ingress"} <= types
