"""The processes a persistent simulated account leaves running on purpose (its moto server,
its Redis servers): whether one still runs, whether it is the account's, how to stop it.

Every such process runs in the account's home folder (the server is started there, Redis
chdirs to its --dir inside it), which is how a pid read back from a file is checked before
anything is signalled: a pid reused by an unrelated process is left alone.
"""

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

_STOP_SECONDS = 5
# Children started to outlive this process. Held here so that dropping their Popen does not
# report them as leaked, and so that terminate() can reap them through it.
_detached: Dict[int, subprocess.Popen] = {}


def keep(process: subprocess.Popen) -> None:
    _detached[process.pid] = process


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def belongs_to(pid: int, home: Path) -> bool:
    """Whether `pid` runs inside `home` (taken on trust where /proc is unavailable)."""
    if not os.path.isdir("/proc"):
        return alive(pid)
    link = _working_directory(pid)
    if link is None:
        return False
    cwd = Path(link)
    return cwd == home or home in cwd.parents


def _working_directory(pid: int) -> Optional[str]:
    """What /proc says `pid` runs in (None: gone, or not ours to look at)."""
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def terminate(pid: int) -> None:
    """SIGTERM, SIGKILL if it lingers, and wait until it is gone (reaping it if it is ours)."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_SECONDS
    while _running(pid):
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.01)
    _detached.pop(pid, None)


def _running(pid: int) -> bool:
    if pid in _detached:
        return _detached[pid].poll() is None
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not this process's child: its parent (or init) reaps it
    return alive(pid)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


_DELETED = " (deleted)"  # what Linux appends to the link of a removed working directory


def end_processes_left_in_removed_folder() -> None:
    """Called from a process whose working directory (its account's home) was removed: end
    every process still running inside that removed folder (the account's Redis servers,
    whose pid files went with it). A folder of the same name made since is another's: its
    processes' directories are not removed, and they are left alone."""
    own = _working_directory(os.getpid())
    if own is None or not own.endswith(_DELETED):
        return  # no /proc to go by, or the folder is still there
    inside = own[: -len(_DELETED)] + "/"
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cwd = _working_directory(int(entry))
            if cwd is not None and cwd.startswith(inside) and cwd.endswith(_DELETED):
                terminate(int(entry))
