"""Durable batch state: the StateStore interface, its transition table, its SQLite and
PostgreSQL backends."""

from __future__ import annotations

from pathlib import Path

from ..errors import StateConflictError, StateUnavailableError
from .base import JobRecord, JobRow, JobState, Limits, RunnerInfo, StateStore, Usage
from .location import DatabaseURL, is_database_url
from .sqlite import SQLiteStore

__all__ = [
    "DatabaseURL",
    "JobRecord",
    "JobRow",
    "JobState",
    "Limits",
    "RunnerInfo",
    "SQLiteStore",
    "StateConflictError",
    "StateStore",
    "StateUnavailableError",
    "Usage",
    "is_database_url",
    "open_existing",
    "open_store",
]

Location = str | Path | DatabaseURL


def open_store(location: Location) -> StateStore:
    """Open the state database (creating it, and an SQLite file's directory, if needed): an
    SQLite file's path, or a PostgreSQL URL (postgresql://...)."""
    if isinstance(location, DatabaseURL) or is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(_url(location))
    if str(location) != ":memory:":
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(location)


def open_existing(location: Location) -> StateStore | None:
    """The state database if a run ever made it, else None; nothing is created."""
    if isinstance(location, DatabaseURL) or is_database_url(location):
        from .postgres import PostgresStore

        store = PostgresStore(_url(location), create=False)
        if not store.created:
            store.close()
            return None
        return store
    return open_store(location) if Path(location).exists() else None


def _url(location: Location) -> DatabaseURL:
    return location if isinstance(location, DatabaseURL) else DatabaseURL(str(location).strip())
