"""Durable batch state: the StateStore interface and its SQLite backend."""

from __future__ import annotations

from pathlib import Path

from .base import (
    JobRecord,
    JobRow,
    JobState,
    Limits,
    StateConflictError,
    StateStore,
    StateUnavailableError,
    Usage,
)
from .sqlite import SQLiteStore

DEFAULT_DB = ".grokbatch/state.db"  # relative to the current directory

__all__ = [
    "DEFAULT_DB",
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


def open_store(path: str | Path = DEFAULT_DB) -> StateStore:
    """Open (creating it and its directory if needed) the state database at path."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(path)
