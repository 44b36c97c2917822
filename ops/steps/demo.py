"""The cache-aside demo, run where it can reach the cache.

In AWS the cluster answers only inside its VPC, so the demo runs on the client host through
SSM Run Command: ops ships the demo's own source (a few KB) in the command, the host installs
redis/boto3/click in a throwaway venv, and reads the table with its instance role, which
gets a policy for this one table for the run (removed on teardown). No credentials travel
in the command. In a dry run the demo runs in this process, against the simulated DynamoDB
and the loopback Redis that serves the simulated endpoint.

With `tls` the demo uses rediss:// (the system's CAs verify ElastiCache's certificate; in a
dry run, the simulated account's CA). With `auth_token_parameter` the host reads the token
from that SecureString with its instance role (the role's policy for the run gets
ssm:GetParameter on exactly that parameter) into OPS_REDIS_PASSWORD, which the demo reads;
it is never on a command line, in the SSM command text or in output. In a dry run the step
reads it from the simulated SSM itself and hands it to redis-py.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import StepFailed
from ..hostscript import HostScript, Template, Value
from ..model import Change
from ..netnames import check_network_name, ip_literal
from ..permissions import RUN_COMMAND, Grant, arn, iam_arn
from .base import Output, Param, StepType, register
from .dynamodb import check_table_name
from .iam import INLINE_KIND, put_inline_policy
from .redis_ping import READ_TOKEN, check_parameter_name, token_statement, token_values
from .ssm_command import run_shell

TABLE_ACTIONS = [
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
]


def grant_table_for_the_run(ctx, args, actions: List[str], purpose: str) -> None:
    """An inline policy on the host's role (args' role_name), recorded and removed on teardown:
    `actions` on args' table, and reading args' token parameter when there is one."""
    table = ctx.call(ctx.client("dynamodb").describe_table, TableName=args["table_name"])["Table"]
    statements = [{"Effect": "Allow", "Action": actions, "Resource": table["TableArn"]}]
    if args["auth_token_parameter"]:
        statements.append(token_statement(ctx, args["auth_token_parameter"]))
    put_inline_policy(
        ctx,
        args["role_name"],
        f"ops-{ctx.lab}-{ctx.run_id}-{purpose}"[:128],
        {"Version": "2012-10-17", "Statement": statements},
    )


def demo_bundle() -> str:
    """The ops.demo package as base64 tar.gz, importable as `ops.demo` once unpacked."""
    import tarfile  # here: every command imports this module, only a run ships the bundle (start-up time)

    package = Path(__file__).resolve().parent.parent / "demo"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        empty = tarfile.TarInfo("ops/__init__.py")
        tar.addfile(empty, io.BytesIO(b""))
        for path in sorted(package.iterdir()):
            if path.suffix in (".py", ".json"):
                tar.add(path, arcname=f"ops/demo/{path.name}")
    return base64.b64encode(buffer.getvalue()).decode()


# The demo's packages on the host, in a venv kept between runs (one per package list: a
# changed list gets a new one) under the running user's cache folder.
DEMO_PACKAGES = ("redis", "boto3", "click", "tenacity")
DEMO_VENV = "venv-1"  # bump with DEMO_PACKAGES
EXIT_NO_PACKAGE_INDEX = 7
NO_PACKAGE_INDEX_HINT = (
    "The host reaches no Python package index: give its subnet a NAT gateway, or set a proxy in pip's "
    "configuration on the host, or name an index it can reach with --var demo_index_url=URL."
)

# On the host: unpack the demo, find or make its venv, wait for the table policy, read the AUTH
# token (when there is one), run the demo. Values arrive only as the OPS_* variables.
_PREPARE = Template(
    "set -e\n"
    'work=$(mktemp -d); trap \'rm -rf "$work"\' EXIT; cd "$work"\n'
    "printf '%s' \"$OPS_DEMO_BUNDLE\" | base64 -d | tar -xz\n"
    'venv="${HOME:-/root}/.cache/ops-demo/$OPS_DEMO_VENV"\n'
    'if ! "$venv/bin/python" -c "import redis, boto3, click, tenacity" 2>/dev/null; then\n'
    '  rm -rf "$venv"\n'
    '  python3 -m venv "$venv"\n'
    '  "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 '
    '${OPS_INDEX_URL:+--index-url "$OPS_INDEX_URL"} redis boto3 click tenacity || {\n'
    '    rm -rf "$venv"\n'
    "    printf 'ops: the host could not install the demo packages (redis, boto3, click, tenacity) from %s\\n' "
    '"${OPS_INDEX_URL:-the index pip is configured with, PyPI by default}" >&2\n'
    "    exit 7\n"
    "  }\n"
    "fi\n"
    # the table policy was just attached: IAM takes a few seconds to apply it
    'for i in $(seq 1 24); do "$venv/bin/python" -c \'import boto3, os; '
    'boto3.client("dynamodb", region_name=os.environ["OPS_REGION"])'
    '.describe_table(TableName=os.environ["OPS_TABLE"])\' 2>/dev/null && break; sleep 5; done'
)
# the AUTH token: read by the host with its role, handed over in the environment only
_PASS_TOKEN = Template("OPS_REDIS_PASSWORD=$token; unset token; export OPS_REDIS_PASSWORD")
_RUN = Template(
    'PYTHONPATH="$work" "$venv/bin/python" -m ops.demo --redis-url="$OPS_REDIS_URL" --table="$OPS_TABLE" '
    '--region="$OPS_REGION" --restaurant="$OPS_RESTAURANT" --reads="$OPS_READS" --ttl="$OPS_TTL"'
)


def remote_script(
    redis_url: str,
    table: str,
    region: str,
    restaurant: str,
    reads: int,
    ttl: int,
    token_parameter: str = "",
    token_attempts: int = 12,
    index_url: str = "",
) -> HostScript:
    values: Dict[str, Value] = {
        "OPS_DEMO_BUNDLE": demo_bundle(),
        "OPS_DEMO_VENV": DEMO_VENV,
        "OPS_INDEX_URL": index_url,
        "OPS_REDIS_URL": redis_url,
        "OPS_TABLE": table,
        "OPS_REGION": region,
        "OPS_RESTAURANT": restaurant,
        "OPS_READS": reads,
        "OPS_TTL": ttl,
    }
    templates = [_PREPARE]
    if token_parameter:
        values.update(token_values(token_parameter, token_attempts))
        templates += [READ_TOKEN, _PASS_TOKEN]
    return HostScript(values, *templates, _RUN)


def check_index_url(value: str) -> Optional[str]:
    """A package index is an http(s) URL without spaces (it reaches pip as one argument)."""
    if value and not re.fullmatch(r"https?://[^\s]+", value):
        return f"{value!r} is not an http:// or https:// URL"
    return None


def cache_url(tls: bool, address: str, port: int) -> str:
    """The demo's --redis-url (an IPv6 address in brackets)."""
    scheme = "rediss" if tls else "redis"
    address_ip = ip_literal(address)
    host = f"[{address}]" if address_ip and address_ip.version == 6 else address
    return f"{scheme}://{host}:{port}/0"


