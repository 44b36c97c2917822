"""The lesson's workspace on the client host: what a student needs to do the lesson there.

In the login user's home (ec2-user on Amazon Linux; in a dry run, the simulated host's
home): `lesson/` with the lesson's five scripts (ops/lesson/, plain files a student reads)
and requirements.txt, a venv `lesson/.venv` with them installed, and `.ops-lesson.sh`,
which exports REDIS_HOSTNAME, REDIS_PORT, TABLE_NAME, AWS_DEFAULT_REGION (and REDIS_TLS,
REDIS_AUTH_TOKEN_PARAMETER: the token's name, never the token) and puts the venv first on
PATH. One marked line in ~/.bash_profile and ~/.bashrc sources it in every login shell.

It is shipped like the demo: a tar in one OPS_ variable of a HostScript, values quoted by
shlex.quote into the snippet. Writing it again replaces the files and adds no second line,
so the step is idempotent. The files go with the host. The scripts read the table (and the
token's parameter) with the host's role, so the step gives the role an inline policy of its
own for the run, recorded and removed on teardown like the demo's: a lesson does not depend
on the demo step being in the playbook (a simulated host's calls are not checked against
its role, so only this grant, not a rehearsal, would tell).

In a dry run the host cannot install packages (nothing leaves the machine), so the venv is
made from ops's own interpreter with its site-packages on the path (OPS_PYTHON,
OPS_LESSON_SITE); the simulated SSM gives the host's commands the simulated DynamoDB.
"""

from __future__ import annotations

import base64
import io
import shlex
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Dict, List

from ..errors import StepFailed
from ..hostscript import HostScript, Template
from ..model import Change
from ..netnames import check_network_name
from ..permissions import RUN_COMMAND, Grant, arn, iam_arn
from .base import Output, Param, StepType, register
from .demo import NO_PACKAGE_INDEX_HINT, check_index_url, grant_table_for_the_run
from .dynamodb import check_table_name
from .iam import INLINE_KIND
from .redis_ping import check_parameter_name
from .ssm_command import run_shell

LESSON_DIR = Path(__file__).resolve().parent.parent / "lesson"
PROFILE = ".ops-lesson.sh"
EXIT_NO_USER, EXIT_NO_PACKAGE_INDEX = 6, 7
LESSON_TABLE_ACTIONS = ["dynamodb:DescribeTable", "dynamodb:Query", "dynamodb:GetItem"]  # the scripts read
_USER_HINT = "Give the host's login user: with: {user: ec2-user} (Cloud9 and Amazon Linux use ec2-user)."

_WRITE = Template(
    "set -e\n"
    'if [ -n "$OPS_LESSON_USER" ]; then\n'
    '  home=$(getent passwd "$OPS_LESSON_USER" | cut -d: -f6)\n'
    '  [ -n "$home" ] || { printf \'ops: there is no user %s on this host\\n\' "$OPS_LESSON_USER" >&2; exit 6; }\n'
    "else\n"
    '  home="$HOME"\n'
    "fi\n"
    'mkdir -p "$home/lesson"\n'
    'printf \'%s\' "$OPS_LESSON_BUNDLE" | base64 -d | tar -xz --no-same-owner --no-same-permissions -C "$home"\n'
    'venv="$home/lesson/.venv"\n'
    'if ! "$venv/bin/python" -c "import redis, boto3" 2>/dev/null; then\n'
    '  rm -rf "$venv"\n'
    '  if [ -n "$OPS_LESSON_SITE" ]; then\n'
    '    "$OPS_PYTHON" -m venv --without-pip "$venv"\n'
    '    site=$("$venv/bin/python" -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\')\n'
    '    printf \'%s\\n\' "$OPS_LESSON_SITE" > "$site/ops-dry-run.pth"\n'
    "  else\n"
    '    "$OPS_PYTHON" -m venv "$venv"\n'
    '    "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 '
    '${OPS_INDEX_URL:+--index-url "$OPS_INDEX_URL"} -r "$home/lesson/requirements.txt" || {\n'
    "      rm -rf \"$venv\"; printf 'ops: the host could not install the lesson packages (redis, boto3)\\n' >&2; exit 7; }\n"
    "  fi\n"
    "fi\n"
    "for rc in .bash_profile .bashrc; do\n"
    "  grep -qxF '[ -f ~/.ops-lesson.sh ] && . ~/.ops-lesson.sh  # ops: the lesson' \"$home/$rc\" 2>/dev/null ||\n"
    "    printf '%s\\n' '[ -f ~/.ops-lesson.sh ] && . ~/.ops-lesson.sh  # ops: the lesson' >> \"$home/$rc\"\n"
    "done\n"
    'chmod -R go= "$home/lesson" "$home/.ops-lesson.sh"  # the student\'s own (venv writes some files 0644)\n'
    'if [ -n "$OPS_LESSON_USER" ]; then\n'
    '  chown -R "$OPS_LESSON_USER": "$home/lesson" "$home/.ops-lesson.sh" "$home/.bash_profile" "$home/.bashrc"\n'
    "fi\n"
    "printf '%s\\n' \"$home/lesson\""
)


def profile_snippet(env: Dict[str, str], lab: str, run_id: str) -> str:
    """~/.ops-lesson.sh: the lesson's variables, each value quoted, and the venv on PATH."""
    lines = [f"# Written by ops for lab {shlex.quote(lab)} (run {shlex.quote(run_id)}): the lesson's settings."]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    lines.append(
        'case ":$PATH:" in *":$HOME/lesson/.venv/bin:"*) ;; *) export PATH="$HOME/lesson/.venv/bin:$PATH" ;; esac'
    )
    return "\n".join(lines) + "\n"


