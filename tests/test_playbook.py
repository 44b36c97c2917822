"""Playbook loading: structure, references and types are checked with file:line."""

import textwrap

import pytest

from ops.engine.playbook import load_playbook
from ops.errors import BadInput

GOOD = """\
name: demo-lab
vars:
  node_type: cache.t3.micro
  cluster_id: demo-${{ run.id }}
steps:
  - name: cloud9
    type: cloud9.environment
    with:
      name: env-${{ run.id }}
  - name: redis
    type: elasticache.cluster
    with:
      cluster_id: ${{ vars.cluster_id }}
      node_type: ${{ vars.node_type }}
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{ steps.redis.outputs.security_group_id }}
      port: 6379
      source_group_id: ${{ steps.cloud9.outputs.security_group_id }}
"""


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text, overrides=None):
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as caught:
        load_playbook(path, overrides)
    return caught.value


def test_good_playbook_loads_with_dependencies(tmp_path):
    playbook = load_playbook(write(tmp_path, GOOD))
    assert [s.name for s in playbook.steps] == ["cloud9", "redis", "ingress"]
    ingress = playbook.step("ingress")
    assert set(ingress.needs) == {"redis", "cloud9"}
    redis = playbook.step("redis")
    assert redis.args["node_type"] == "cache.t3.micro"
    assert redis.args["cluster_id"] == "demo-${{ run.id }}"  # run.id is known only at run time
    assert redis.timeout == 2400


def test_var_overrides_replace_defaults(tmp_path):
    playbook = load_playbook(write(tmp_path, GOOD), {"node_type": "cache.t2.micro"})
    assert playbook.step("redis").args["node_type"] == "cache.t2.micro"


def test_override_of_undeclared_var_suggests_the_right_name(tmp_path):
    err = error_of(tmp_path, GOOD, {"node_typ": "x"})
    assert "node_typ" in str(err) and "Did you mean 'node_type'?" in str(err)


@pytest.mark.parametrize(
    "text, line, words",
    [
        (GOOD.replace("type: ec2.ingress", "type: ec2.ingres"), 16, ["unknown type", "ec2.ingress"]),
        (GOOD.replace("      port: 6379\n", "      prot: 6379\n"), 19, ["no parameter 'prot'", "port"]),
        (GOOD.replace("      port: 6379\n", "      port: 70000\n"), 19, ["at most 65535"]),
        (GOOD.replace("      port: 6379\n", "      port: '6379'\n"), 19, ["whole number"]),
        (GOOD.replace("security_group_id }}\n      port", "security_group_ids }}\n      port"), 18, ["no output"]),
        (
            GOOD.replace("steps.redis.outputs.security_group_id", "steps.redsi.outputs.security_group_id"),
            18,
            ["does not exist", "redis"],
        ),
        (GOOD.replace("${{ vars.node_type }}", "${{ vars.nodetype }}"), 14, ["not declared", "node_type"]),
        (GOOD.replace("name: demo-lab", "name: Demo Lab"), 1, ["not valid"]),
        (GOOD + "  - name: redis\n    type: redis.ping\n", 21, ["two steps are named"]),
        (GOOD.replace("vars:", "varz:"), 2, ["unknown key 'varz'", "vars"]),
        (GOOD.replace("      port: 6379\n", "      port: 6379\n      port: 6380\n"), 20, ["duplicate key"]),
        (GOOD.replace("      port: 6379\n", "\tport: 6379\n"), 19, ["tabs"]),
        (GOOD.replace("${{ vars.cluster_id }}", "${{ vars.cluster_id }"), 13, ["unclosed"]),
        (GOOD.replace("${{ vars.cluster_id }}", "${{ secrets.x }}"), 13, ["not a reference"]),
    ],
)
def test_errors_name_the_line_and_help(tmp_path, text, line, words):
    err = error_of(tmp_path, text)
    assert f"p.yaml:{line}:" in str(err)
    for word in words:
        assert word in str(err)


def test_reference_to_a_later_step_is_refused(tmp_path):
    text = GOOD.replace("cluster_id: ${{ vars.cluster_id }}", "cluster_id: ${{ steps.ingress.outputs.rule_id }}")
    err = error_of(tmp_path, text)
    assert "a later step" in str(err) and ":13:" in str(err)


def test_needs_must_name_an_earlier_step(tmp_path):
    text = GOOD.replace("  - name: redis\n", "  - name: redis\n    needs: [ingress]\n")
    err = error_of(tmp_path, text)
    assert "needs 'ingress', a later step" in str(err)


def test_cluster_id_built_from_run_id_is_checked_early(tmp_path):
    text = GOOD.replace("demo-${{ run.id }}", "Demo_${{ run.id }}")
    err = error_of(tmp_path, text)
    assert "not a valid cluster id" in str(err) and "from var 'cluster_id'" in str(err)


def test_public_cidr_is_refused(tmp_path):
    text = GOOD.replace(
        "      source_group_id: ${{ steps.cloud9.outputs.security_group_id }}\n", "      cidr: 0.0.0.0/0\n"
    )
    err = error_of(tmp_path, text)
    assert "whole internet" in str(err)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["empty"]),
        (b"   \n", ["empty"]),
        (b"\x00\x01binary", ["binary"]),
        (b"name: x\xff\n", ["UTF-8"]),
        (b"- just\n- a list\n", ["must be a mapping"]),
        (b"name: lab\n", ["non-empty 'steps:'"]),
        (b"steps: []\n", ["no 'name:'"]),
    ],
)
def test_unusable_files(tmp_path, content, words):
    path = tmp_path / "p.yaml"
    path.write_bytes(content)
    with pytest.raises(BadInput) as caught:
        load_playbook(path)
    for word in words:
        assert word in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match="file not found"):
        load_playbook(tmp_path / "nope.yaml")


def test_the_shipped_lab_playbook_is_valid():
    playbook = load_playbook("playbooks/lab.yaml")
    assert [s.type for s in playbook.steps][:4] == [
        "cloud9.environment",
        "elasticache.cluster",
        "ec2.ingress",
        "redis.ping",
    ]
    assert playbook.vars["node_type"] == "cache.t3.micro"