@register
class CacheAsideDemo(StepType):
    name = "demo.cache_aside"
    summary = (
        "Run the restaurant-review cache-aside demo (Redis in front of DynamoDB) from the client host, "
        "and report hits, misses and latency."
    )
    params = [
        Param("table_name", required=True, check=check_table_name, doc="the restaurant-review table"),
        Param("redis_address", required=True, check=check_network_name, doc="cache endpoint address"),
        Param("redis_port", type="integer", default=6379, minimum=1, maximum=65535, doc="cache endpoint port"),
        Param("instance_id", required=True, doc="client host inside the VPC (SSM-managed)"),
        Param("role_name", required=True, doc="the client host's IAM role, granted this table for the run"),
        Param("restaurant", default="The Vineyard", doc="restaurant whose summary is fetched"),
        Param("reads", type="integer", default=50, minimum=1, maximum=10000, doc="reads timed for the report"),
        Param(
            "ttl",
            type="integer",
            default=900,
            minimum=1,
            maximum=2_592_000,
            doc="cache TTL in seconds, at most 30 days (a lab lives hours; Redis' EXPIRE overflows past 2^63 ms)",
        ),
        Param("tls", type="boolean", default=False, doc="the cache speaks TLS (rediss://)"),
        Param(
            "auth_token_parameter",
            default="",
            check=check_parameter_name,
            doc="SSM SecureString holding the AUTH token (its name); the host role may read it for the run",
        ),
        Param(
            "index_url",
            default="",
            check=check_index_url,
            doc="Python package index the host installs the demo's packages from once (pip --index-url); "
            "empty: pip's own configuration (PyPI)",
        ),
    ]
    outputs = {
        "hits": Output("cache hits"),
        "misses": Output("cache misses"),
        "cached_p50_ms": Output("median cached read, ms"),
        "db_p50_ms": Output("median database read, ms"),
    }
    example = """\
- name: demo
  type: demo.cache_aside
  with:
    table_name: ${{ steps.table.outputs.table_name }}
    redis_address: ${{ steps.redis.outputs.address }}
    redis_port: ${{ steps.redis.outputs.port }}
    instance_id: ${{ steps.cloud9.outputs.instance_id }}
    role_name: ${{ steps.cloud9.outputs.role_name }}
    tls: ${{ steps.redis.outputs.tls }}                                    # with a replication group
    auth_token_parameter: ${{ steps.redis.outputs.auth_token_parameter }}  # with a replication group
"""
    default_timeout = 900.0
    kinds = (INLINE_KIND,)  # the instance role's policy for the run
    permissions = [
        *RUN_COMMAND,
        Grant(["dynamodb:DescribeTable"], [arn("dynamodb", "table/{table_name}")]),
        Grant(["iam:PutRolePolicy", "iam:DeleteRolePolicy"], [iam_arn("role/{role_name}")]),
        # a dry run reads the token here, as the host would
        Grant(["ssm:GetParameter"], [arn("ssm", "parameter/{auth_token_parameter_path}")]),
    ]

    def preview(self) -> List[Change]:
        token = f" and read {self.args['auth_token_parameter']}" if self.args["auth_token_parameter"] else ""
        return [
            Change(
                "change",
                f"let role {self.args['role_name']} read and write table {self.args['table_name']}"
                f"{token} for the run (an inline policy, removed on teardown)",
            ),
            Change("run", f"the cache-aside demo on {self.args['instance_id']} (SSM Run Command)"),
        ]

    def create(self) -> Dict[str, Any]:
        grant_table_for_the_run(self.ctx, self.args, TABLE_ACTIONS, "table")
        return {}

    def wait(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        url = cache_url(bool(args["tls"]), args["redis_address"], args["redis_port"])
        if ctx.dry_run:
            return self._run_here(url)
        result = run_shell(
            ctx,
            args["instance_id"],
            remote_script(
                url,
                args["table_name"],
                ctx.region,
                args["restaurant"],
                args["reads"],
                args["ttl"],
                args["auth_token_parameter"],
                index_url=args["index_url"],
            ),
            "the cache-aside demo",
            600,
            hints={EXIT_NO_PACKAGE_INDEX: NO_PACKAGE_INDEX_HINT},
        )
        ctx.output(result["stdout"].rstrip())
        return _report_from_text(result["stdout"])

    def _run_here(self, url: str) -> Dict[str, Any]:
        from ..demo.run import run_demo
        from ..demo.table import RestaurantNotFound

        ctx, args = self.ctx, self.args
        password = None
        if args["auth_token_parameter"]:  # what the host would read with its role
            password = ctx.call(
                ctx.client("ssm").get_parameter, Name=args["auth_token_parameter"], WithDecryption=True
            )["Parameter"]["Value"]
        world = getattr(ctx.aws, "world", None)
        ca_file = world.ca_file if args["tls"] and world is not None else None
        try:
            # the client retries a throttled read itself, on the run's clock (ops.aws)
            report = ctx.call(
                run_demo,
                redis_url=url,
                table_name=args["table_name"],
                dynamodb_client=ctx.client("dynamodb"),
                restaurant=args["restaurant"],
                reads=args["reads"],
                ttl=args["ttl"],
                echo=ctx.output,
                warn=lambda text: ctx.output(f"warning: {text}"),
                redis_password=password,
                ca_file=ca_file,
            )
        except RestaurantNotFound as exc:
            raise StepFailed(ctx.step, f"{exc}.", "Use a restaurant from the seed data, e.g. 'The Vineyard'.") from None
        if not report["redis_ok"]:
            raise StepFailed(
                ctx.step,
                f"the demo could not use Redis at {url} (it answered from DynamoDB only).",
                "Check the cluster endpoint and the ingress rule.",
            )
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
