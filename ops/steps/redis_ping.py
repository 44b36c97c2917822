"""PING the cache from inside its VPC, on the client host, through SSM Run Command.

The script needs nothing installed on the host for a plain endpoint: bash's /dev/tcp speaks
RESP directly. With TLS it uses `openssl s_client` (on Amazon Linux by default). With an AUTH
token the host reads it itself, from its SSM SecureString, with its instance role (the step
grants that role ssm:GetParameter on exactly that parameter for the run); the token stays in
a shell variable and reaches the server through bash's printf builtin, so it is in no
process's argv, in no SSM command text and in no output.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from ..errors import StepFailed
from ..hostscript import HostScript, Template, Value
from ..model import Change
from ..netnames import check_network_name, ip_literal
from ..permissions import RUN_COMMAND, Grant, iam_arn, partition_of
from .base import Output, Param, StepType, register
from .iam import INLINE_KIND, put_inline_policy
from .ssm_command import run_shell

AUTH_REFUSED = ("-WRONGPASS", "-NOAUTH", "-ERR invalid password", "-ERR AUTH")
_PARAMETER_NAME = re.compile(r"(/?[A-Za-z0-9_.][A-Za-z0-9_.\-/]{0,1010})?")

# The host reads the token of SecureString $OPS_TOKEN_PARAMETER into $token with its instance
# role, retried while a just-attached policy propagates; exit 5 when it cannot.
READ_TOKEN = Template(
    'for attempt in $(seq 1 "$OPS_TOKEN_ATTEMPTS"); do '
    'token=$(aws ssm get-parameter --name "$OPS_TOKEN_PARAMETER" --with-decryption '
    "--query Parameter.Value --output text) && break; "
    '[ "$attempt" = "$OPS_TOKEN_ATTEMPTS" ] && { '
    "printf 'could not read the AUTH token from SSM parameter %s\\n' \"$OPS_TOKEN_PARAMETER\" >&2; exit 5; }; "
    "sleep 5; done"
)
_START = Template("set -u")
_CONNECT_TCP = Template('exec 3<>"/dev/tcp/$OPS_HOST/$OPS_PORT" || exit 3\nout=3; in=3')
_CONNECT_TLS = Template(
    'coproc REDIS { exec timeout 20 openssl s_client -connect "$OPS_CONNECT" '
    '-verify_return_error "$OPS_VERIFY_OPTION" "$OPS_HOST" -quiet 2>/dev/null; }\n'
    "out=${REDIS[1]}; in=${REDIS[0]}"
)
# RESP arrays, not inline commands (fakeredis' server refuses those); the token goes through
# printf, a builtin, so it is in no process's argv
_PING = Template(
    "printf '*1\\r\\n$4\\r\\nPING\\r\\n' >&\"$out\"\n"
    'for i in $(seq 1 1); do read -r -t 10 reply <&"$in" || exit 4; echo "${reply%$\'\\r\'}"; done'
)
_AUTH_PING = Template(
    "printf '*2\\r\\n$4\\r\\nAUTH\\r\\n$%d\\r\\n%s\\r\\n*1\\r\\n$4\\r\\nPING\\r\\n' "
    '"${#token}" "$token" >&"$out"\n'
    'for i in $(seq 1 2); do read -r -t 10 reply <&"$in" || exit 4; echo "${reply%$\'\\r\'}"; done'
)
_FINISH = Template('[ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null; exit 0')


def check_parameter_name(value: str) -> Optional[str]:
    """A Param check: an SSM parameter name (or empty: none), which cannot pass for an option."""
    if not _PARAMETER_NAME.fullmatch(value):
        return (
            "must be an SSM parameter name: letters, digits, '_', '.', '-' and '/', not starting "
            "with '-' (e.g. /ops/lab/token)"
        )
    return None


def token_values(parameter: str, attempts: int) -> Dict[str, Value]:
    """What READ_TOKEN needs."""
    return {"OPS_TOKEN_PARAMETER": parameter, "OPS_TOKEN_ATTEMPTS": attempts}


def ping_script(host: str, port: int, tls: bool, parameter: str, attempts: int) -> HostScript:
    """PING (over TLS and/or with AUTH when asked): prints the AUTH reply (with a token), then
    PING's."""
    values: Dict[str, Value] = {"OPS_HOST": host}
    templates = [_START]
    if parameter:
        values.update(token_values(parameter, attempts))
        templates.append(READ_TOKEN)
    if tls:
        address = ip_literal(host)
        values["OPS_CONNECT"] = f"[{host}]:{port}" if address and address.version == 6 else f"{host}:{port}"
        values["OPS_VERIFY_OPTION"] = "-verify_ip" if address else "-verify_hostname"
        templates.append(_CONNECT_TLS)
    else:
        values["OPS_PORT"] = port
        templates.append(_CONNECT_TCP)
    templates += [_AUTH_PING if parameter else _PING, _FINISH]
    return HostScript(values, *templates)


