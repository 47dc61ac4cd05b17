"""Durable batch state: the StateStore interface, its transition table, its SQLite backend."""

from __future__ import annotations

from pathlib import Path

from ..errors import StateConflictError, StateUnavailableError
from .base import JobRecord, JobRow, JobState, Limits, StateStore, Usage
from .sqlite import SQLiteStore

__all__ = [
    "JobRecord",
    "JobRow",
    "JobState",
    "Limits",
    "SQLiteStore",
    "StateConflictError",
    "StateStore",
    "StateUnavailableError",
    "Usage",
    "open_store",
]


def open_store(path: str | Path) -> StateStore:
    """Open (creating it and its directory if needed) the state database at path."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(path)
