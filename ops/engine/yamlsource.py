"""Load YAML keeping the line of every mapping key and value, so errors can say file:line.

Mappings become LineDict and sequences LineList; both remember where each element was.
Duplicate keys, tabs and other YAML mistakes become BadInput with the line and a hint.

Loading is bounded, so a hostile file is refused in milliseconds: only regular files are
read, at most MAX_BYTES; the composer counts every node as it is read, with each alias
counted at the full size of what it repeats (an alias bomb is refused before it is built),
and refuses nesting deeper than MAX_DEPTH (PyYAML's composer and constructor recurse),
scalars longer than MAX_SCALAR and integers longer than MAX_NUMBER.

The events come from libyaml when PyYAML has it (its C scanner and parser are 15 times
faster than PyYAML's Python ones: most of `ops validate`'s time was spent scanning), and
the composer that counts them is PyYAML's Python one either way, so the limits hold alike.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, NoReturn, Tuple

import yaml

from ..errors import BadInput

MAX_BYTES = 1_000_000
# The largest shipped file (a playbook) has under 150 nodes and 6 levels.
MAX_NODES = 10_000  # counted with every alias expanded
MAX_CHARS = 2 * MAX_BYTES  # characters of all scalars, with every alias expanded
MAX_DEPTH = 32
MAX_SCALAR = 65_536
MAX_NUMBER = 1_000  # characters of one integer


class LineDict(Dict[Any, Any]):
    line = 0
    key_lines: Dict[Any, int]
    sources: Dict[Any, str]  # where each key came from, when merged from several files

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(List[Any]):
    line = 0
    item_lines: List[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


_TOO_DEEP = (
    f"the YAML is nested more than {MAX_DEPTH} levels deep.",
    "Playbooks and configs need fewer than 10: is this the right file?",
)
LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"  # libyaml's scanner can get there first


if TYPE_CHECKING:
    _Composing = yaml.SafeLoader  # what _Bounded is mixed into, as mypy sees it
else:
    _Composing = yaml.composer.Composer


class _Bounded(_Composing):
    """PyYAML's composer keeping count, so nothing is built beyond the limits."""

    source = "<yaml>"

    def _start_counting(self) -> None:
        self._depth = 0
        self._nodes = self._chars = 0  # so far, with aliases expanded
        self._aliased = False
        self._sizes: Dict[int, Tuple[int, int]] = {}  # id(node) -> (nodes, chars) it stands for, once composed

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias: PyYAML's own error follows
                size = self._sizes.get(id(target))
                if size is None:
                    self._refuse(
                        f"the alias *{event.anchor} is inside its own anchor &{event.anchor}, so it would "
                        "repeat itself forever.",
                        "Write the values out instead.",
                        event.start_mark,
                    )
                self._aliased = True
                self._count(*size, event.start_mark)
            return super().compose_node(parent, index)
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse_depth(mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._size(node)
        return node

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        if len(node.value) > MAX_SCALAR:
            self._refuse(
                f"a value of {len(node.value)} characters; values are limited to {MAX_SCALAR}.",
                "Is this the right file?",
                node.start_mark,
            )
        self._count(1, len(node.value), node.start_mark)
        return node

    def compose_sequence_node(self, anchor):
        self._count(1, 0, self.peek_event().start_mark)
        return super().compose_sequence_node(anchor)

    def compose_mapping_node(self, anchor):
        self._count(1, 0, self.peek_event().start_mark)
        return super().compose_mapping_node(anchor)

    def construct_object(self, node, deep=False):
        """PyYAML's constructors raise ValueError and the like for values such as 2001-02-30,
        `!!int x` or `!!bool maybe`: say which line, as for any other YAML mistake."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            what = repr(node.value[:40]) if isinstance(node, yaml.ScalarNode) else "this value"
            self._refuse(
                f"cannot read {what} as {tag}.",
                "Quote it to keep it as text, or drop the explicit tag.",
                node.start_mark,
            )

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_NUMBER:  # 1:2:3:... (base 60) of 65536 characters takes seconds to compute
            self._refuse(
                f"a number of {len(node.value)} characters; numbers are limited to {MAX_NUMBER}.",
                "Is this the right value?",
                node.start_mark,
            )
        return super().construct_yaml_int(node)

    def _size(self, node):
        if isinstance(node, yaml.ScalarNode):
            return 1, len(node.value)
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        sizes = [self._sizes[id(child)] for child in children]
        return 1 + sum(n for n, _ in sizes), sum(c for _, c in sizes)

    def _count(self, nodes: int, chars: int, mark) -> None:
        self._nodes += nodes
        self._chars += chars
        if self._nodes <= MAX_NODES and self._chars <= MAX_CHARS:
            return
        amount = f"{MAX_NODES} nodes" if self._nodes > MAX_NODES else f"{MAX_CHARS} characters"
        if self._aliased:
            self._refuse(
                f"YAML aliases expand to more than {amount}: each *alias repeats everything its &anchor holds.",
                "Write the values out, or use fewer nested aliases.",
                mark,
            )
        self._refuse(
            f"the YAML holds more than {amount}; playbooks and configs need a few hundred.",
            "Is this the right file?",
            mark,
        )

    def _refuse_depth(self, mark) -> NoReturn:
        self._refuse(*_TOO_DEEP, mark)

    def _refuse(self, problem: str, hint: str, mark) -> NoReturn:
        raise BadInput(problem, hint, self.source, mark.line + 1)


class PythonEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own scanner and parser, for a PyYAML built without libyaml."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)

    def fetch_flow_collection_start(self, TokenClass):
        # PyYAML's scanner looks up to 1024 characters ahead for each '[' or '{' (it may start a
        # key), which is quadratic; stop before the composer would
        if self.flow_level >= MAX_DEPTH:
            self._refuse_depth(self.get_mark())  # type: ignore[attr-defined]  # in a loader_class
        super().fetch_flow_collection_start(TokenClass)


def loader_class(events: Any) -> Any:
    """The bounded composer over an event source (libyaml's CParser or PythonEvents),
    building safe values that keep their lines."""

    class Loader(_Bounded, events, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, stream):
            events.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._start_counting()

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    return Loader


def _construct_mapping(loader: _Bounded, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise BadInput(f"a mapping key must be a plain name, not {key!r}.", source=loader.source, line=line)
        if key in result:
            raise BadInput(
                f"duplicate key '{key}' (first at line {result.key_lines[key]}).",
                "Keep one of them: YAML would silently use the last.",
                loader.source,
                line,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Bounded, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


LIBYAML_EVENTS: Any = yaml.cyaml.CParser if yaml.__with_libyaml__ else None  # type: ignore[attr-defined]
LOADER = loader_class(LIBYAML_EVENTS or PythonEvents)


def _yaml_hint(problem: str, line_text: str) -> str:
    if "\\t" in problem or "tab" in problem or "\t" in line_text[: len(line_text) - len(line_text.lstrip())]:
        return "YAML does not allow tabs for indentation: indent with spaces."
    if "mapping values are not allowed" in problem:
        return "A value containing ': ' must be quoted, or the indentation is off."
    if "could not find expected ':'" in problem:
        return "A key is missing its ':' or the indentation is off."
    return "Check the indentation and quoting around that line."


def parse_yaml(text: str, source: str) -> Any:
    loader = LOADER(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        if problem == LIBYAML_TOO_DEEP:
            raise BadInput(*_TOO_DEEP, source, line) from None
        lines = text.split("\n")
        line_text = lines[line - 1] if 0 < line <= len(lines) else ""
        if problem == "found character that cannot start any token" and mark and mark.column < len(line_text):
            problem = f"found character {line_text[mark.column]!r} that cannot start any token"  # as PyYAML says it
        raise BadInput(f"invalid YAML: {problem}.", _yaml_hint(problem, line_text), source, line) from None
    except yaml.YAMLError as exc:
        raise BadInput(f"invalid YAML: {exc}.", "Check the file is YAML.", source) from None
    finally:
        loader.dispose()


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int, source: str) -> BadInput:
    if stat.S_ISDIR(mode):
        return BadInput("is a directory, not a YAML file.", "Name the .yaml file itself.", source)
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return BadInput(
        f"is {kind}, not a file: ops reads playbooks and configs only from regular files.",
        "Name the .yaml file itself (save a generated one to a file first).",
        source,
    )


def _too_big(size: str, source: str) -> BadInput:
    return BadInput(
        f"file is {size} bytes; playbooks and configs are limited to {MAX_BYTES}.", "Is this the right file?", source
    )


def _read_regular_file(path: Path, source: str) -> bytes:
    """The file's bytes, refusing anything but a regular file of at most MAX_BYTES without
    waiting on it (a FIFO) or reading it all (/dev/zero)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(info.st_mode, source)
        if info.st_size > MAX_BYTES:
            raise _too_big(str(info.st_size), source)
        # O_NONBLOCK: should it have been swapped for a FIFO since the stat, open does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _not_regular(mode, source)
            raw = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise BadInput("file not found.", "Check the path.", source) from None
    except IsADirectoryError:
        raise BadInput("is a directory, not a YAML file.", "Name the .yaml file itself.", source) from None
    except OSError as exc:
        raise BadInput(f"cannot read it: {exc.strerror}.", "Check its permissions.", source) from None
    if len(raw) > MAX_BYTES:
        raise _too_big(f"more than {MAX_BYTES}", source)
    return raw


def load_yaml_file(path) -> object:
    """Read and parse a YAML file, refusing empty, binary, huge or unreadable files clearly."""
    source = str(path)
    raw = _read_regular_file(Path(path), source)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadInput("the file is UTF-16 encoded.", "Save it as UTF-8.", source)
    if b"\x00" in raw:
        raise BadInput("this is a binary file, not YAML.", "Is this the right file?", source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput("not valid UTF-8.", "Save the file as UTF-8.", source, line) from None
    if not text.strip():
        raise BadInput("the file is empty.", "A playbook needs at least 'name:' and 'steps:'.", source)
    return parse_yaml(text, source)
