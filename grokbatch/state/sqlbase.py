"""The SQL every backend shares: connections, rows, and the reads, logs and job records of
a store.

`SQLLeases` (leases.py) adds the runners, `SQLStore` (sql.py) the transitions. A backend
supplies the connection and its dialect (`_tx`, `_read`, the order column for paging, how a
row is locked, the database's clock, null-safe equality).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import socket
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .. import __version__
from .base import JobRecord, JobRow, JobState, StateStore, Usage

MICRO = 1_000_000
PAGE = 1_000  # rows per jobs() page
_CHUNK = 5_000  # jobs per add_jobs transaction: short enough not to starve other runners

_INSERT_JOB = (
    "INSERT INTO jobs (manifest, key, provider, model, prompt_id, coords, request, "
    "output_path, state, estimated_credits, estimated_usd, price_basis, run_id, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (manifest, key) DO NOTHING"
)
# A known job keeps its state; a changed output layout or coordinates apply to it.
_UPDATE_LAYOUT = (
    "UPDATE jobs SET output_path = ?, coords = ?, updated_at = ? "
    "WHERE manifest = ? AND key = ? AND (output_path <> ? OR coords <> ?)"
)

# JobRow's fields are the jobs table's columns (plus run_id, internal).
JOB_COLUMNS = tuple(f.name for f in dataclasses.fields(JobRow))


class Connection(Protocol):
    """What the SQL below needs of a DB-API connection: execute() → a cursor."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


def now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def to_json_list(values: list[Mapping[str, Any]]) -> str:
    """The values as one JSON array, each element exactly as `to_json` writes it."""
    return json.dumps(values, ensure_ascii=False, default=str)


def micro(value: float | None) -> int:
    return round((value or 0.0) * MICRO)


def job_row(values: Iterable[Any]) -> JobRow:
    """A JobRow from the JOB_COLUMNS of a row."""
    data = dict(zip(JOB_COLUMNS, values, strict=True))
    data["coords"] = json.loads(data["coords"])
    data["request"] = json.loads(data["request"])
    data["state"] = JobState(data["state"])
    return JobRow(**data)


