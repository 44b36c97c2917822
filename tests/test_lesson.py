"""The lesson on a kept lab, through the CLI: `ops run --keep` leaves the workspace on the
host, `ops exec` runs the lesson's scripts there (uncached, then cached), returns a failing
command's exit code and long output whole, and `ops teardown` leaves nothing."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
VINEYARD_REVIEWS = ["markmartin", "kgraham", "ewilliams", "hannah21", "john97"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def keep(workdir, playbook):
    shutil.copy(PLAYBOOKS / playbook, workdir / playbook)
    shutil.copy(PLAYBOOKS / "playbook.schema.json", workdir / "playbook.schema.json")
    run = invoke("run", playbook, "--dry-run", "--keep", "--var", "demo_reads=5")
    assert run.exit_code == 0, run.output
    assert "the lesson is in" in run.output and "python3 test_connection.py" in run.output
    (home,) = (workdir / ".ops/dry-run/account/instances").iterdir()  # the host's home
    return home


def exec_(lab, *command):
    return invoke("exec", lab, "--dry-run", "--", *command)


@pytest.mark.long
def test_a_kept_lab_has_the_lesson_and_ops_exec_runs_it(workdir):
    home = keep(workdir, "lab.yaml")
    assert sorted(p.name for p in (home / "lesson").iterdir() if not p.name.startswith(".")) == [
        "cache.py",
        "dynamodb.py",
        "entities.py",
        "fetch_restaurant_summary.py",
        "requirements.txt",
        "test_connection.py",
    ]
    profile = (home / ".ops-lesson.sh").read_text()
    assert "export REDIS_HOSTNAME=127.0.0.1" in profile and "export TABLE_NAME=ops-lab-reviews-" in profile
    assert "export AWS_DEFAULT_REGION=us-east-1" in profile and "REDIS_AUTH" not in profile
    for rc in (".bash_profile", ".bashrc"):
        assert (home / rc).read_text().count(". ~/.ops-lesson.sh") == 1

    connected = exec_("elasticache-lab", "python3", "test_connection.py")
    assert connected.exit_code == 0 and connected.stdout == "Connected to Redis!\n", connected.output

    fetched = exec_("elasticache-lab", "python3", "fetch_restaurant_summary.py")
    assert fetched.exit_code == 0, fetched.output
    lines = fetched.stdout.splitlines()
    assert lines[0].startswith("Using uncached result!") and lines[7].startswith("Using cached result!"), lines
    for summary in (lines[1:7], lines[8:14]):
        assert summary[0] == "Restaurant<The Vineyard -- Fine Dining>"
        assert [line.split(" -- ")[1].split()[0] for line in summary[1:]] == VINEYARD_REVIEWS
    assert len(lines) == 14

    # the command's words arrive as they were given, none of them read by a shell
    argv = exec_("elasticache-lab", "python3", "-c", "import sys; print(sys.argv[1:])", "a b", "c'd", "$HOME", ";id")
    assert argv.exit_code == 0 and argv.stdout == "['a b', \"c'd\", '$HOME', ';id']\n", argv.output

    failed = exec_("elasticache-lab", "sh", "-c", "echo not found >&2; exit 3")
    assert failed.exit_code == 3 and failed.stderr == "not found\n" and failed.stdout == ""

    # past SSM's caps (24,000 characters of output, 8,000 of errors), in several characters' widths
    script = "import sys\nfor i in range(2000): print(f'{i:05d}', 'é' * 20, '✓' * 5)\nsys.stderr.write('e' * 20000)"
    long = exec_("elasticache-lab", "python3", "-c", script)
    expected = "".join(f"{i:05d} {'é' * 20} {'✓' * 5}\n" for i in range(2000))
    assert len(expected) > 24000 and long.exit_code == 0
    assert long.stdout == expected and long.stderr == "e" * 20000
    assert not list(home.glob(".ops-exec/*"))  # its output files are gone once read

    as_json = invoke("exec", "elasticache-lab", "--dry-run", "--output", "json", "--", "python3", "test_connection.py")
    document = json.loads(as_json.stdout)
    assert as_json.exit_code == 0 and document["exit_code"] == 0 and document["stdout"] == "Connected to Redis!\n"
    assert document["instance_id"] == home.name

    unknown = exec_("no-such-lab", "true")
    assert unknown.exit_code == 2 and "no live lab 'no-such-lab'" in unknown.stderr
    assert exec_("elasticache-lab").exit_code == 2  # no command

    down = invoke("teardown", "elasticache-lab", "--dry-run")
    assert down.exit_code == 0 and "nothing from this run is left" in down.output, down.output
    gone = exec_("elasticache-lab", "true")
    assert gone.exit_code == 2 and "no live lab" in gone.stderr


def test_the_ec2_lab_has_the_lesson_too(workdir):
    keep(workdir, "lab-ec2.yaml")
    connected = exec_("elasticache-lab-ec2", "python3", "test_connection.py")
    assert connected.exit_code == 0 and connected.stdout == "Connected to Redis!\n", connected.output
    fetched = exec_("elasticache-lab-ec2", "python3", "fetch_restaurant_summary.py", "No Such Place")
    assert fetched.exit_code == 1 and "No restaurant named 'No Such Place'" in fetched.stderr
    assert invoke("teardown", "elasticache-lab-ec2", "--dry-run").exit_code == 0


def test_the_secure_lab_reads_its_token_on_the_host(workdir):
    home = keep(workdir, "lab-secure.yaml")
    profile = (home / ".ops-lesson.sh").read_text()
    assert "export REDIS_TLS=true" in profile and "export REDIS_AUTH_TOKEN_PARAMETER=" in profile
    fetched = exec_("elasticache-lab-secure", "python3", "fetch_restaurant_summary.py")
    assert fetched.exit_code == 0 and "Using cached result!" in fetched.stdout, fetched.output
    assert invoke("teardown", "elasticache-lab-secure", "--dry-run").exit_code == 0


LESSON_WITHOUT_DEMO = """\
name: lesson-only
steps:
  - name: host
    type: ec2.client_host
  - name: table
    type: dynamodb.table
    with:
      table_name: lesson-reviews-${{ run.id }}
      seed: true
  - name: workspace
    type: host.workspace
    with:
      instance_id: ${{ steps.host.outputs.instance_id }}
      role_name: ${{ steps.host.outputs.role_name }}
      redis_address: cache.lesson.internal
      table_name: ${{ steps.table.outputs.table_name }}
