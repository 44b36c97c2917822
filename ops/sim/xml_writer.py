"""xmltodict.unparse, as moto's XML serializers call it, written directly.

moto writes every query and EC2 answer with xmltodict.unparse, which feeds each element and
text to a SAX XMLGenerator one call at a time: a third of what moto's serializer costs in a
dry run (the simulator's server and in-process mock alike). `unparse` writes the same text
from the same dict in one pass over it, for the dicts moto makes (elements, lists of them,
text, numbers, booleans, attributes); anything else, or any other option, goes to
xmltodict's own. tests/sim/test_xml_writer.py checks both give the same text (or the same
error) for any such dict and every option moto passes.
"""

from typing import Any, Callable, List
from xml.sax.saxutils import escape, quoteattr

import xmltodict

_xmltodict_unparse: Callable[..., Any] = xmltodict.unparse
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


class _Unusual(Exception):
    """A value this writer leaves to xmltodict."""


def unparse(input_dict, output=None, encoding="utf-8", full_document=True, short_empty_elements=False, **options):
    plain = output is None and encoding == "utf-8" and not (options.keys() - {"pretty"} or options.get("pretty"))
    if plain and type(input_dict) is dict and (not full_document or _one_root(input_dict)):
        parts: List[str] = [_DECLARATION] if full_document else []
        try:
            for key, value in input_dict.items():
                _element(parts, key, value, short_empty_elements)
            return "".join(parts)
        except _Unusual:
            pass
    return _xmltodict_unparse(input_dict, output, encoding, full_document, short_empty_elements, **options)


def _one_root(document: dict) -> bool:
    """Has the document one root element (not none, nor a list: xmltodict's errors)?"""
    return len(document) == 1 and not any(type(root) is list for root in document.values())


def _text(value) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    raise _Unusual


def _element(parts: List[str], key, value, short: bool) -> None:
    if type(key) is not str or key == "#comment":
        raise _Unusual
    xmltodict._validate_name(key, "element")  # raises as xmltodict would, for the same names
    kind = type(value)
    items = value if kind is list else [value] if kind in (dict, str, bool, int, float) or value is None else None
    if items is None:
        raise _Unusual  # tuples, generators and other iterables; other objects
    for item in items:
        if item is None:
            item = {}
        elif type(item) is not dict:
            item = {"#text": _text(item)}
        attributes, children, text = [], [], None
        for name, child in item.items():
            if name == "#text":
                text = None if child is None else _text(child)
            elif type(name) is str and name.startswith("@"):
                if child is not None and type(child) is not str:
                    raise _Unusual
                xmltodict._validate_name(name[1:], "attribute")
                attributes.append(f" {name[1:]}={quoteattr(child or '')}")
            elif not (type(child) is list and not child):  # an empty list: no element
                children.append((name, child))
        parts.append(f"<{key}{''.join(attributes)}")
        if not children and not text and short:
            parts.append("/>")
            continue
        parts.append(">")
        for name, child in children:
            _element(parts, name, child, short)
        if text:
            parts.append(escape(text))
        parts.append(f"</{key}>")
