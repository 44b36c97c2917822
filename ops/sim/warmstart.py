"""Asking for a warm simulator server: the client half of ops/sim/forkserver.py.

With OPS_SIM_FORKSERVER naming a forkserver's socket (the test suite sets it), a new
account's server is forked from a process that has imported moto already, instead of being
started as `python -m ops.sim.server`; when the forkserver cannot help, the caller starts
one cold.
"""

import json
import os
import socket
from pathlib import Path
from typing import Dict, List, Optional

ENV_VAR = "OPS_SIM_FORKSERVER"


def fork_server(socket_path: str, home: Path, argv: List[str], env: Dict[str, str], log: Path) -> Optional[int]:
    """Ask the forkserver at `socket_path` for a server (`argv` as server.main takes them):
    its pid, or None when it is gone or cannot start one that this process could reach
    (another network namespace: its loopback is not ours). The caller then starts one cold."""
    request = {"home": str(home), "argv": argv, "env": env, "log": str(log), "network": network_namespace()}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(30)
            connection.connect(socket_path)
            connection.sendall(json.dumps(request).encode() + b"\n")
            answer = connection.makefile("rb").readline()
        return json.loads(answer)["pid"]
    except (OSError, ValueError, KeyError):
        return None


def network_namespace() -> Optional[str]:
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return None
