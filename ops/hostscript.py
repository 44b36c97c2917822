"""The one way ops builds a shell script for a host (SSM Run Command, and the simulator's
local run of it): constant text written in ops's code, values only through the environment.

A `Template` holds script text that is a literal in ops's source (tests/test_host_scripts.py
checks every `Template(...)` call in ops is given a plain string literal; `LiteralString`
says so to a type checker). A `HostScript` exports its values first, one a line, each
`NAME=value` a single argument quoted by shlex.quote (`export 'OPS_HOST=...'`: in single
quotes nothing is special), then the templates, which refer to them as "$OPS_HOST". The
templates are the same text whatever the values are, so no value can become code: at worst
a command gets an odd argument.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Union

if TYPE_CHECKING:  # typing.LiteralString is Python 3.11+
    from typing_extensions import LiteralString
else:
    try:
        from typing import LiteralString
    except ImportError:  # Python < 3.11: the runtime checks below still hold
        LiteralString = str

Value = Union[str, int]
_NAME = re.compile(r"OPS_[A-Z][A-Z0-9_]*")


class Template:
    """Script text written in ops's code: never built from a value."""

    def __init__(self, text: LiteralString):
        if not isinstance(text, str):
            raise TypeError("a Template is constant script text")
        self.text = text


class HostScript:
    """Values exported at the top, then the templates. Iterating gives its lines, as SSM's
    `commands` parameter would hold them."""

    def __init__(self, values: Mapping[str, Value], *templates: Template):
        for template in templates:
            if not isinstance(template, Template):
                raise TypeError(f"script text must be a Template, not {type(template).__name__}")
        body = "\n".join(t.text for t in templates)
        self.environment: Dict[str, str] = {}
        for name, value in values.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"environment name {name!r} is not OPS_ and capitals")
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise TypeError(f"{name}: a value is a string or an integer, not {type(value).__name__}")
            if "\0" in str(value):
                raise ValueError(f"{name}: a value cannot hold a NUL byte")
            try:
                str(value).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: no shell, file or API could carry it
                raise ValueError(f"{name}: a value must be UTF-8 text") from None
            if not re.search(r"\$\{?" + name + r"\b", body):
                raise ValueError(f"{name} is given but no template uses it")
            self.environment[name] = str(value)
        self.body: List[str] = [t.text for t in templates]

    def prologue(self) -> List[str]:
        """One quoted assignment per value."""
        return ["export " + shlex.quote(f"{name}={value}") for name, value in self.environment.items()]

    def lines(self) -> List[str]:
        return self.prologue() + self.body

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines())

    def text(self) -> str:
        return "\n".join(self.lines())

    def bash_command(self) -> str:
        """The script as one command run by bash (for /dev/tcp and coproc, whatever `sh` is)."""
        return "bash -c " + shlex.quote(self.text())
