"""The errors ops reports to users, each mapped to an exit code by the CLI.

Every message is one paragraph: what is wrong, where (file:line or the AWS resource), and
what to do next.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class OpsError(Exception):
    exit_code = EXIT_STEP_FAILED

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class BadInput(OpsError):
    """A problem with what the user gave us: playbook, config, flags. Nothing was created."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str = "", source: str = "", line: int = 0):
        self.source = source
        self.line = line
        where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
        super().__init__(where + message, hint)


class StepFailed(OpsError):
    """A step could not do its job in AWS (or the simulator)."""

    exit_code = EXIT_STEP_FAILED

    def __init__(self, step: str, message: str, hint: str = ""):
        self.step = step
        super().__init__(f"Step '{step}' failed: {message}", hint)


class Interrupted(OpsError):
    exit_code = EXIT_INTERRUPTED
