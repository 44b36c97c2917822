"""The cache-aside demo, run where it can reach the cache.

In AWS the cluster answers only inside its VPC, so the demo runs on the client host through
SSM Run Command: ops ships the demo's own source (a few KB) in the command, the host installs
redis/boto3/click in a throwaway venv, and reads the table with its instance role, which
gets a policy for this one table for the run (removed on teardown). No credentials travel
in the command. In a dry run the demo runs in this process, against the simulated DynamoDB
and the loopback Redis that serves the simulated endpoint.
"""
import base64
import io
import shlex
import tarfile
from pathlib import Path
from typing import Any, Dict, List

from ..errors import StepFailed
from .base import Change, Output, Param, StepType, register
from .iam import put_inline_policy
from .ssm_command import run_shell

TABLE_ACTIONS = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem",
                 "dynamodb:BatchWriteItem"]


def demo_bundle() -> str:
    """The ops.demo package as base64 tar.gz, importable as `ops.demo` once unpacked."""
    package = Path(__file__).resolve().parent.parent / "demo"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        empty = tarfile.TarInfo("ops/__init__.py")
        tar.addfile(empty, io.BytesIO(b""))
        for path in sorted(package.iterdir()):
            if path.suffix in (".py", ".json"):
                tar.add(path, arcname=f"ops/demo/{path.name}")
    return base64.b64encode(buffer.getvalue()).decode()


def remote_script(redis_url: str, table: str, region: str, restaurant: str, reads: int, ttl: int) -> List[str]:
    demo = " ".join(shlex.quote(a) for a in [
        "--redis-url", redis_url, "--table", table, "--region", region, "--restaurant", restaurant,
        "--reads", str(reads), "--ttl", str(ttl)])
    probe = (f"import boto3; boto3.client('dynamodb', region_name={region!r})"
             f".describe_table(TableName={table!r})")
    return [
        "set -e",
        'work=$(mktemp -d); trap \'rm -rf "$work"\' EXIT; cd "$work"',
        f"echo {demo_bundle()} | base64 -d | tar -xz",
        "python3 -m venv venv && venv/bin/pip install --quiet --disable-pip-version-check redis boto3 click",
        # the table policy was just attached: IAM takes a few seconds to apply it
        f"for i in $(seq 1 24); do venv/bin/python -c {shlex.quote(probe)} 2>/dev/null && break; sleep 5; done",
        f"PYTHONPATH=\"$work\" venv/bin/python -m ops.demo {demo}",
    ]


@register
class CacheAsideDemo(StepType):
    name = "demo.cache_aside"
    summary = ("Run the restaurant-review cache-aside demo (Redis in front of DynamoDB) from the client host, "
               "and report hits, misses and latency.")
    params = [
        Param("table_name", required=True, doc="the restaurant-review table"),
        Param("redis_address", required=True, doc="cache endpoint address"),
        Param("redis_port", type="integer", default=6379, minimum=1, maximum=65535, doc="cache endpoint port"),
        Param("instance_id", required=True, doc="client host inside the VPC (SSM-managed)"),
        Param("role_name", required=True, doc="the client host's IAM role, granted this table for the run"),
        Param("restaurant", default="The Vineyard", doc="restaurant whose summary is fetched"),
        Param("reads", type="integer", default=50, minimum=1, maximum=10000, doc="reads timed for the report"),
        Param("ttl", type="integer", default=900, minimum=1, doc="cache TTL in seconds"),
    ]
    outputs = {"hits": Output("cache hits"), "misses": Output("cache misses"),
               "cached_p50_ms": Output("median cached read, ms"), "db_p50_ms": Output("median database read, ms")}
    example = """\
- name: demo
  type: demo.cache_aside
  with:
    table_name: ${{ steps.table.outputs.table_name }}
    redis_address: ${{ steps.redis.outputs.address }}
    redis_port: ${{ steps.redis.outputs.port }}
    instance_id: ${{ steps.cloud9.outputs.instance_id }}
    role_name: ${{ steps.cloud9.outputs.role_name }}
"""
    default_timeout = 900.0
    permissions = ["ssm:SendCommand", "ssm:GetCommandInvocation", "iam:PutRolePolicy", "iam:DeleteRolePolicy"]

    def preview(self) -> List[Change]:
        return [Change("change", f"let role {self.args['role_name']} read and write table {self.args['table_name']} "
                                 "for the run (an inline policy, removed on teardown)"),
                Change("run", f"the cache-aside demo on {self.args['instance_id']} (SSM Run Command)")]

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        table = ctx.call(ctx.client("dynamodb").describe_table, TableName=args["table_name"])["Table"]
        put_inline_policy(ctx, args["role_name"], f"ops-{ctx.lab}-{ctx.run_id}-table"[:128], {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": TABLE_ACTIONS, "Resource": table["TableArn"]}]})
        return {}

    def wait(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        url = f"redis://{args['redis_address']}:{args['redis_port']}/0"
        if ctx.dry_run:
            return self._run_here(url)
        result = run_shell(ctx, args["instance_id"],
                           remote_script(url, args["table_name"], ctx.region, args["restaurant"], args["reads"],
                                         args["ttl"]), "the cache-aside demo", 600)
        ctx.output(result["stdout"].rstrip())
        return _report_from_text(result["stdout"])

    def _run_here(self, url: str) -> Dict[str, Any]:
        from ..demo.run import run_demo

        from ..demo.table import RestaurantNotFound

        ctx, args = self.ctx, self.args
        try:
            # a throttled read starts the demo again (on AWS, botocore's retries absorb most of them)
            report = ctx.call(run_demo, redis_url=url, table_name=args["table_name"],
                              dynamodb_client=ctx.client("dynamodb"), restaurant=args["restaurant"],
                              reads=args["reads"], ttl=args["ttl"], echo=ctx.output,
                              warn=lambda text: ctx.output(f"warning: {text}"))
        except RestaurantNotFound as exc:
            raise StepFailed(ctx.step, f"{exc}.", "Use a restaurant from the seed data, e.g. 'The Vineyard'.") from None
        if not report["redis_ok"]:
            raise StepFailed(ctx.step, f"the demo could not use Redis at {url} (it answered from DynamoDB only).",
                             "Check the cluster endpoint and the ingress rule.")
        return {key: report[key] for key in self.outputs}

    @classmethod
    def delete(cls, ctx, resource) -> None:
        from .iam import delete_iam

        delete_iam(ctx, resource)


def _report_from_text(stdout: str) -> Dict[str, Any]:
    """Pick the figures out of the demo's printed report (the remote run prints, not returns)."""
    import re

    found: Dict[str, Any] = {}
    hits = re.search(r"cache hits / misses:\s+(\d+) / (\d+)", stdout)
    if hits:
        found["hits"], found["misses"] = int(hits.group(1)), int(hits.group(2))
    cached = re.search(r"cached read\s+x\d+:\s+p50 ([\d.]+) ms", stdout)
    database = re.search(r"database read x\d+:\s+p50 ([\d.]+) ms", stdout)
    found["cached_p50_ms"] = float(cached.group(1)) if cached else None
    found["db_p50_ms"] = float(database.group(1)) if database else None
    return found
