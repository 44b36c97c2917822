"""Where the time went: every event of a run with its time on the run's clock.

Saved per run as .ops/[dry-run/]runs/<lab>/<run id>.json (0600), for `ops report` and the
benchmark. In a dry run the times are simulated seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..paths import private_dir, runs_dir


class Timeline:
    """A Reporter listener that keeps every event, and writes them out on save()."""

    def __init__(self, path: Path, lab: str, run_id: str, simulated: bool):
        self.path = path
        self.data: Dict[str, Any] = {
            "version": 1,
            "lab": lab,
            "run_id": run_id,
            "simulated": simulated,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "events": [],
        }
        self._lock = threading.Lock()

    def __call__(self, name: str, t: float, fields: Dict[str, Any]) -> None:
        with self._lock:
            self.data["events"].append({"t": round(t, 3), "event": name, **fields})

    @property
    def events(self) -> List[Dict[str, Any]]:
        return self.data["events"]

    def save(self) -> None:
        with self._lock:
            private_dir(self.path.parent)
            tmp = self.path.with_suffix(".tmp")
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                json.dump(self.data, handle, default=str)
            os.replace(tmp, self.path)


def find_timeline(root: Path, lab_or_run: Optional[str], dry_run: Optional[bool] = None) -> Optional[Path]:
    """The newest saved timeline of a lab, or the one of a run id; any lab when None."""
    candidates: List[Path] = []
    for simulated in (dry_run,) if dry_run is not None else (False, True):
        base = runs_dir(root, simulated)
        if base.is_dir():
            candidates.extend(base.glob("*/*.json"))
    if lab_or_run:
        candidates = [p for p in candidates if lab_or_run in (p.parent.name, p.stem)]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def load_timeline(path: Path) -> Dict[str, Any]:
    return json.loads(Path(path).read_text())
