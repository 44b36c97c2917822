"""PING the cache from inside its VPC, on the client host, through SSM Run Command.

The script needs nothing installed on the host: bash's /dev/tcp speaks RESP directly.
"""
import shlex
from typing import Any, Dict, List

from ..errors import StepFailed
from .base import Change, Output, Param, StepType, register
from .ssm_command import run_shell

PING_SCRIPT = ("exec 3<>/dev/tcp/{host}/{port} || exit 3; printf 'PING\\r\\n' >&3; "
               "read -r -t 5 reply <&3 || exit 4; echo \"${{reply%$'\\r'}}\"")


@register
class RedisPing(StepType):
    name = "redis.ping"
    summary = "PING a Redis endpoint from a host inside the VPC (SSM Run Command) and show the reply."
    params = [
        Param("instance_id", required=True, doc="client host to run PING on (SSM-managed)"),
        Param("host", required=True, doc="Redis endpoint address"),
        Param("port", type="integer", default=6379, minimum=1, maximum=65535, doc="Redis port"),
    ]
    outputs = {"reply": Output("the server's reply, +PONG when healthy")}
    example = """\
- name: ping
  type: redis.ping
  with:
    instance_id: ${{ steps.cloud9.outputs.instance_id }}
    host: ${{ steps.redis.outputs.address }}
    port: ${{ steps.redis.outputs.port }}
"""
    default_timeout = 600.0
    permissions = ["ssm:SendCommand", "ssm:GetCommandInvocation"]

    def preview(self) -> List[Change]:
        return [Change("run", f"PING {self.args['host']}:{self.args['port']} from {self.args['instance_id']} "
                              "(SSM Run Command)")]

    def create(self) -> Dict[str, Any]:
        return {}

    def wait(self) -> Dict[str, Any]:
        args = self.args
        script = "bash -c " + shlex.quote(PING_SCRIPT.format(host=args["host"], port=int(args["port"])))
        result = run_shell(self.ctx, args["instance_id"], [script], f"PING {args['host']}:{args['port']}", 60)
        reply = result["stdout"].strip()
        self.ctx.output(f"PING {args['host']}:{args['port']} -> {reply}")
        if reply != "+PONG":
            raise StepFailed(self.ctx.step, f"PING answered {reply!r} instead of +PONG.",
                             "Is the endpoint a Redis server, and does it require AUTH or TLS?")
        return {"reply": reply}

    @classmethod
    def delete(cls, ctx, resource) -> None:  # creates nothing
        return None
