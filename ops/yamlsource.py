"""Load YAML keeping the line of every mapping key and value, so errors can say file:line.

Mappings become LineDict and sequences LineList; both remember where each element was.
Duplicate keys, tabs and other YAML mistakes become BadInput with the line and a hint.
"""
from pathlib import Path

import yaml

from .errors import BadInput

MAX_BYTES = 1_000_000


class LineDict(dict):
    line = 0
    key_lines: dict
    sources: dict  # where each key came from, when merged from several files

    def line_of(self, key) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    line = 0
    item_lines: list

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    source = "<yaml>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
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
            raise BadInput(f"duplicate key '{key}' (first at line {result.key_lines[key]}).",
                           "Keep one of them: YAML would silently use the last.", loader.source, line)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _yaml_hint(problem: str) -> str:
    if "\\t" in problem or "tab" in problem:
        return "YAML does not allow tabs for indentation: indent with spaces."
    if "mapping values are not allowed" in problem:
        return "A value containing ': ' must be quoted, or the indentation is off."
    if "could not find expected ':'" in problem:
        return "A key is missing its ':' or the indentation is off."
    return "Check the indentation and quoting around that line."


def parse_yaml(text: str, source: str):
    loader = _Loader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise BadInput(f"invalid YAML: {problem}.", _yaml_hint(problem), source, line) from None
    except yaml.YAMLError as exc:
        raise BadInput(f"invalid YAML: {exc}.", "Check the file is YAML.", source) from None
    finally:
        loader.dispose()


def load_yaml_file(path) -> object:
    """Read and parse a YAML file, refusing empty, binary, huge or unreadable files clearly."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput("file not found.", "Check the path.", source) from None
    except IsADirectoryError:
        raise BadInput("is a directory, not a YAML file.", "Name the .yaml file itself.", source) from None
    except OSError as exc:
        raise BadInput(f"cannot read it: {exc.strerror}.", "Check its permissions.", source) from None
    if len(raw) > MAX_BYTES:
        raise BadInput(f"file is {len(raw)} bytes; playbooks and configs are limited to {MAX_BYTES}.",
                       "Is this the right file?", source)
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