"""


def test_the_workspace_grants_the_hosts_role_the_table_without_a_demo_step(workdir):
    """The lesson's scripts read the table with the host's role: the workspace step gives the
    role that for the run (recorded, removed on teardown), so a playbook without ops's demo
    still leaves a lesson that works on a real host, where the role's policy is checked."""
    from ops.engine.target import RunTarget

    (workdir / "lesson.yaml").write_text(LESSON_WITHOUT_DEMO)
    plan = invoke("plan", "lesson.yaml", "--dry-run")
    assert plan.exit_code == 0 and "read table <table.table_name> for the lesson" in plan.output, plan.output
    run = invoke("run", "lesson.yaml", "--dry-run", "--keep", "--output", "json")
    assert run.exit_code == 0, run.output
    [made] = [
        json.loads(line)
        for line in run.stdout.splitlines()
        if '"step_created"' in line and json.loads(line).get("kind") == "role-inline-policy"
    ]
    assert made["step"] == "workspace"
    record = json.loads((workdir / ".ops/dry-run/state/lesson-only.json").read_text())
    [policy] = [r for r in record["resources"] if r["step"] == "workspace"]
    role, name = policy["attrs"]["role"], policy["attrs"]["policy"]
    with RunTarget(workdir, dry_run=True).open() as aws:
        iam = aws.client("iam")
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        [statement] = document["Statement"]
        assert statement["Action"] == ["dynamodb:DescribeTable", "dynamodb:Query", "dynamodb:GetItem"]
        assert (
            statement["Resource"].endswith(":table/" + record["resources"][-2]["id"])
            or "lesson-reviews-" in (statement["Resource"])
        )
    assert invoke("teardown", "lesson-only", "--dry-run").exit_code == 0
    with RunTarget(workdir, dry_run=True).open() as aws:
        iam = aws.client("iam")
        with pytest.raises(iam.exceptions.NoSuchEntityException):  # the policy went, and the role with it
            iam.get_role_policy(RoleName=role, PolicyName=name)
