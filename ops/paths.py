"""The folders below .ops/ where ops keeps what it knows about a folder's labs, all readable by
the owner only: .ops/ for real runs, .ops/dry-run/ for dry runs (records in state/, timelines
in runs/, what waits took in waits.json, and the simulated account in account/). Built here only."""

from __future__ import annotations

import os
from pathlib import Path


def ops_dir(root: Path, dry_run: bool) -> Path:
    return root / ".ops" / "dry-run" if dry_run else root / ".ops"


def state_dir(root: Path, dry_run: bool) -> Path:
    """The lab records kept in this folder."""
    return ops_dir(root, dry_run) / "state"


def runs_dir(root: Path, dry_run: bool) -> Path:
    """Every run's timeline."""
    return ops_dir(root, dry_run) / "runs"


def wait_history_file(root: Path, dry_run: bool) -> Path:
    """How long each wait took in this folder's runs (ops/engine/wait_history.py)."""
    return ops_dir(root, dry_run) / "waits.json"


def locks_dir(root: Path, dry_run: bool) -> Path:
    """The locks of the labs whose records are kept here (one file per lab)."""
    return ops_dir(root, dry_run) / "locks"


def sim_home(root: Path) -> Path:
    """Where the dry runs' simulated account lives: it outlives one process."""
    return ops_dir(root, dry_run=True) / "account"


def private_dir(path: Path) -> None:
    """mkdir -p, with every folder from .ops/ down readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True)
    parts = path.parts
    if ".ops" in parts:
        top = Path(*parts[: parts.index(".ops") + 1])
        for folder in [top, *[p for p in path.parents if top in p.parents]][::-1] + [path]:
            os.chmod(folder, 0o700)
