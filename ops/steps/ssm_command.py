"""Run a shell script on an instance with SSM Run Command and collect its output.

The lab's client host has no inbound ports; ElastiCache answers only inside its VPC, so
anything that must reach the cache (PING, the demo) runs there through SSM. What it runs is
a HostScript (ops/hostscript.py): constant text, values only in the environment.

A command is not idempotent (the script would run twice), so a SendCommand whose answer may
have been lost is never re-sent blind: botocore does not retry it (ops.aws.NOT_RESENT), and
run_shell looks for it by its comment, which names the lab, run, step and this send, before
it sends again.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional

from ..errors import StepFailed
from ..hostscript import HostScript
from ..waiting import FAILURE, RETRY, SUCCESS

TERMINAL_FAILURES = ("Failed", "Cancelled", "TimedOut", "Cancelling")
POLL_SECONDS = 1.0  # run_script's polls of a command's end
LISTED_WITHIN = 15.0  # seconds a command whose answer was lost is looked for before it is sent again


def run_shell(
    ctx,
    instance_id: str,
    script: HostScript,
    what: str,
    timeout_seconds: int = 300,
    hints: Optional[Dict[int, str]] = None,
) -> Dict[str, str]:
    """Send the script (run by bash); wait until it finishes; return the invocation (status,
    stdout, stderr). hints: what to do when the script exits with a given code."""
    if not isinstance(script, HostScript):
        raise TypeError("run_shell sends a HostScript, built from constant templates")
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

    ssm = ctx.client("ssm")
    sent: Dict[str, str] = {}
    lost_at: List[float] = []  # when a send's answer was lost
    comment = f"ops {uuid.uuid4().hex[:12]} {ctx.lab} {ctx.run_id} {ctx.step}"[:100]

    def send():
        if lost_at:  # an earlier send may have arrived: find it rather than run the script twice
            found = sent_earlier(ctx.call, ssm, instance_id, comment)
            if found:
                sent["id"] = found
                return SUCCESS, "found the command whose answer was lost"
            if ctx.clock.now() - lost_at[-1] < LISTED_WITHIN:  # SSM lists a new command after a moment
                return RETRY, "the answer was lost; looking for the command"
        try:
            answer = ctx.call(
                ssm.send_command,
                InstanceIds=[instance_id],
                DocumentName="AWS-RunShellScript",
                Comment=comment,
                Parameters={"commands": [script.bash_command()], "executionTimeout": [str(timeout_seconds)]},
                TimeoutSeconds=max(30, min(timeout_seconds, 2592000)),
            )
        except ssm.exceptions.InvalidInstanceId:  # the SSM agent has not registered yet
            return RETRY, "waiting for the SSM agent"
        except (ConnectionClosedError, ReadTimeoutError):  # sent, unanswered: it may have arrived
            lost_at.append(ctx.clock.now())
            return RETRY, "the answer was lost; looking for the command"
        sent["id"] = answer["Command"]["CommandId"]
        return SUCCESS, "sent"

    ctx.wait(f"SSM on {instance_id}", send, "ssm.online")
    invocation: Dict[str, str] = {}

    def finished():
        try:
            answer = ctx.call(ssm.get_command_invocation, CommandId=sent["id"], InstanceId=instance_id)
        except ssm.exceptions.InvocationDoesNotExist:  # not visible yet, right after send
            return RETRY, "pending"
        invocation.update(answer)
        status = answer["Status"]
        if status == "Success":
            return SUCCESS, status
        if status in TERMINAL_FAILURES:
            return FAILURE, status
        return RETRY, status

    try:
        ctx.wait(what, finished, "ssm.command")
    except Exception as exc:  # noqa: BLE001 - whatever ended the wait once the command ran, said with its output
        if not invocation:
            raise
        output = (invocation.get("StandardErrorContent") or invocation.get("StandardOutputContent") or "").strip()
        raise StepFailed(
            ctx.step,
            f"{what} ended {invocation.get('Status')} on {instance_id}: {output or exc}",
            (hints or {}).get(
                int(invocation.get("ResponseCode", -1)),
                "Check the instance can reach the endpoint (security group rule, same VPC).",
            ),
        ) from None
    return {
        "status": invocation["Status"],
        "stdout": invocation.get("StandardOutputContent", ""),
        "stderr": invocation.get("StandardErrorContent", ""),
    }


def sent_earlier(call, ssm, instance_id: str, comment: str) -> Optional[str]:
    """The id of the command sent with this comment (each send's own), if SSM lists it."""
    commands = call(ssm.list_commands, InstanceId=instance_id)["Commands"]
    return next((c["CommandId"] for c in commands if c.get("Comment") == comment), None)


def run_script(aws, instance_id: str, script: HostScript, what: str, timeout_seconds: int) -> Dict[str, Any]:
    """A command's way (`ops exec`), not a step's: send the script, poll until it ends, return
    the invocation. The caller handles ssm's InvalidInstanceId (not online)."""
    return invocation_end(aws, instance_id, send_script(aws, instance_id, script, what, timeout_seconds))


def send_script(aws, instance_id: str, script: HostScript, what: str, timeout_seconds: int) -> str:
    """Send the script without waiting for it; its command id. A send whose answer was lost
    is looked for (by its comment) as run_shell does, never run twice."""
    if not isinstance(script, HostScript):
        raise TypeError("send_script sends a HostScript, built from constant templates")
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

    ssm = aws.client("ssm")
    comment = f"ops {uuid.uuid4().hex[:12]} {what}"[:100]
    lost_at: Optional[float] = None
    while True:
        if lost_at is not None:
            found = sent_earlier(aws.call, ssm, instance_id, comment)
            if found is not None:
                return found
            if aws.clock.now() - lost_at < LISTED_WITHIN:  # SSM lists a new command after a moment
                aws.clock.sleep(POLL_SECONDS)
                continue
        try:
            return aws.call(
                ssm.send_command,
                InstanceIds=[instance_id],
                DocumentName="AWS-RunShellScript",
                Comment=comment,
                Parameters={"commands": [script.bash_command()], "executionTimeout": [str(timeout_seconds)]},
                TimeoutSeconds=60,
            )["Command"]["CommandId"]
        except (ConnectionClosedError, ReadTimeoutError):  # sent, unanswered: it may have arrived
            lost_at = aws.clock.now()


def invocation_end(aws, instance_id: str, command_id: str) -> Dict[str, Any]:
    """Poll a command's invocation until it has ended; return it."""
    while True:
        invocation = invocation_now(aws, instance_id, command_id)
        if invocation["Status"] in ("Success", "Failed", *TERMINAL_FAILURES):
            return invocation
        aws.clock.sleep(POLL_SECONDS)


def invocation_now(aws, instance_id: str, command_id: str) -> Dict[str, Any]:
    """The command's invocation as SSM reports it now (Pending until SSM shows it)."""
    ssm = aws.client("ssm")
    try:
        return aws.call(ssm.get_command_invocation, CommandId=command_id, InstanceId=instance_id)
    except ssm.exceptions.InvocationDoesNotExist:  # not visible yet, right after sending
        return {"Status": "Pending"}