def parameter_arn(ctx, name: str) -> str:
    account = ctx.call(ctx.client("sts").get_caller_identity)["Account"]
    return f"arn:{partition_of(ctx.region)}:ssm:{ctx.region}:{account}:parameter/{name.lstrip('/')}"


def token_statement(ctx, parameter: str) -> Dict[str, Any]:
    """What the host role needs to read the token: ssm:GetParameter on that one parameter."""
    return {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameter_arn(ctx, parameter)}


def check_token_reader(args) -> Optional[tuple]:
    """The cross-parameter rule of steps whose host reads a token: a parameter needs the role."""
    if args.get("auth_token_parameter") and not args.get("role_name"):
        return (
            "role_name",
            "is needed with auth_token_parameter: the host's role is granted ssm:GetParameter on that parameter",
            "Add role_name: ${{ steps.HOST.outputs.role_name }}.",
        )
    return None


@register
class RedisPing(StepType):
    name = "redis.ping"
    summary = "PING a Redis endpoint from a host inside the VPC (SSM Run Command) and show the reply."
    params = [
        Param("instance_id", required=True, doc="client host to run PING on (SSM-managed)"),
        Param("host", required=True, check=check_network_name, doc="Redis endpoint address"),
        Param("port", type="integer", default=6379, minimum=1, maximum=65535, doc="Redis port"),
        Param("tls", type="boolean", default=False, doc="speak TLS (openssl s_client on the host)"),
        Param(
            "auth_token_parameter",
            default="",
            check=check_parameter_name,
            doc="SSM SecureString holding the AUTH token (its name; the host reads it with its role)",
        ),
        Param(
            "role_name",
            default=None,
            doc="the host's IAM role, granted ssm:GetParameter on auth_token_parameter for the run",
        ),
    ]
    outputs = {"reply": Output("the server's reply, +PONG when healthy")}
    example = """\
- name: ping
  type: redis.ping
  with:
    instance_id: ${{ steps.host.outputs.instance_id }}
    host: ${{ steps.cache.outputs.address }}
    port: ${{ steps.cache.outputs.port }}
    tls: ${{ steps.cache.outputs.tls }}
    auth_token_parameter: ${{ steps.cache.outputs.auth_token_parameter }}
    role_name: ${{ steps.host.outputs.role_name }}
"""
    default_timeout = 600.0
    kinds = (INLINE_KIND,)  # the instance role's policy for the run
    permissions = [
        *RUN_COMMAND,  # with a token: the host role's policy to read it (sts: ops/commands/iam_policy.py)
        Grant(["iam:PutRolePolicy", "iam:DeleteRolePolicy"], [iam_arn("role/{role_name}")]),
    ]

    @classmethod
    def check_args(cls, args):
        return check_token_reader(args)

    def preview(self) -> List[Change]:
        args = self.args
        how = " over TLS" if args["tls"] is True else ""
        changes = []
        if args["auth_token_parameter"]:
            changes.append(
                Change(
                    "change",
                    f"let role {args['role_name']} read {args['auth_token_parameter']} "
                    "for the run (an inline policy, removed on teardown)",
                )
            )
            how += " with the AUTH token"
        changes.append(
            Change("run", f"PING {args['host']}:{args['port']}{how} from {args['instance_id']} (SSM Run Command)")
        )
        return changes

    def create(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        if args["auth_token_parameter"]:
            if not args["role_name"]:
                raise StepFailed(
                    ctx.step,
                    "auth_token_parameter is set but role_name is empty.",
                    "Give the host's role: role_name: ${{ steps.HOST.outputs.role_name }}.",
                )
            put_inline_policy(
                ctx,
                args["role_name"],
                f"ops-{ctx.lab}-{ctx.run_id}-{ctx.step}-token"[:128],
                {"Version": "2012-10-17", "Statement": [token_statement(ctx, args["auth_token_parameter"])]},
            )
        return {}

    def wait(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        host, port, parameter = args["host"], int(args["port"]), args["auth_token_parameter"]
        what = f"PING {host}:{port}"
        script = ping_script(host, port, bool(args["tls"]), parameter, 1 if ctx.dry_run else 12)
        result = run_shell(ctx, args["instance_id"], script, what, 120)
        replies = result["stdout"].strip().splitlines() or [""]
        reply = replies[-1].strip()
        ctx.output(f"{what}{' (TLS)' if args['tls'] else ''} -> {reply}")
        if parameter and replies[0].startswith(AUTH_REFUSED):
            raise StepFailed(
                ctx.step,
                f"the server refused the AUTH token from {parameter} ({replies[0].split()[0]}).",
                "The parameter must hold the token the replication group was created with; check auth_token_parameter.",
            )
        if reply != "+PONG":
            raise StepFailed(
                ctx.step,
                f"PING answered {reply!r} instead of +PONG.",
                "Is the endpoint a Redis server, and does it require AUTH or TLS?",
            )
        return {"reply": reply}

    @classmethod
    def delete(cls, ctx, resource) -> None:
        from .iam import delete_iam

        delete_iam(ctx, resource)
