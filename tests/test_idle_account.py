"""When a dry-run command ends the simulated account: after a run's or a teardown's own
inventory found nothing of ops's, the idle check does not list the whole account again, unless
this process sent the account a call since (which might have made something)."""

import pytest

from ops.commands import dryrun_account
from ops.commands.dryrun_account import discard_simulation_if_idle, note_inventory
from ops.engine.inventory import find_tagged
from ops.engine.target import open_target
from ops.model import TAG_LAB
from ops.paths import sim_home


def _make_tagged_table(aws) -> None:
    aws.client("dynamodb").create_table(
        TableName="made-after-the-inventory",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": TAG_LAB, "Value": "someone-elses-lab"}],
    )


@pytest.mark.parametrize("afterwards", ["nothing", "a call that makes a resource"])
def test_the_idle_check_trusts_an_empty_inventory_only_while_nothing_was_sent(workdir, monkeypatch, afterwards):
    home = sim_home(workdir)
    with open_target(True, None, None, {"home": home}) as aws:
        note_inventory(aws, find_tagged(aws))  # as a run's last check does: nothing of ops's
        if afterwards != "nothing":
            _make_tagged_table(aws)
    listings = []
    monkeypatch.setattr(dryrun_account, "find_tagged", lambda aws: listings.append(1) or find_tagged(aws))
    discarded = discard_simulation_if_idle(workdir)
    if afterwards == "nothing":
        assert discarded and not home.exists()
        assert listings == []  # the run's own inventory was enough
    else:
        assert not discarded and home.exists()  # listed again, and the new table keeps the account
        assert listings == [1]


def test_a_run_and_its_teardown_end_the_account_with_one_inventory(workdir, monkeypatch):
    """Through the CLI: the dry run's own check of the account is its last inventory."""
    from click.testing import CliRunner

    from ops.cli import cli

    (workdir / "lab.yaml").write_text(
        "name: idle-lab\n"
        "steps:\n"
        "  - name: table\n"
        "    type: dynamodb.table\n"
        "    with:\n"
        "      table_name: reviews-${{ run.id }}\n"
    )
    listings = []
    monkeypatch.setattr(dryrun_account, "find_tagged", lambda aws: listings.append(1) or find_tagged(aws))
    done = CliRunner().invoke(cli, ["run", "lab.yaml", "--dry-run"])
    assert done.exit_code == 0, done.output
    assert "nothing from this run is left in the account." in done.output
    assert not sim_home(workdir).exists() and listings == []
