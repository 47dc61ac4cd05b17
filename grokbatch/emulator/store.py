"""The emulator's state file: jobs, balances, counters and idempotency keys in SQLite.

The ledger keeps everything in memory and writes each change through to this file as it
happens, one small transaction per request, so the file is never behind what a client was
told. WAL journaling: a SIGKILL loses nothing that was committed, and a write costs no
fsync. With no path nothing is written (the emulator forgets everything when it stops).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .jobs import EmuJob

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, provider TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
CREATE TABLE IF NOT EXISTS balances (
    provider TEXT PRIMARY KEY, balance REAL NOT NULL, charged REAL NOT NULL,
    refunded REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    provider TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (provider, name)
);
CREATE TABLE IF NOT EXISTS idempotency (
    provider TEXT NOT NULL, key TEXT NOT NULL, body_key TEXT NOT NULL, job_id TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (provider, key)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_JOB_FIELDS = {f.name for f in fields(EmuJob)}


class StateFile:
    """Write-through persistence for the ledger; every method is called under its lock."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the writes of one request; nested uses join the outer one."""
        db = self._db
        if db is None or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        db.execute("BEGIN")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")
        finally:
            self._depth = 0

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        if self._db is not None:
            self._db.execute(sql, args)

    # --- writes -----------------------------------------------------------------------------

    def put_job(self, job: EmuJob) -> None:
        if self._db is not None:
            self._run(
                "INSERT OR REPLACE INTO jobs (id, seq, provider, data) VALUES (?, ?, ?, ?)",
                (job.id, job.seq, job.provider, json.dumps(asdict(job))),
            )

    def put_balance(self, provider: str, balance: float, charged: float, refunded: float) -> None:
        self._run(
            "INSERT OR REPLACE INTO balances VALUES (?, ?, ?, ?)",
            (provider, balance, charged, refunded),
        )

    def put_counter(self, provider: str, name: str, value: int) -> None:
        self._run("INSERT OR REPLACE INTO counters VALUES (?, ?, ?)", (provider, name, value))

    def put_key(self, provider: str, key: str, body_key: str, job_id: str, at: float) -> None:
        self._run(
            "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
            (provider, key, body_key, job_id, at),
        )

    def put_meta(self, name: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def clear(self) -> None:
        for table in ("jobs", "balances", "counters", "idempotency"):
            self._run(f"DELETE FROM {table}")

    # --- reads (once, at start) ---------------------------------------------------------------

    def jobs(self) -> list[EmuJob]:
        if self._db is None:
            return []
        rows = self._db.execute("SELECT data FROM jobs ORDER BY seq").fetchall()
        out = []
        for (data,) in rows:
            values = {k: v for k, v in json.loads(data).items() if k in _JOB_FIELDS}
            out.append(EmuJob(**values))
        return out

    def balances(self) -> dict[str, tuple[float, float, float]]:
        if self._db is None:
            return {}
        rows = self._db.execute("SELECT provider, balance, charged, refunded FROM balances")
        return {p: (b, c, r) for p, b, c, r in rows}

    def counters(self) -> list[tuple[str, str, int]]:
        if self._db is None:
            return []
        return list(self._db.execute("SELECT provider, name, value FROM counters"))

    def idempotency_keys(self) -> list[tuple[str, str, str, str, float]]:
        if self._db is None:
            return []
        return list(self._db.execute("SELECT provider, key, body_key, job_id, at FROM idempotency"))

    def meta(self, name: str) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])
