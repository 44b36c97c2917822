"""The engine: playbooks, the runner and its scheduler, the record and where it lives, the
lock, what a step sees, timelines, the run target and the inventory."""

from __future__ import annotations
