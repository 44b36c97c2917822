"""The run's record: what each run created or changed, written as it goes.

One JSON file per lab under .ops/state/ (dry runs under .ops/dry-run/state/), owner-only
(0600), replaced atomically. Before a call that creates something, the resource is recorded
with status "intent" (its name is known); after, "created" with its ids. Teardown reads only
this file, so it works after a crash or from another process.
"""
import json
import os
import secrets
import string
import tempfile
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Dict, List, Optional

from .steps.base import Resource

FORMAT_VERSION = 1
LIVE = ("intent", "created", "adopted")
FIELDS = {f.name for f in fields(Resource)}


def new_run_id() -> str:
    """8 characters, a letter first: fits in ElastiCache ids (40) with a lab prefix."""
    alphabet = string.ascii_lowercase + string.digits
    return "r" + "".join(secrets.choice(alphabet) for _ in range(7))


def private_dir(path: Path) -> None:
    """mkdir -p, with every folder from .ops/ down readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True)
    parts = path.parts
    if ".ops" in parts:
        top = Path(*parts[:parts.index(".ops") + 1])
        for folder in [top, *[p for p in path.parents if top in p.parents]][::-1] + [path]:
            os.chmod(folder, 0o700)


def state_dir(root: Path, dry_run: bool) -> Path:
    return root / ".ops" / ("dry-run/state" if dry_run else "state")


class RunState:
    """The record of one lab: its current run id and every resource, in creation order."""

    def __init__(self, path: Path, data: Dict[str, Any]):
        self.path = path
        self.data = data
        self._lock = threading.RLock()

    # --- loading -------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Optional["RunState"]:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            from .errors import BadInput
            raise BadInput(f"the state file is unreadable ({exc}).",
                           "Restore it from a backup, or remove it if nothing from that run exists any more.",
                           str(path)) from None
        return cls(path, data)

    @classmethod
    def start(cls, path: Path, lab: str, playbook: str, region: str, dry_run: bool,
              run_id: Optional[str] = None) -> "RunState":
        data = {"version": FORMAT_VERSION, "lab": lab, "playbook": playbook, "region": region,
                "dry_run": dry_run, "run_id": run_id or new_run_id(), "started_at": _now_iso(),
                "resources": []}
        state = cls(path, data)
        state.save()
        return state

    # --- access ----------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def region(self) -> str:
        return self.data["region"]

    def resources(self) -> List[Resource]:
        with self._lock:
            return [Resource(**{k: v for k, v in r.items() if k in FIELDS}) for r in self.data["resources"]]

    def live(self) -> List[Resource]:
        return [r for r in self.resources() if r.status in LIVE]

    def to_delete(self) -> List[Resource]:
        """What teardown deletes, newest first: live resources that are ours."""
        return [r for r in reversed(self.live()) if r.ours]

    # --- recording -----------------------------------------------------------------
    def record(self, resource: Resource) -> None:
        """Add or update a resource (a step records at most one of each kind), then save."""
        with self._lock:
            rows = self.data["resources"]
            row = asdict(resource)
            row["updated_at"] = _now_iso()
            for index, existing in enumerate(rows):
                if (existing["step"], existing["kind"]) == (resource.step, resource.kind):
                    row.setdefault("recorded_at", existing.get("recorded_at"))
                    rows[index] = {**existing, **row}
                    break
            else:
                row["recorded_at"] = row["updated_at"]
                rows.append(row)
            self.save()

    def set(self, key: str, value) -> None:
        with self._lock:
            self.data[key] = value
            self.save()

    def save(self) -> None:
        with self._lock:
            private_dir(self.path.parent)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
            try:
                with os.fdopen(fd, "w") as handle:
                    json.dump(self.data, handle, indent=2, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