def lesson_bundle(snippet: str) -> str:
    """lesson/ (the scripts and requirements.txt) and the profile snippet, as base64 tar.gz."""
    import tarfile  # only a run ships it: ops validate and --help do without (5 ms)

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(LESSON_DIR.iterdir()):
            if path.suffix in (".py", ".txt"):
                tar.add(path, arcname=f"lesson/{path.name}")
        data = snippet.encode()
        info = tarfile.TarInfo(PROFILE)
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def lesson_environment(args: Dict[str, Any], region: str) -> Dict[str, str]:
    env = {
        "REDIS_HOSTNAME": args["redis_address"],
        "REDIS_PORT": str(args["redis_port"]),
        "TABLE_NAME": args["table_name"],
        "AWS_DEFAULT_REGION": region,
    }
    if args["tls"]:
        env["REDIS_TLS"] = "true"
    if args["auth_token_parameter"]:
        env["REDIS_AUTH_TOKEN_PARAMETER"] = args["auth_token_parameter"]
    return env


@register
class LessonWorkspace(StepType):
    name = "host.workspace"
    summary = (
        "Put the lesson's workspace on the client host: ~/lesson (its scripts, requirements.txt, a venv) "
        "and ~/.ops-lesson.sh exporting REDIS_HOSTNAME and the table, sourced by login shells."
    )
    params = [
        Param("instance_id", required=True, doc="client host (SSM-managed)"),
        Param("redis_address", required=True, check=check_network_name, doc="cache endpoint address (REDIS_HOSTNAME)"),
        Param("redis_port", type="integer", default=6379, minimum=1, maximum=65535, doc="cache endpoint port"),
        Param("table_name", required=True, check=check_table_name, doc="the restaurant-review table (TABLE_NAME)"),
        Param("tls", type="boolean", default=False, doc="the cache speaks TLS (REDIS_TLS=true)"),
        Param(
            "auth_token_parameter",
            default="",
            check=check_parameter_name,
            doc="SSM SecureString holding the AUTH token: its name, which the scripts read it from",
        ),
        Param(
            "role_name",
            required=True,
            doc="the client host's IAM role, granted reading the table (and the token's parameter) for the run",
        ),
        Param("user", default="ec2-user", doc="the host's login user, whose home gets the workspace"),
        Param(
            "index_url",
            default="",
            check=check_index_url,
            doc="Python package index the host installs redis and boto3 from (empty: pip's own configuration)",
        ),
    ]
    outputs = {"path": Output("the lesson's folder on the host")}
    example = """\
- name: workspace
  type: host.workspace
  with:
    instance_id: ${{ steps.host.outputs.instance_id }}
    role_name: ${{ steps.host.outputs.role_name }}
    redis_address: ${{ steps.redis.outputs.address }}
    redis_port: ${{ steps.redis.outputs.port }}
    table_name: ${{ steps.table.outputs.table_name }}
"""
    default_timeout = 600.0
    kinds = (INLINE_KIND,)  # the host role's policy for the lesson, for the run
    permissions = [
        *RUN_COMMAND,
        Grant(["dynamodb:DescribeTable"], [arn("dynamodb", "table/{table_name}")]),
        Grant(["iam:PutRolePolicy", "iam:DeleteRolePolicy"], [iam_arn("role/{role_name}")]),
    ]

    def preview(self) -> List[Change]:
        args = self.args
        token = f" and read {args['auth_token_parameter']}" if args["auth_token_parameter"] else ""
        return [
            Change(
                "change",
                f"let role {args['role_name']} read table {args['table_name']}{token} for the lesson, for the run "
                "(an inline policy, removed on teardown)",
            ),
            Change(
                "run",
                f"put the lesson's workspace (~/lesson, ~/{PROFILE}) on {args['instance_id']} (SSM Run Command)",
            ),
        ]

    def create(self) -> Dict[str, Any]:
        grant_table_for_the_run(self.ctx, self.args, LESSON_TABLE_ACTIONS, "lesson")
        return {}

    def wait(self) -> Dict[str, Any]:
        ctx, args = self.ctx, self.args
        snippet = profile_snippet(lesson_environment(args, ctx.region), ctx.lab, ctx.run_id)
        dry = ctx.dry_run
        values: Dict[str, Any] = {
            "OPS_LESSON_BUNDLE": lesson_bundle(snippet),
            "OPS_LESSON_USER": "" if dry else args["user"],  # a dry run's host is the simulated home
            "OPS_LESSON_SITE": sysconfig.get_paths()["purelib"] if dry else "",
            "OPS_PYTHON": sys.executable if dry else "python3",
            "OPS_INDEX_URL": args["index_url"],
        }
        result = run_shell(
            ctx,
            args["instance_id"],
            HostScript(values, _WRITE),
            "the lesson's workspace",
            600,
            hints={EXIT_NO_USER: _USER_HINT, EXIT_NO_PACKAGE_INDEX: NO_PACKAGE_INDEX_HINT},
        )
        lines = result["stdout"].strip().splitlines()
        if not lines:
            raise StepFailed(ctx.step, "the workspace script printed no folder.", "Re-run with --debug.")
        ctx.output(f"the lesson is in {lines[-1]}: ops exec {ctx.lab} -- python3 test_connection.py")
        return {"path": lines[-1]}

    @classmethod
    def delete(cls, ctx, resource) -> None:
        from .iam import delete_iam

        delete_iam(ctx, resource)
