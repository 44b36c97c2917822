"""The CLI's contract: exit codes, one-paragraph errors, no tracebacks, nothing created."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli

LAB = str(Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml")


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_validate_good_playbook():
    result = invoke("validate", LAB)
    assert result.exit_code == 0
    assert "valid: lab 'elasticache-lab'" in result.output


def test_validate_json_lists_steps_and_dependencies():
    result = invoke("validate", LAB, "--output", "json")
    doc = json.loads(result.output)
    steps = {s["name"]: s for s in doc["steps"]}
    assert set(steps["ingress"]["needs"]) == {"redis", "cloud9"}
    assert "ping" in steps["demo"]["needs"]


def test_bad_playbook_exits_2_with_file_and_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: lab\nsteps:\n  - name: x\n    type: elasticache.clusterr\n")
    result = invoke("validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:4:" in result.output and "Did you mean 'elasticache.cluster'?" in result.output
    assert "Traceback" not in result.output


def test_bad_var_flag_exits_2():
    result = invoke("validate", LAB, "--var", "nonsense")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_unknown_option_is_a_usage_error():
    result = invoke("run", LAB, "--dry-rum")
    assert result.exit_code == 2 and "No such option" in result.output


def test_bad_config_file_exits_2(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("vars:\n  node_type: cache.t3.micro\nregoin: eu-west-1\n")
    result = invoke("validate", LAB, "--config", str(config))
    assert result.exit_code == 2 and f"{config}:3:" in result.output and "unknown key 'regoin'" in result.output


def test_ops_config_names_config_files_that_a_config_flag_replaces(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("vars:\n  node_type: cache.t3.micro\n")
    bad.write_text("vars: {}\nregoin: eu-west-1\n")
    monkeypatch.setenv("OPS_CONFIG", f"{good}:{bad}")  # both read, as --config twice
    result = invoke("validate", LAB)
    assert result.exit_code == 2 and f"{bad}:2:" in result.output and "unknown key 'regoin'" in result.output
    result = invoke("validate", LAB, "--config", str(good))  # the flag replaces OPS_CONFIG
    assert result.exit_code == 0, result.output


def test_real_run_without_credentials_says_what_to_do(workdir, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = invoke("run", LAB)
    assert result.exit_code == 2
    assert "no AWS credentials" in result.output and "--dry-run" in result.output
    assert not (workdir / ".ops").exists()  # nothing recorded, nothing created


def test_missing_profile_is_bad_input(workdir):
    result = invoke("run", LAB, "--profile", "nope")
    assert result.exit_code == 2 and "profile" in result.output.lower()


def test_teardown_with_nothing_recorded_is_a_no_op(workdir):
    result = invoke("teardown", "some-lab")
    assert result.exit_code == 0 and "nothing to delete" in result.output


def test_steps_describes_a_type_from_its_class():
    result = invoke("steps", "elasticache.cluster")
    assert result.exit_code == 0
    assert "node_type" in result.output and "cache.t3.micro" in result.output and "endpoint" in result.output
    assert invoke("steps", "nope").exit_code == 2


@pytest.mark.parametrize("argv", [["--help"], ["validate", LAB], ["steps"], ["steps", "cloud9.environment"]])
def test_quick_commands_do_not_import_aws_or_redis_libraries(argv):
    import subprocess
    import sys

    code = (
        f"import sys; sys.argv=['ops'] + {argv!r}\nfrom ops.cli import main\ntry: main()\n"
        "except SystemExit as exit: assert not exit.code, exit.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3','botocore','moto','redis'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "argv, unneeded",
    [
        (["--help"], ["yaml", "ops.demo.entities", "ops.demo.seed", "ops.steps.base", "traceback", "secrets"]),
        (["validate", LAB], ["secrets", "traceback", "ops.demo.seed"]),
    ],
)
def test_quick_commands_leave_what_they_do_not_use_unimported(argv, unneeded):
    """Start-up time (bench/run.py, 'cold start'): --help reads no YAML and no step type,
    validate generates no token and prints no traceback."""
    import subprocess
    import sys

    code = (
        f"import sys; sys.argv=['ops'] + {argv!r}\nfrom ops.cli import main\ntry: main()\n"
        "except SystemExit as exit: assert not exit.code, exit.code\n"
        f"print(sorted(set(sys.modules) & {set(unneeded)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_cidr_source_needs_allow_public_ingress(tmp_path):
    playbook = tmp_path / "p.yaml"
    playbook.write_text(
        "name: lab\nsteps:\n  - name: rule\n    type: ec2.ingress\n    with:\n"
        "      group_id: sg-1\n      port: 6379\n      cidr: 10.0.0.0/16\n"
    )
    refused = invoke("validate", str(playbook))
    assert refused.exit_code == 2 and f"{playbook}:8:" in refused.output and "--allow-public-ingress" in refused.output
    assert invoke("validate", str(playbook), "--allow-public-ingress").exit_code == 0
    playbook.write_text(playbook.read_text().replace("10.0.0.0/16", "0.0.0.0/0"))
    world = invoke("validate", str(playbook), "--allow-public-ingress")
    assert world.exit_code == 2 and "whole internet" in world.output


@pytest.mark.parametrize("mode", [["--dry-run"], []])
def test_an_unknown_region_is_bad_input_before_any_call(workdir, mode):
    result = invoke("run", LAB, "--region", "us-eats-1", *mode)
    assert result.exit_code == 2 and "'us-eats-1' is not an AWS region" in result.output
    assert "Did you mean 'us-east-1'?" in result.output
    assert not (workdir / ".ops").exists()
