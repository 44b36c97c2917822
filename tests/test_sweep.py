"""`ops sweep`: leftovers found by their tags alone, shown with their age, deleted with care."""

import io

import pytest
from harness import make_runner, playbook_from

from ops.commands.config import load_settings
from ops.commands.sweep import candidates, deletable, delete, preview_lines
from ops.engine.inventory import find_tagged
from ops.output import Reporter

LAB = """\
name: sweep-lab
steps:
  - name: cloud9
    type: cloud9.environment
    with:
      name: env-${{ run.id }}
  - name: redis
    type: elasticache.cluster
    with:
      cluster_id: c-${{ run.id }}
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{ steps.redis.outputs.security_group_id }}
      port: 6379
      source_group_id: ${{ steps.cloud9.outputs.security_group_id }}
  - name: table
    type: dynamodb.table
    with:
      table_name: t-${{ run.id }}
      seed: false
"""


def test_sweep_finds_and_deletes_a_lab_whose_record_is_lost(aws, tmp_path):
    elasticache = aws.client("elasticache")
    elasticache.create_cache_cluster(
        CacheClusterId="not-ours", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    runner.apply()
    runner.state.path.unlink()  # the record is gone: only the tags are left

    found = candidates(aws)
    kinds = sorted(item.kind for item in found)
    assert kinds == [
        "cache-cluster",
        "cloud9-environment",
        "dynamodb-table",
        "ec2-instance",
        "iam-role",
        "ingress-rule",
        "instance-profile",
        "security-group",
    ]  # instance and group: the environment's
    assert all(item.run == runner.state.run_id and item.lab == "sweep-lab" for item in found)
    assert all(item.age() is not None and 0 <= item.age() < 600 for item in found)
    table = "\n".join(preview_lines(found))
    assert "not-ours" not in table and "sweep-lab" in table

    settings, _, _ = load_settings(())
    can, cannot = deletable(found)
    assert cannot == [] and not {"ec2-instance", "security-group"} & {item.kind for item in can}
    left = delete(can, aws, Reporter("json", io.StringIO(), aws.clock), settings)
    assert not any(left.values())
    assert find_tagged(aws) == []
    assert elasticache.describe_cache_clusters(CacheClusterId="not-ours")["CacheClusters"]  # never touched


def test_filters_by_lab_and_age(aws, tmp_path):
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    runner.run_step(runner.playbook.step("table"))
    assert [i.kind for i in candidates(aws, lab="sweep-lab")] == ["dynamodb-table"]
    assert candidates(aws, lab="other-lab") == []
    assert candidates(aws, older_than=3600) == []  # made seconds ago


@pytest.mark.long
def test_sweep_through_the_cli_previews_then_deletes_a_lab_whose_record_was_lost(workdir):
    from pathlib import Path

    from click.testing import CliRunner

    from ops.cli import cli

    lab = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")
    runner = CliRunner()
    assert runner.invoke(cli, ["run", lab, "--dry-run", "--keep"]).exit_code == 0
    (workdir / ".ops/dry-run/state/elasticache-lab.json").unlink()  # the record is lost
    preview = runner.invoke(cli, ["sweep", "--dry-run"])
    assert preview.exit_code == 0 and "cache-cluster" in preview.output and "elasticache-lab" in preview.output
    assert "preview only; add --yes" in preview.output
    swept = runner.invoke(cli, ["sweep", "--dry-run", "--yes"])
    assert swept.exit_code == 0, swept.output
    assert "sweep complete" in swept.output
    again = runner.invoke(cli, ["sweep", "--dry-run"])
    assert "no ops-tagged resources found" in again.output
    assert not (workdir / ".ops/dry-run/account").exists()  # nothing left: the account ended


def test_leftovers_beyond_the_first_page_of_a_listing_are_found(aws):
    """IAM's ListRoles answers 100 roles a page (as moto does): a sweep that read one page
    missed the rest. 105 tagged roles are all found."""
    iam = aws.client("iam")
    for n in range(105):
        iam.create_role(
            RoleName=f"ops-many-{n}",
            AssumeRolePolicyDocument="{}",
            Tags=[{"Key": "ops:lab", "Value": "many"}, {"Key": "ops:run", "Value": "r1"}],
        )
    found = [f for f in find_tagged(aws, lab="many") if f.kind == "iam-role"]
    assert len(found) == 105
