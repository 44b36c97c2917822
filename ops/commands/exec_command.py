"""`ops exec LAB -- COMMAND...`: one command on a kept lab's client host, through SSM Run
Command, in the lesson's workspace (~/lesson, with ~/.ops-lesson.sh sourced: not a login
shell, whose /etc/profile may reset PATH), as the host's login user; its output printed and its exit code returned.

The words of COMMAND are joined with shlex.join and reach the host in OPS_COMMAND, never in
the script's text. SSM keeps only the first 24,000 characters of a command's output (8,000
of its errors), so the command's output goes to files on the host; the script prints a
header line with their sizes, then the output itself when it fits. When it does not, ops
fetches the files in base64 chunks with further commands (each under SSM's cap) and removes
them. The output is printed once the command has ended, not while it runs.
"""

import base64
import codecs
import shlex
import uuid
from typing import Any, Callable, Dict, List

from ..engine.target import RunTarget
from ..errors import BadInput, OpsError
from ..hostscript import HostScript, Template, Value
from ..steps.ssm_command import run_script
from .lab_host import lab_hosts

LOGIN_USER = "ec2-user"
STDOUT_CAP, STDERR_CAP = 24000, 8000
CHUNK_BYTES = 15000  # 20,000 characters of base64: under SSM's cap
HEADER = "ops-exec"
EXECUTION_TIMEOUT = 3600

_RUN = Template(
    'dir="${HOME:-/root}/.ops-exec/$OPS_EXEC_ID"\n'
    'mkdir -p "$dir"\n'
    "inner='cd ~/lesson 2>/dev/null || cd; [ -f ~/.ops-lesson.sh ] && . ~/.ops-lesson.sh; eval \"$OPS_COMMAND\"'\n"
    'if [ -n "$OPS_USER" ] && [ "$(id -u)" = 0 ] && id -u "$OPS_USER" >/dev/null 2>&1; then\n'
    '  runuser -u "$OPS_USER" -- env OPS_COMMAND="$OPS_COMMAND" bash -c "$inner" </dev/null >"$dir/out" 2>"$dir/err"\n'
    "else\n"
    '  bash -c "$inner" </dev/null >"$dir/out" 2>"$dir/err"\n'
    "fi\n"
    "code=$?\n"
    'out=$(stat -c %s "$dir/out"); err=$(stat -c %s "$dir/err")\n'
    'printf \'ops-exec %s %s\\n\' "$out" "$err"\n'
    '[ "$out" -le "$OPS_OUT_FITS" ] && cat "$dir/out"\n'
    '[ "$err" -le "$OPS_ERR_FITS" ] && cat "$dir/err" >&2\n'
    '[ "$out" -le "$OPS_OUT_FITS" ] && [ "$err" -le "$OPS_ERR_FITS" ] && rm -rf "$dir"\n'
    'exit "$code"'
)
_CHUNK = Template(
    'tail -c +"$OPS_FROM" "${HOME:-/root}/.ops-exec/$OPS_EXEC_ID/$OPS_STREAM" | head -c "$OPS_BYTES" | base64 -w0'
)
_CLEAN = Template('rm -rf "${HOME:-/root}/.ops-exec/$OPS_EXEC_ID"')


def exec_on_lab(lab: str, words: List[str], target: RunTarget, write: Callable[[str, bool], None]) -> Dict[str, Any]:
    """Run `words` on the lab's host; write(text, is_error) gets its output. Returns the
    instance, the exit code, and the output."""
    if not words:
        raise BadInput("ops exec needs a command after '--'.", f"E.g. ops exec {lab} -- python3 test_connection.py.")
    with lab_hosts(target, lab, "exec") as (aws, [host]):
        if host.instance_id is None:
            raise BadInput(
                f"the Cloud9 environment {host.environment_id} of lab {host.lab} has no instance.",
                "Open the environment in the Cloud9 console once, or run the lab again.",
            )
        instance_id = host.instance_id
        runner = _Runner(aws, instance_id, lab)
        exec_id = uuid.uuid4().hex
        values: Dict[str, Value] = {
            "OPS_EXEC_ID": exec_id,
            "OPS_COMMAND": shlex.join(words),
            "OPS_USER": "" if aws.dry_run else LOGIN_USER,  # a dry run's host is its simulated home
            "OPS_OUT_FITS": STDOUT_CAP - 100,  # room for the header line
            "OPS_ERR_FITS": STDERR_CAP,
        }
        invocation = runner.run(HostScript(values, _RUN))
        stdout, stderr = invocation.get("StandardOutputContent", ""), invocation.get("StandardErrorContent", "")
        header, _, inline_out = stdout.partition("\n")
        parts = header.split()
        if len(parts) != 3 or parts[0] != HEADER:
            raise OpsError(
                f"the command did not start on {instance_id} ({invocation.get('Status')}): {(stderr or stdout).strip()}",
                "Check the host with 'ops status'; is it running?",
            )
        out_size, err_size = int(parts[1]), int(parts[2])
        fetched = False
        if out_size > STDOUT_CAP - 100:
            inline_out, fetched = runner.fetch(exec_id, "out", out_size), True
        if err_size > STDERR_CAP:
            stderr, fetched = runner.fetch(exec_id, "err", err_size), True
        if fetched:
            runner.run(HostScript({"OPS_EXEC_ID": exec_id}, _CLEAN))
        write(inline_out, False)
        write(stderr, True)
        code = int(invocation.get("ResponseCode", 1))
        return {"instance_id": instance_id, "exit_code": code, "stdout": inline_out, "stderr": stderr}


class _Runner:
    """Sends one script to the host and waits for its end."""

    def __init__(self, aws, instance_id: str, lab: str):
        self.aws, self.instance_id, self.lab = aws, instance_id, lab
        self.ssm = aws.client("ssm")

    def run(self, script: HostScript) -> Dict[str, Any]:
        try:
            return run_script(self.aws, self.instance_id, script, f"exec {self.lab}", EXECUTION_TIMEOUT)
        except self.ssm.exceptions.InvalidInstanceId:
            raise BadInput(
                f"the host {self.instance_id} of lab {self.lab} is not online in SSM (stopped, or its agent is not "
                "connected).",
                "A Cloud9 host stops after its idle minutes: open the environment (or start the instance), wait a "
                "minute, and try again.",
            ) from None

    def fetch(self, exec_id: str, stream: str, size: int) -> str:
        """A file the command left on the host, in chunks each within SSM's cap."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text: List[str] = []
        for start in range(0, size, CHUNK_BYTES):
            values: Dict[str, Value] = {
                "OPS_EXEC_ID": exec_id,
                "OPS_STREAM": stream,
                "OPS_FROM": start + 1,
                "OPS_BYTES": CHUNK_BYTES,
            }
            invocation = self.run(HostScript(values, _CHUNK))
            if invocation["Status"] != "Success":
                raise OpsError(
                    f"could not read the command's output on {self.instance_id}: "
                    f"{invocation.get('StandardErrorContent', '').strip()}",
                    "Try again; the output is kept on the host until it is read.",
                )
            text.append(decoder.decode(base64.b64decode(invocation.get("StandardOutputContent", ""))))
        text.append(decoder.decode(b"", final=True))
        return "".join(text)
