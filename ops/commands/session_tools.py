"""What `ops shell` needs on this machine to reach a real lab's host: the AWS CLI (v2) and the
Session Manager plugin, both on PATH (`aws ssm start-session` hands the session to the plugin)."""

import re
import shutil
import subprocess
from typing import List, Optional

from ..errors import BadInput
from .plan import Finding

AWS_CLI, PLUGIN = "aws", "session-manager-plugin"
CLI_HINT = (
    "Install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html "
    "(Linux: curl the awscli-exe-linux-x86_64.zip it names, unzip, sudo ./aws/install; macOS: the AWSCLIV2.pkg)."
)
PLUGIN_HINT = (
    "Install the Session Manager plugin: https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html (Debian/Ubuntu: its .deb with sudo dpkg -i; "
    "Amazon Linux/RHEL: its .rpm with sudo yum install -y; macOS: brew install --cask session-manager-plugin)."
)


def require_session_tools() -> None:
    """Bad input (exit 2) naming the first tool missing from PATH, and how to install it."""
    if shutil.which(AWS_CLI) is None:
        raise BadInput("'ops shell' needs the AWS CLI ('aws'), and it is not on PATH.", CLI_HINT)
    if shutil.which(PLUGIN) is None:
        raise BadInput(
            "'ops shell' needs AWS's Session Manager plugin ('session-manager-plugin'), and it is not on PATH.",
            PLUGIN_HINT,
        )


def session_tool_findings() -> List[Finding]:
    """`ops doctor`'s lines on the two tools (warnings: a lab runs without them, only 'ops shell' needs them)."""
    findings = []
    cli = shutil.which(AWS_CLI)
    if cli is None:
        findings.append(Finding("warning", f"the AWS CLI ('aws') is not on PATH; 'ops shell' needs it. {CLI_HINT}"))
    else:
        major = _cli_major_version(cli)
        if major == 1:
            findings.append(
                Finding(
                    "note",
                    f"the AWS CLI on PATH ({cli}) is version 1; 'ops shell' works with it, v2 is AWS's "
                    f"current one. {CLI_HINT}",
                )
            )
        else:
            findings.append(Finding("ok", f"the AWS CLI is on PATH ({cli})."))
    plugin = shutil.which(PLUGIN)
    if plugin is None:
        findings.append(
            Finding("warning", f"the Session Manager plugin is not on PATH; 'ops shell' needs it. {PLUGIN_HINT}")
        )
    else:
        findings.append(Finding("ok", f"the Session Manager plugin is on PATH ({plugin})."))
    return findings


def _cli_major_version(path: str) -> Optional[int]:
    """1 or 2 from `aws --version` ('aws-cli/2.15.0 Python/...'), None if it does not say."""
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"aws-cli/(\d+)\.", answer.stdout + answer.stderr)
    return int(match.group(1)) if match else None
