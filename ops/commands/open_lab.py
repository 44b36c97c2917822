"""`ops open LAB`: where a person steps into a kept lab from a browser.

Cloud9: the IDE, https://<region>.console.aws.amazon.com/cloud9/ide/<environment id>; EC2
hosts: Session Manager's console page for the instance, and the `ops shell` line. Each
partition has its own console domain (aws-cn: console.amazonaws.cn, aws-us-gov:
console.amazonaws-us-gov.com); the commercial one takes the region as a subdomain, the
others by ?region= (Cloud9 is offered in neither, so those links are for completeness).
"""

from dataclasses import dataclass
from typing import List, Optional
from urllib.parse import quote

from ..durations import format_duration
from ..output import aligned
from ..permissions import partition_of
from .lab_host import LabHost

CONSOLES = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def console_base(region: str) -> str:
    domain = CONSOLES.get(partition_of(region), CONSOLES["aws"])
    return f"https://{region}.{domain}" if domain == CONSOLES["aws"] else f"https://{domain}"


def _region_query(region: str) -> str:
    return f"?region={quote(region, safe='')}"


def host_url(host: LabHost) -> str:
    """The Cloud9 IDE of a Cloud9 lab, Session Manager's page for an EC2 host."""
    base = console_base(host.region)
    if host.kind == "cloud9":
        return f"{base}/cloud9/ide/{quote(host.environment_id or '', safe='')}" + _region_query(host.region)
    return f"{base}/systems-manager/session-manager/{quote(host.instance_id or '', safe='')}" + _region_query(
        host.region
    )


def shell_line(host: LabHost, dry_run: bool) -> str:
    return f"ops shell {host.lab}" + (" --dry-run" if dry_run else "")


@dataclass
class OpenRow:
    host: LabHost
    url: str
    time_left: Optional[float]


def rows(hosts: List[LabHost], now: float) -> List[OpenRow]:
    return [OpenRow(h, host_url(h), None if h.expires is None else h.expires - now) for h in hosts]


def table_lines(table: List[OpenRow]) -> List[str]:
    """lab / URL / time left, one lab a line; and whom each is shared with, when any is."""
    shared = any(r.host.members for r in table)
    header = ("LAB", "URL", "TIME LEFT") + (("SHARED WITH",) if shared else ())
    cells = [
        (r.host.lab, r.url, time_left_text(r.time_left)) + ((", ".join(r.host.members) or "-",) if shared else ())
        for r in table
    ]
    return aligned([header, *cells])


def shared_line(host: LabHost) -> Optional[str]:
    """Whom a lab's Cloud9 environment is shared with, or None when nobody."""
    return f"shared (read-write) with {', '.join(host.members)}" if host.members else None


def time_left_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "no expiry"
    return "expired" if seconds <= 0 else format_duration(seconds)
