"""`ops exec LAB -- COMMAND...`: one command on a kept lab's client host, through SSM Run
Command, in the lesson's workspace (~/lesson, with ~/.ops-lesson.sh sourced: not a login
shell, whose /etc/profile may reset PATH), as the host's login user; its output printed as it
comes, and its exit code returned.

The words of COMMAND are joined with shlex.join and reach the host in OPS_COMMAND, never in
the script's text.

SSM gives a command's output only once it has ended, and only its first 24,000 characters
(8,000 of its errors). So the command writes its output to files on the host
(~/.ops-exec/<id>/out and err), and ops sends it without waiting for its end. While it runs,
ops sends small read commands, each answering the bytes past the offsets already printed (in
base64, within SSM's cap) and whether the command still runs; it prints them as they come,
stdout to stdout and stderr to stderr, each through an incremental UTF-8 decoder, so a
character split across two reads is printed whole. A read asks for offsets, not for "what is
new", so a read sent again after a lost answer can neither repeat nor skip output. The SSM
Agent runs several commands at once on an instance (5, its CommandWorkersLimit), so the
reads run beside the command. Once the command has ended and all of its output is printed,
ops removes the files and returns the command's exit code (SSM's ResponseCode).

A read waits on the host, up to 2 seconds (READ_POLLS), for the command to end or a chunk to
fill before it answers; the next is sent a second later (READ_EVERY), on the run's clock.
Waiting on the host means fewer commands for a quiet command, and in a dry run, where the
host's processes run in real time but the clock is simulated, it paces the reads by the
command itself instead of sending them as fast as the simulated clock jumps. A read also says
whether the command still runs (the pid its script wrote down), so SSM is asked for the
command's own invocation only once it has ended (or when it has not started yet).

Ctrl-C cancels the command on the host (CancelCommand), removes its files, and ops exits 130;
a second Ctrl-C stops ops at once and leaves them.

Rejected: CloudWatch Logs output (SendCommand's CloudWatchOutputConfig) would stream without
reads, but needs a log group to create, record and delete for each lab, and logs grants
(CreateLogStream, PutLogEvents) on the host's role, for output SSM can carry anyway.
"""

import base64
import codecs
import shlex
import uuid
from typing import Any, Callable, Dict, List, Tuple

from ..engine.target import RunTarget
from ..errors import BadInput, Interrupted, OpsError
from ..hostscript import HostScript, Template, Value
from ..interrupts import graceful_interrupts, stop_requested
from ..steps.ssm_command import POLL_SECONDS, TERMINAL_FAILURES, invocation_end, invocation_now, send_script
from ..waiting import RETRY, SUCCESS, Schedule, wait_until
from .lab_host import lab_hosts

LOGIN_USER = "ec2-user"
HEADER = "ops-exec"
EXECUTION_TIMEOUT = 3600
READ_TIMEOUT = 60
# a read's answer: its header line, then out's and err's bytes in base64 (4 characters per 3
# bytes), one line each, within SSM's 24,000 characters
OUT_BYTES, ERR_BYTES = 12000, 5000
READ_POLLS = 10  # a read looks every 0.2 s, up to 2 s, on the host for the command to end or a chunk to fill
CANCELLED_WITHIN = 30.0  # seconds to wait for the agent to confirm a cancellation before removing the files
STILL_GOING = ("Pending", "InProgress", "Delayed", "Cancelling")
READ_EVERY = Schedule(expected=0.0, floor=1.0, ratio=0.0, ceiling=1.0)  # between reads, on the run's clock

