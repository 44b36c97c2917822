"""`ops shell LAB`: a shell on the lab's client host, in its lesson folder.

Real labs: `aws ssm start-session` with AWS-StartInteractiveCommand, whose one parameter
(`command`) starts a login shell as ec2-user in ~/lesson; the AWS CLI and the Session Manager
plugin do the rest, so ops replaces itself with the CLI (os.execvp, an argv list).

Dry runs: a local interactive bash standing in for the simulated host (ops/sim/ssm.py's
instance folder as HOME and cwd, the same clean environment its Run Command scripts get, with
the instance's `aws` first on PATH), with REDIS_HOSTNAME and REDIS_PORT naming the cache's
loopback endpoint. Its process group is registered as the instance's, so the endpoint's gate
lets it through as the instance's security group allows, and the instance's `aws` asks as
its role; so job control is off (set +m: a job in a process group of its own would not be
the instance's), and ops hands it the terminal's foreground while it runs.
"""

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from typing import Iterator, List, Optional

from ..errors import OpsError
from .lab_host import LabHost

DOCUMENT = "AWS-StartInteractiveCommand"
HOST_USER = "ec2-user"  # Amazon Linux 2023's user, on Cloud9 and EC2 hosts alike
LESSON_DIR = "lesson"
LESSON_ENV = ".ops-lesson.sh"  # what the lesson's workspace step leaves: exports for the lesson
# what the host's shell does first: into the lesson, its variables, then a login shell
ENTER = f"cd ~/{LESSON_DIR} 2>/dev/null; [ -r ~/{LESSON_ENV} ] && . ~/{LESSON_ENV}; exec bash -l"
# bash in a process group of its own, started only once ops has made that group the instance's and
# given it the terminal (Popen's process_group is Python 3.11+, and preexec_fn is unsafe with threads)
GATED = (
    sys.executable,
    "-c",
    "import os, sys; ready, go = int(sys.argv[1]), int(sys.argv[2]); os.setpgid(0, 0); os.write(ready, b'1'); "
    "os.close(ready); os.read(go, 1); os.close(go); os.execvp(sys.argv[3], sys.argv[3:])",
)
RCFILE = f"""PROMPT_COMMAND='set +m'  # bash turns job control back on after this file: off again before each prompt
[ -r ~/{LESSON_ENV} ] && . ~/{LESSON_ENV}
PS1='(ops dry run) [{HOST_USER}@lab-host \\W]$ '
"""


def host_command(host: LabHost) -> str:
    """The `command` parameter of the session: values quoted, never formatted into shell text."""
    words = ["sudo", "-i", "-u", HOST_USER, "env"]
    if host.redis_host:
        words += [f"REDIS_HOSTNAME={host.redis_host}", f"REDIS_PORT={host.redis_port}"]
    return shlex.join(words + ["bash", "-c", ENTER])


def session_argv(host: LabHost, profile: Optional[str] = None) -> List[str]:
    """`aws ssm start-session ...` for the lab's host, as an argv list."""
    if host.instance_id is None:
        raise OpsError(
            f"the Cloud9 environment {host.environment_id} of lab {host.lab} has no instance now.",
            "See 'ops status'; tear the lab down and run it again if its host is gone.",
        )
    argv = ["aws", "ssm", "start-session", "--target", host.instance_id, "--region", host.region]
    argv += ["--document-name", DOCUMENT, "--parameters", json.dumps({"command": [host_command(host)]})]
    return argv + (["--profile", profile] if profile else [])


def exec_session(host: LabHost, profile: Optional[str]) -> None:
    """Become `aws ssm start-session` (never returns)."""
    argv = session_argv(host, profile)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)


def simulated_shell(aws, host: LabHost) -> int:
    """Run an interactive bash as the simulated host; its exit status."""
    world = aws.world
    if host.instance_id is None or host.instance_id not in world.ssm.managed_instances():
        raise OpsError(
            f"the host {host.instance_id or host.environment_id} of lab {host.lab} is not connected to Session "
            "Manager (AWS would answer TargetNotConnected): it is stopped, gone or not ready yet.",
            "See 'ops status --dry-run'.",
        )
    home = world.ssm.instance_home(host.instance_id)
    lesson = os.path.join(home, LESSON_DIR)
    env = world.ssm.command_env(home)
    env.update(TERM=os.environ.get("TERM", "dumb"), AWS_REGION=host.region, AWS_DEFAULT_REGION=host.region)
    if host.redis_host:
        env.update(REDIS_HOSTNAME=host.redis_host, REDIS_PORT=str(host.redis_port))
    with _rcfile() as rcfile:
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [*GATED, str(ready_w), str(go_r), "bash", "--noprofile", "--rcfile", rcfile, "-i"],
                cwd=lesson if os.path.isdir(lesson) else home,
                env=env,
                pass_fds=(ready_w, go_r),
                umask=0o077,
            )
        finally:
            os.close(ready_w)
            os.close(go_r)
        with os.fdopen(ready_r, "rb") as ready, os.fdopen(go_w, "wb") as go:
            if not ready.read(1):  # it died before making its group
                return proc.wait()
            world.attribution.add(proc.pid, host.instance_id)
            try:
                with _foreground(proc.pid):
                    go.write(b"1")
                    go.close()
                    return proc.wait()
            finally:
                world.attribution.remove(proc.pid)


@contextlib.contextmanager
def _rcfile() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="ops-shell-")  # 0700
    path = os.path.join(folder, "rc")
    try:
        with open(path, "w") as f:
            f.write(RCFILE)
        yield path
    finally:
        os.unlink(path)
        os.rmdir(folder)


@contextlib.contextmanager
def _foreground(pgid: int) -> Iterator[None]:
    """The shell's process group in the terminal's foreground (when there is a terminal), so that
    it reads from it and Ctrl-C reaches it; ops's own back afterwards."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:  # no controlling terminal: nothing to hand over
        yield
        return
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # ops may set the foreground from the background
    try:
        mine = os.tcgetpgrp(fd)
        os.tcsetpgrp(fd, pgid)
        try:
            yield
        finally:
            os.tcsetpgrp(fd, mine)
    finally:
        signal.signal(signal.SIGTTOU, previous)
        os.close(fd)