class SQLReads(StateStore):
    """Runs, reads, job records and the event log over any SQL backend with `?` placeholders."""

    order_column = "rowid"  # insertion order, for paging

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Connection]:
        """One write transaction that holds whatever lock makes a read-then-write atomic."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]:
        """A connection for one read, with no transaction left open afterwards."""

    def _event(
        self,
        conn: Connection,
        *,
        run_id: int | None,
        kind: str,
        manifest: str | None,
        key: str | None,
        detail: Mapping[str, Any] | None,
    ) -> None:
        conn.execute(
            "INSERT INTO events (run_id, manifest, job_key, at, kind, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, manifest, key, now(), kind, to_json(detail)),
        )

    # --- runs -----------------------------------------------------------------------------
    def start_run(self, *, manifest: str, manifest_path: str, options: Mapping[str, Any]) -> int:
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO runs (manifest, manifest_path, started_at, status, options, "
                "grokbatch_version, pid, hostname) VALUES (?, ?, ?, 'running', ?, ?, ?, ?) "
                "RETURNING id",
                (
                    manifest,
                    manifest_path,
                    now(),
                    to_json(options),
                    __version__,
                    os.getpid(),
                    socket.gethostname(),
                ),
            ).fetchone()
            run_id = int(row[0])
            self._event(
                conn, run_id=run_id, kind="run_started", manifest=manifest, key=None, detail=None
            )
            return run_id

    def finish_run(self, run_id: int, *, status: str, summary: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ? "
                "RETURNING manifest",
                (now(), status, to_json(summary), run_id),
            ).fetchone()
            self._event(
                conn,
                run_id=run_id,
                kind="run_finished",
                manifest=row[0] if row else None,
                key=None,
                detail={"status": status},
            )

    # --- jobs -----------------------------------------------------------------------------
    def add_jobs(self, manifest: str, jobs: Iterable[JobRecord], *, run_id: int | None) -> int:
        """See StateStore.add_jobs. Commits every few thousand jobs so that another runner
        is never locked out for long; it is idempotent, so a crash midway loses nothing.

        New jobs and changed layouts are written in separate transactions: an insert never
        waits on a job row another runner holds while it holds the budget totals (which the
        insert's trigger updates), so runners starting together cannot deadlock.
        """
        new = updated = 0
        it = iter(jobs)
        while chunk := list(itertools.islice(it, _CHUNK)):
            at = now()
            rows = [
                (
                    manifest,
                    j.key,
                    j.provider,
                    j.model,
                    j.prompt_id,
                    to_json(j.coords),
                    to_json(j.request),
                    j.output_path,
                    JobState.PENDING.value,
                    j.estimated_credits,
                    j.estimated_usd,
                    j.price_basis,
                    run_id,
                    at,
                    at,
                )
                for j in chunk
            ]
            with self._tx() as conn:
                new += max(0, conn.executemany(_INSERT_JOB, rows).rowcount)
            layouts = [(r[7], r[5], at, manifest, r[1], r[7], r[5]) for r in rows]
            with self._tx() as conn:
                updated += max(0, conn.executemany(_UPDATE_LAYOUT, layouts).rowcount)
        with self._tx() as conn:
            self._event(
                conn,
                run_id=run_id,
                kind="jobs_added",
                manifest=manifest,
                key=None,
                detail={"new": new, "updated": updated},
            )
        return new

    # --- reads ----------------------------------------------------------------------------
    def get(self, manifest: str, key: str) -> JobRow | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE manifest = ? AND key = ?",
                (manifest, key),
            ).fetchone()
        return None if row is None else job_row(row)

    def jobs(self, manifest: str, *, states: Iterable[JobState] | None = None) -> Iterator[JobRow]:
        # Paged, with no read transaction held between pages: a runner iterating 100,000
        # jobs for hours never pins the database.
        where = "manifest = ?"
        params: list[Any] = [manifest]
        if states is not None:
            values = [s.value for s in states]
            if not values:
                return
            where += f" AND state IN ({', '.join('?' for _ in values)})"
            params += values
        order = self.order_column
        last = 0
        while True:
            with self._read() as conn:
                page = conn.execute(
                    f"SELECT {order}, {', '.join(JOB_COLUMNS)} FROM jobs WHERE {where} "
                    f"AND {order} > ? ORDER BY {order} LIMIT {PAGE}",
                    (*params, last),
                ).fetchall()
            for row in page:
                yield job_row(row[1:])
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def counts(self, manifest: str) -> dict[JobState, int]:
        result = dict.fromkeys(JobState, 0)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT state, COUNT(*) FROM jobs WHERE manifest = ? GROUP BY state", (manifest,)
            ).fetchall()
        for state, n in rows:
            result[JobState(state)] = n
        return result

    def usage(self, manifest: str) -> dict[str, Usage]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT provider, spent_credits_micro, reserved_credits_micro, spent_usd_micro, "
                "reserved_usd_micro FROM _grokbatch_usage WHERE manifest = ? ORDER BY provider",
                (manifest,),
            ).fetchall()
        return {provider: Usage(*(v / MICRO for v in values)) for provider, *values in rows}

    # --- events ---------------------------------------------------------------------------
    def log(
        self,
        *,
        run_id: int | None,
        kind: str,
        manifest: str | None = None,
        key: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self._tx() as conn:
            self._event(conn, run_id=run_id, kind=kind, manifest=manifest, key=key, detail=detail)

    def events(self, manifest: str, *, key: str | None = None) -> Iterator[dict[str, Any]]:
        where, params = "manifest = ?", [manifest]
        if key is not None:
            where += " AND job_key = ?"
            params.append(key)
        last = 0
        while True:
            with self._read() as conn:
                page = conn.execute(
                    "SELECT id, run_id, manifest, job_key, at, kind, detail FROM events "
                    f"WHERE {where} AND id > ? ORDER BY id LIMIT {PAGE}",
                    (*params, last),
                ).fetchall()
            for id_, run_id, m, job_key, at, kind, detail in page:
                yield {
                    "id": id_,
                    "run_id": run_id,
                    "manifest": m,
                    "job_key": job_key,
                    "at": at,
                    "kind": kind,
                    "detail": json.loads(detail) if detail else {},
                }
            if len(page) < PAGE:
                return
            last = page[-1][0]