_RUN = Template(
    'dir="${HOME:-/root}/.ops-exec/$OPS_EXEC_ID"\n'
    'mkdir -p "$dir" && : >"$dir/out" && : >"$dir/err" && echo "$$" >"$dir/pid.new" && mv "$dir/pid.new" "$dir/pid" '
    "|| exit 1\n"
    "inner='cd ~/lesson 2>/dev/null || cd; [ -f ~/.ops-lesson.sh ] && . ~/.ops-lesson.sh; eval \"$OPS_COMMAND\"'\n"
    'if [ -n "$OPS_USER" ] && [ "$(id -u)" = 0 ] && id -u "$OPS_USER" >/dev/null 2>&1; then\n'
    '  runuser -u "$OPS_USER" -- env OPS_COMMAND="$OPS_COMMAND" bash -c "$inner" </dev/null >"$dir/out" 2>"$dir/err"\n'
    "else\n"
    '  bash -c "$inner" </dev/null >"$dir/out" 2>"$dir/err"\n'
    "fi\n"
    "code=$?\n"
    "printf 'ops-exec %s\\n' \"$code\"\n"
    'exit "$code"'
)
# The state first, then the sizes: once the command is done, the sizes are final.
_READ = Template(
    'dir="${HOME:-/root}/.ops-exec/$OPS_EXEC_ID"\n'
    'size() { stat -c %s "$dir/$1" 2>/dev/null || echo 0; }\n'
    "polls=0\n"
    "while :; do\n"
    '  if [ ! -f "$dir/pid" ]; then state=waiting\n'
    '  elif kill -0 "$(cat "$dir/pid")" 2>/dev/null; then state=running\n'
    "  else state=done\n"
    "  fi\n"
    "  out=$(size out); err=$(size err)\n"
    '  [ "$state" = done ] && break\n'
    '  [ $((out - $OPS_OUT_FROM)) -ge "$OPS_OUT_BYTES" ] && break\n'
    '  [ $((err - $OPS_ERR_FROM)) -ge "$OPS_ERR_BYTES" ] && break\n'
    '  [ "$polls" -ge "$OPS_POLLS" ] && break\n'
    "  polls=$((polls + 1))\n"
    "  sleep 0.2\n"
    "done\n"
    'printf \'ops-exec %s %s %s\\n\' "$state" "$out" "$err"\n'
    'tail -c +"$(($OPS_OUT_FROM + 1))" "$dir/out" 2>/dev/null | head -c "$OPS_OUT_BYTES" | base64 -w0\n'
    "echo\n"
    'tail -c +"$(($OPS_ERR_FROM + 1))" "$dir/err" 2>/dev/null | head -c "$OPS_ERR_BYTES" | base64 -w0\n'
    "echo"
)
_CLEAN = Template('rm -rf "${HOME:-/root}/.ops-exec/$OPS_EXEC_ID"')


def exec_on_lab(lab: str, words: List[str], target: RunTarget, write: Callable[[str, bool], None]) -> Dict[str, Any]:
    """Run `words` on the lab's host; write(text, is_error) gets its output as it comes.
    Returns the instance, the exit code, and the output."""
    if not words:
        raise BadInput("ops exec needs a command after '--'.", f"E.g. ops exec {lab} -- python3 test_connection.py.")
    with lab_hosts(target, lab, "exec") as (aws, [host]):
        if host.instance_id is None:
            raise BadInput(
                f"the Cloud9 environment {host.environment_id} of lab {host.lab} has no instance.",
                "Open the environment in the Cloud9 console once, or run the lab again.",
            )
        session = _Session(aws, host.instance_id, lab, write)
        values: Dict[str, Value] = {
            "OPS_EXEC_ID": session.exec_id,
            "OPS_COMMAND": shlex.join(words),
            "OPS_USER": "" if aws.dry_run else LOGIN_USER,  # a dry run's host is its simulated home
        }
        with graceful_interrupts():
            command_id = session.send(HostScript(values, _RUN), EXECUTION_TIMEOUT)
            try:
                session.follow(command_id)
            except Interrupted:
                if session.cancel(command_id):
                    raise Interrupted(
                        f"the command was cancelled on {host.instance_id}.",
                        "Its output up to then is printed above; its files on the host are removed.",
                    ) from None
                raise Interrupted(
                    f"SSM did not cancel the command on {host.instance_id}: it runs on.",
                    f"Its output goes on into ~/.ops-exec/{session.exec_id} there (as root).",
                ) from None
            invocation = invocation_end(aws, host.instance_id, command_id)
            session.clean()
        return session.result(invocation)


class _Stream:
    """One of the command's output files: how far it is printed, and its decoder."""

    def __init__(self, is_error: bool, write: Callable[[str, bool], None]):
        self.is_error, self.write = is_error, write
        self.offset = 0  # bytes printed
        self.size = 0  # bytes in the file at the last read
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text: List[str] = []

    def take(self, data: bytes, final: bool = False) -> None:
        self.offset += len(data)
        text = self.decoder.decode(data, final=final)
        if text:
            self.text.append(text)
            self.write(text, self.is_error)

    @property
    def behind(self) -> bool:
        return self.offset < self.size


