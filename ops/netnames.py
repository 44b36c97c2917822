"""Names of network hosts a playbook gives (a cache endpoint, a host to PING): a DNS hostname
(RFC 1123 labels) or an IP literal, nothing else, so no such value carries a path, an
option or shell syntax to the host that uses it."""

from __future__ import annotations

import ipaddress
import re
from typing import Optional, Union

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_NAME = 253
RULE = (
    "must be a DNS hostname (dot-separated labels of letters, digits and '-', each at most 63 "
    f"characters, not starting or ending with '-'; at most {MAX_NAME} in all) or an IP address"
)


def ip_literal(value: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    """The address `value` spells, or None. IPv6 zone ids (`fe80::1%eth0`) are refused: the
    part after `%` is free text."""
    if "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def check_network_name(value: str) -> Optional[str]:
    """A Param check: the problem with `value` as a host name, or None."""
    if ip_literal(value) is not None:
        return None
    name = value[:-1] if value.endswith(".") else value  # a fully qualified name may end in '.'
    labels = name.split(".")
    if not name or len(name) > MAX_NAME or not all(_LABEL.fullmatch(label) for label in labels):
        return RULE
    if labels[-1].isdigit():
        return "looks like an IP address but is not one (each part 0-255, four parts)"
    return None
