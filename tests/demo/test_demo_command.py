import subprocess
import sys

import pytest
from click.testing import CliRunner

from ops.demo.command import cache_aside


@pytest.fixture
def invoke(aws_env):
    def invoke(*args):
        return CliRunner().invoke(cache_aside, list(args))

    return invoke


def test_command_seeds_and_runs_the_demo(invoke, empty_table, local_redis, vineyard_lines):
    result = invoke("--redis-url", local_redis.url, "--table", empty_table.name, "--seed", "--reads", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Seeded 28 items into ops-demo-reviews."
    assert lines[1:15] == ["Using uncached result!"] + vineyard_lines + ["Using cached result!"] + vineyard_lines
    assert "  cache hits / misses:  6 / 1" in lines


def test_command_warns_then_fails_when_redis_is_down(invoke, seeded_table, closed_port_url):
    """It still answers from DynamoDB (the app degrades), but the demo of a cache that never
    answered is a failure, not a success (issue 15: a real run reported it as one)."""
    result = invoke(
        "--redis-url",
        closed_port_url.replace("redis://", "redis://:s3cret@"),
        "--table",
        seeded_table.name,
        "--reads",
        "2",
    )
    assert result.exit_code == 1, result.output
    assert "Using cached result!" not in result.stdout
    assert "warning: Redis unavailable" in result.stderr
    assert "answered from DynamoDB only" in result.stderr and "failed" in result.stderr
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--table", "t"], "Missing option '--redis-url'"),
        (["--redis-url", "http://localhost:6379", "--table", "t"], "is not a Redis URL"),
        (["--redis-url", "redis://localhost:port/0", "--table", "t"], "invalid port"),
        (["--redis-url", "redis://localhost:6379/0", "--table", "t", "--reads", "0"], "--reads"),
        (["--redis-url", "redis://localhost:6379/0", "--table", "t", "--ttl", "-5"], "--ttl"),
    ],
)
def test_bad_input_exits_2(invoke, args, complaint):
    result = invoke(*args)
    assert result.exit_code == 2
    assert complaint in result.output


def test_missing_table_fails_with_a_paragraph_not_a_traceback(invoke, dynamodb, closed_port_url):
    result = invoke("--redis-url", closed_port_url, "--table", "no-such-table")
    assert result.exit_code == 1
    assert "DynamoDB table 'no-such-table' does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_restaurant_suggests_the_seeded_ones(invoke, seeded_table, local_redis):
    result = invoke("--redis-url", local_redis.url, "--table", seeded_table.name, "--restaurant", "Nowhere")
    assert result.exit_code == 1
    assert "no restaurant named 'Nowhere'" in result.stderr and "The Vineyard" in result.stderr


def test_command_module_imports_neither_boto3_nor_redis():
    probe = "import sys, ops.demo.command; print(sorted(m for m in ('boto3', 'botocore', 'redis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_entry_point_shows_the_options():
    out = subprocess.run([sys.executable, "-m", "ops.demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("Usage: python -m ops.demo [OPTIONS]")
    for option in ("--redis-url", "--table", "--region", "--restaurant", "--reads", "--ttl", "--seed"):
        assert option in out.stdout