class _Session:
    """One `ops exec`: the command sent, its output read and printed as it comes."""

    def __init__(self, aws, instance_id: str, lab: str, write: Callable[[str, bool], None]):
        self.aws, self.instance_id, self.lab = aws, instance_id, lab
        self.exec_id = uuid.uuid4().hex
        self.out, self.err = _Stream(False, write), _Stream(True, write)

    def send(self, script: HostScript, timeout: int) -> str:
        ssm = self.aws.client("ssm")
        try:
            return send_script(self.aws, self.instance_id, script, f"exec {self.lab}", timeout)
        except ssm.exceptions.InvalidInstanceId:
            raise BadInput(
                f"the host {self.instance_id} of lab {self.lab} is not online in SSM (stopped, or its agent is not "
                "connected).",
                "A Cloud9 host stops after its idle minutes: open the environment (or start the instance), wait a "
                "minute, and try again.",
            ) from None

    def run(self, script: HostScript) -> Dict[str, Any]:
        return invocation_end(self.aws, self.instance_id, self.send(script, READ_TIMEOUT))

    def follow(self, command_id: str) -> None:
        """Read and print the command's output until it has ended and all of it is printed."""

        def caught_up() -> Tuple[str, str]:
            while True:
                self._stop_if_asked()
                state = self.read()
                if state == "waiting":  # not started (yet): did it end without starting?
                    status = invocation_now(self.aws, self.instance_id, command_id)["Status"]
                    return (SUCCESS if status in ("Success", *TERMINAL_FAILURES) else RETRY), status
                if not (self.out.behind or self.err.behind):  # the read answered all there was
                    return (SUCCESS if state == "done" else RETRY), state

        wait_until(
            self.aws.clock,
            caught_up,
            what=f"the command on {self.instance_id}",
            timeout=EXECUTION_TIMEOUT + 600,
            schedule=READ_EVERY,
            on_poll=lambda status, elapsed: self._stop_if_asked(),
        )
        self.out.take(b"", final=True)
        self.err.take(b"", final=True)

    def read(self) -> str:
        """One read of both files past what is printed; prints it; the command's state
        (waiting: not started, running, done)."""
        values: Dict[str, Value] = {
            "OPS_EXEC_ID": self.exec_id,
            "OPS_OUT_FROM": self.out.offset,
            "OPS_ERR_FROM": self.err.offset,
            "OPS_OUT_BYTES": OUT_BYTES,
            "OPS_ERR_BYTES": ERR_BYTES,
            "OPS_POLLS": READ_POLLS,
        }
        invocation = self.run(HostScript(values, _READ))
        lines = invocation.get("StandardOutputContent", "").split("\n")
        header = lines[0].split()
        if invocation["Status"] != "Success" or len(lines) < 3 or len(header) != 4 or header[0] != HEADER:
            raise OpsError(
                f"could not read the command's output on {self.instance_id} ({invocation['Status']}): "
                f"{(invocation.get('StandardErrorContent') or invocation.get('StandardOutputContent') or '').strip()}",
                f"It is kept on the host in ~/.ops-exec/{self.exec_id} (as root); try 'ops exec' again.",
            )
        state, self.out.size, self.err.size = header[1], int(header[2]), int(header[3])
        self.out.take(base64.b64decode(lines[1]))
        self.err.take(base64.b64decode(lines[2]))
        return state

    def cancel(self, command_id: str) -> bool:
        """Cancel the command on the host, wait (a while) until SSM says it has stopped, and
        remove its files; False when SSM refused to cancel it (its files are left)."""
        from botocore.exceptions import ClientError

        ssm, clock = self.aws.client("ssm"), self.aws.clock
        self.err.write(f"ops: cancelling the command on {self.instance_id}...\n", True)
        try:
            self.aws.call(ssm.cancel_command, CommandId=command_id, InstanceIds=[self.instance_id])
        except ClientError as exc:
            self.err.write(f"ops: {exc}\n", True)
            return False
        stopped_by = clock.now() + CANCELLED_WITHIN
        while invocation_now(self.aws, self.instance_id, command_id)["Status"] in STILL_GOING:
            if clock.now() >= stopped_by:
                break
            clock.sleep(POLL_SECONDS)
        self.clean()
        return True

    def clean(self) -> None:
        self.run(HostScript({"OPS_EXEC_ID": self.exec_id}, _CLEAN))

    def result(self, invocation: Dict[str, Any]) -> Dict[str, Any]:
        """The exit code and output, or why the command did not run to its end."""
        said = invocation.get("StandardOutputContent", "").split()
        if len(said) != 2 or said[0] != HEADER:
            raise OpsError(
                f"the command did not run to its end on {self.instance_id} ({invocation.get('Status')}): "
                f"{(invocation.get('StandardErrorContent') or '').strip() or 'no exit code'}",
                "Check the host with 'ops status'; is it running? A command runs at most an hour.",
            )
        return {
            "instance_id": self.instance_id,
            "exit_code": int(invocation.get("ResponseCode", 1)),
            "stdout": "".join(self.out.text),
            "stderr": "".join(self.err.text),
        }

    @staticmethod
    def _stop_if_asked() -> None:
        if stop_requested.is_set():
            raise Interrupted("stopped")
