"""The SQLite StateStore: one file, shared safely by several runner processes.

Invariants (on top of those in base.py):

* Every write is one `BEGIN IMMEDIATE` transaction: it takes the file's write lock before
  reading anything, so a budget check and the claim it allows cannot interleave with
  another runner's. Other runners wait up to `busy_timeout`, then StateUnavailableError.
* `synchronous=FULL` in WAL mode: when a transition returns, it survives a crash or a
  power cut. `mark_submitted` relies on this to make a remote id durable.
* Each transition is a compare-and-set (`UPDATE ... WHERE state IN (...)`, rowcount
  checked) plus its event, in the same transaction.
* Budget totals come from `_grokbatch_usage`, kept by triggers (see migrations.py) in
  integer millionths, so a reservation is checked in constant time and exactly.
* No read transaction is held open between calls: `jobs()` pages by rowid, so a runner
  iterating 100,000 jobs for hours never pins the WAL.

Only this module knows about SQLite; the SQL in the transition methods is plain enough
(CASE, COALESCE, ON CONFLICT) to carry over to PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .. import __version__
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
from .migrations import migrate

BUSY_TIMEOUT_S = 10.0
_CHUNK = 5_000  # jobs per add_jobs transaction: short enough not to starve other runners
_PAGE = 1_000  # rows per jobs() page
_MICRO = 1_000_000

# JobRow's fields are the jobs table's columns (plus run_id, internal).
_JOB_COLUMNS = tuple(f.name for f in dataclasses.fields(JobRow))
_SELECT_JOB = "SELECT rowid, " + ", ".join(_JOB_COLUMNS) + " FROM jobs"
_INSERT_JOB = (
    "INSERT INTO jobs (manifest, key, provider, model, prompt_id, coords, request, "
    "output_path, state, estimated_credits, estimated_usd, price_basis, run_id, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (manifest, key) DO UPDATE SET output_path = excluded.output_path, "
    "coords = excluded.coords, updated_at = excluded.updated_at "
    "WHERE jobs.output_path IS NOT excluded.output_path OR jobs.coords IS NOT excluded.coords"
)
_IN_FLIGHT = (JobState.SUBMITTING, JobState.RUNNING, JobState.READY)


def now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _micro(value: float | None) -> int:
    return round((value or 0.0) * _MICRO)


def _r(value: float) -> float:
    # Keeps stored sums at the precision prices have, so 2.4 * 6 reads back as 14.4.
    return round(value, 6)


class SQLiteStore(StateStore):
    """A StateStore in one SQLite file (or ":memory:" for tests)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = str(path)
        # isolation_level=None: the sqlite3 module must not open transactions behind our
        # back; every write says BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self.db = Database(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        # One connection is not safe for interleaved transactions from several threads.
        self._lock = threading.RLock()
        try:
            with self._tx():
                migrate(self.db)
        except BaseException:
            conn.close()
            raise

    # --- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StateUnavailableError(f"{self.path}: {e}") from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _event(
        self,
        conn: sqlite3.Connection,
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
            (run_id, manifest, key, now(), kind, _json(detail)),
        )

    def _current(
        self, conn: sqlite3.Connection, manifest: str, key: str, allowed: Iterable[JobState]
    ) -> sqlite3.Row:
        """The job's accounting columns, or StateConflictError if it is not in `allowed`."""
        cur = conn.cursor()
        cur.row_factory = sqlite3.Row
        row: sqlite3.Row | None = cur.execute(
            "SELECT state, provider, reserved_credits, spent_credits, reserved_usd, "
            "spent_usd, charged_credits, charged_usd, remote_status FROM jobs "
            "WHERE manifest = ? AND key = ?",
            (manifest, key),
        ).fetchone()
        allowed = tuple(allowed)
        if row is None:
            raise StateConflictError(f"job {key} of {manifest} is unknown")
        if JobState(row["state"]) not in allowed:
            raise _conflict(manifest, key, row["state"], allowed)
        return row

    def _transition(
        self,
        conn: sqlite3.Connection,
        manifest: str,
        key: str,
        *,
        allowed: Iterable[JobState],
        changes: Mapping[str, Any],
        run_id: int | None,
        kind: str,
        detail: Mapping[str, Any],
    ) -> None:
        """Compare-and-set the job from one of `allowed` states, and log the event."""
        allowed = tuple(allowed)
        changes = {**changes, "updated_at": now(), "run_id": run_id}
        assign = ", ".join(
            f"{column} = {v if isinstance(v, _Raw) else '?'}" for column, v in changes.items()
        )
        values = [v for v in changes.values() if not isinstance(v, _Raw)]
        marks = ", ".join("?" for _ in allowed)
        cur = conn.execute(
            f"UPDATE jobs SET {assign} WHERE manifest = ? AND key = ? AND state IN ({marks})",
            (*values, manifest, key, *(s.value for s in allowed)),
        )
        if cur.rowcount != 1:
            actual = conn.execute(
                "SELECT state FROM jobs WHERE manifest = ? AND key = ?", (manifest, key)
            ).fetchone()
            raise _conflict(manifest, key, actual[0] if actual else "unknown", allowed)
        self._event(conn, run_id=run_id, kind=kind, manifest=manifest, key=key, detail=detail)

    # --- runs ---------------------------------------------------------------------------
    def start_run(self, *, manifest: str, manifest_path: str, options: Mapping[str, Any]) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO runs (manifest, manifest_path, started_at, status, options, "
                "grokbatch_version, pid, hostname) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    manifest,
                    manifest_path,
                    now(),
                    _json(options),
                    __version__,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            self._event(
                conn, run_id=run_id, kind="run_started", manifest=manifest, key=None, detail=None
            )
            return run_id

    def finish_run(self, run_id: int, *, status: str, summary: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (now(), status, _json(summary), run_id),
            )
            manifest = conn.execute("SELECT manifest FROM runs WHERE id = ?", (run_id,)).fetchone()
            self._event(
                conn,
                run_id=run_id,
                kind="run_finished",
                manifest=manifest[0] if manifest else None,
                key=None,
                detail={"status": status},
            )

    # --- jobs ---------------------------------------------------------------------------
    def add_jobs(self, manifest: str, jobs: Iterable[JobRecord], *, run_id: int | None) -> int:
        """See StateStore.add_jobs. Commits every few thousand jobs so that another runner
        is never locked out for long; it is idempotent, so a crash midway loses nothing."""
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
                    _json(j.coords),
                    _json(j.request),
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
                # An upsert's rowcount counts updates too; the row count tells new from known.
                before = _count(conn, manifest)
                changed = conn.executemany(_INSERT_JOB, rows).rowcount
                added = _count(conn, manifest) - before
                new += added
                updated += changed - added
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

    def get(self, manifest: str, key: str) -> JobRow | None:
        with self._lock:
            row = self._conn.execute(
                _SELECT_JOB + " WHERE manifest = ? AND key = ?", (manifest, key)
            ).fetchone()
        return None if row is None else _job_row(row)

    def jobs(self, manifest: str, *, states: Iterable[JobState] | None = None) -> Iterator[JobRow]:
        where = "manifest = ?"
        params: list[Any] = [manifest]
        if states is not None:
            values = [s.value for s in states]
            if not values:
                return
            where += f" AND state IN ({', '.join('?' for _ in values)})"
            params += values
        last = 0
        while True:
            with self._lock:
                page = self._conn.execute(
                    f"{_SELECT_JOB} WHERE {where} AND rowid > ? ORDER BY rowid LIMIT {_PAGE}",
                    (*params, last),
                ).fetchall()
            for row in page:
                yield _job_row(row)
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def counts(self, manifest: str) -> dict[JobState, int]:
        result = dict.fromkeys(JobState, 0)
        with self._lock:
            for state, n in self._conn.execute(
                "SELECT state, COUNT(*) FROM jobs WHERE manifest = ? GROUP BY state", (manifest,)
            ):
                result[JobState(state)] = n
        return result

    def usage(self, manifest: str) -> dict[str, Usage]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT provider, spent_credits_micro, reserved_credits_micro, spent_usd_micro, "
                "reserved_usd_micro FROM _grokbatch_usage WHERE manifest = ? ORDER BY provider",
                (manifest,),
            ).fetchall()
        return {provider: Usage(*(v / _MICRO for v in values)) for provider, *values in rows}

    # --- transitions --------------------------------------------------------------------
    def reserve(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        credits: float,
        usd: float | None,
        limits: Limits,
    ) -> bool:
        with self._tx() as conn:
            row = self._current(conn, manifest, key, [JobState.PENDING])
            provider = row["provider"]
            committed = conn.execute(
                "SELECT COALESCE(SUM(spent_credits_micro + reserved_credits_micro), 0) "
                "FROM _grokbatch_usage WHERE manifest = ? AND provider = ?",
                (manifest, provider),
            ).fetchone()[0]
            committed_usd = conn.execute(
                "SELECT COALESCE(SUM(spent_usd_micro + reserved_usd_micro), 0) "
                "FROM _grokbatch_usage WHERE manifest = ?",
                (manifest,),
            ).fetchone()[0]
            blocked: dict[str, Any] | None = None
            if limits.max_credits is not None and committed + _micro(credits) > _micro(
                limits.max_credits
            ):
                blocked = {"limit": "credits", "max": limits.max_credits, "committed": committed}
            elif (
                limits.max_usd is not None
                and usd is not None
                and committed_usd + _micro(usd) > _micro(limits.max_usd)
            ):
                blocked = {"limit": "usd", "max": limits.max_usd, "committed": committed_usd}
            if blocked is not None:
                blocked["committed"] /= _MICRO
                self._event(
                    conn,
                    run_id=run_id,
                    kind="budget_blocked",
                    manifest=manifest,
                    key=key,
                    detail={**blocked, "provider": provider, "credits": credits, "usd": usd},
                )
                return False
            at = now()
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.PENDING],
                changes={
                    "state": JobState.SUBMITTING.value,
                    "reserved_credits": _r(credits),
                    "reserved_usd": _r(usd or 0.0),
                    "attempts": _Raw("attempts + 1"),
                    "submitted_at": at,
                },
                run_id=run_id,
                kind="reserved",
                detail={"provider": provider, "credits": credits, "usd": usd},
            )
            return True

    def mark_submitted(
        self, manifest: str, key: str, *, run_id: int, remote_id: str, charged: float | None
    ) -> None:
        with self._tx() as conn:
            row = self._current(conn, manifest, key, [JobState.SUBMITTING])
            changes: dict[str, Any] = {"state": JobState.RUNNING.value, "remote_id": remote_id}
            if charged is not None:
                # A provider may charge more than estimated: spent is the truth.
                changes["spent_credits"] = _r(row["spent_credits"] + charged)
                changes["reserved_credits"] = _r(max(0.0, row["reserved_credits"] - charged))
                changes["charged_credits"] = charged
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.SUBMITTING],
                changes=changes,
                run_id=run_id,
                kind="submitted",
                detail={"remote_id": remote_id, "charged": charged},
            )

    def release(
        self, manifest: str, key: str, *, run_id: int, error: str, error_kind: str, failed: bool
    ) -> None:
        state = JobState.FAILED if failed else JobState.PENDING
        with self._tx() as conn:
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.SUBMITTING],
                changes={
                    "state": state.value,
                    "reserved_credits": 0.0,
                    "reserved_usd": 0.0,
                    "error": error,
                    "error_kind": error_kind,
                    "finished_at": now() if failed else None,
                },
                run_id=run_id,
                kind="released",
                detail={"error": error, "error_kind": error_kind, "failed": failed},
            )

    def mark_ambiguous(
        self, manifest: str, key: str, *, run_id: int, error: str, error_kind: str
    ) -> None:
        with self._tx() as conn:
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.SUBMITTING],
                changes={
                    "state": JobState.AMBIGUOUS.value,
                    "error": error,
                    "error_kind": error_kind,
                },
                run_id=run_id,
                kind="ambiguous",
                detail={"error": error, "error_kind": error_kind},
            )

    def record_status(self, manifest: str, key: str, *, run_id: int, remote_status: str) -> None:
        with self._tx() as conn:
            row = self._current(conn, manifest, key, [JobState.RUNNING, JobState.READY])
            if row["remote_status"] == remote_status:
                return
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.RUNNING, JobState.READY],
                changes={"remote_status": remote_status},
                run_id=run_id,
                kind="status",
                detail={"remote_status": remote_status, "previous": row["remote_status"]},
            )

    def mark_ready(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        charged_credits: float | None,
        charged_usd: float | None,
    ) -> None:
        with self._tx() as conn:
            row = self._current(conn, manifest, key, [JobState.RUNNING])
            changes = _settle(row, charged_credits, charged_usd, refunded=False)
            changes["state"] = JobState.READY.value
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.RUNNING],
                changes=changes,
                run_id=run_id,
                kind="ready",
                detail={"charged_credits": charged_credits, "charged_usd": charged_usd},
            )

    def mark_done(
        self, manifest: str, key: str, *, run_id: int, output_path: str, size: int, sha256: str
    ) -> None:
        with self._tx() as conn:
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.READY],
                changes={
                    "state": JobState.DONE.value,
                    "output_path": output_path,
                    "size": size,
                    "sha256": sha256,
                    "error": None,
                    "error_kind": None,
                    "finished_at": now(),
                },
                run_id=run_id,
                kind="done",
                detail={"output_path": output_path, "size": size, "sha256": sha256},
            )

    def mark_failed(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        error: str,
        error_kind: str,
        refunded: bool,
        charged_credits: float | None = None,
        charged_usd: float | None = None,
    ) -> None:
        with self._tx() as conn:
            row = self._current(conn, manifest, key, _IN_FLIGHT)
            changes = _settle(row, charged_credits, charged_usd, refunded=refunded)
            changes |= {
                "state": JobState.FAILED.value,
                "error": error,
                "error_kind": error_kind,
                "finished_at": now(),
            }
            self._transition(
                conn,
                manifest,
                key,
                allowed=_IN_FLIGHT,
                changes=changes,
                run_id=run_id,
                kind="failed",
                detail={
                    "error": error,
                    "error_kind": error_kind,
                    "refunded": refunded,
                    "charged_credits": charged_credits,
                    "charged_usd": charged_usd,
                    "from": row["state"],
                },
            )

    def reopen(self, manifest: str, key: str, *, run_id: int, reason: str) -> None:
        with self._tx() as conn:
            self._transition(
                conn,
                manifest,
                key,
                allowed=[JobState.DONE],
                changes={
                    "state": JobState.READY.value,
                    "size": None,
                    "sha256": None,
                    "finished_at": None,
                },
                run_id=run_id,
                kind="reopened",
                detail={"reason": reason},
            )

    def reset(self, manifest: str, key: str, *, run_id: int, reason: str) -> None:
        allowed = (JobState.FAILED, JobState.AMBIGUOUS)
        with self._tx() as conn:
            row = self._current(conn, manifest, key, allowed)
            self._transition(
                conn,
                manifest,
                key,
                allowed=allowed,
                changes={
                    "state": JobState.PENDING.value,
                    # An ambiguous submit may have been paid: its reservation becomes spent,
                    # so that resubmitting can never free budget.
                    "spent_credits": _r(row["spent_credits"] + row["reserved_credits"]),
                    "spent_usd": _r(row["spent_usd"] + row["reserved_usd"]),
                    "reserved_credits": 0.0,
                    "reserved_usd": 0.0,
                    # The next attempt's charges are its own.
                    "charged_credits": None,
                    "charged_usd": None,
                    "remote_id": None,
                    "remote_status": None,
                    "error": None,
                    "error_kind": None,
                    "finished_at": None,
                },
                run_id=run_id,
                kind="reset",
                detail={"reason": reason, "from": row["state"]},
            )

    # --- events -------------------------------------------------------------------------
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
            with self._lock:
                page = self._conn.execute(
                    "SELECT id, run_id, manifest, job_key, at, kind, detail FROM events "
                    f"WHERE {where} AND id > ? ORDER BY id LIMIT {_PAGE}",
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
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Raw(str):
    """A SQL expression, not a value, in `_transition` changes."""


def _count(conn: sqlite3.Connection, manifest: str) -> int:
    return int(
        conn.execute("SELECT COUNT(*) FROM jobs WHERE manifest = ?", (manifest,)).fetchone()[0]
    )


def _conflict(
    manifest: str, key: str, actual: str, allowed: Iterable[JobState]
) -> StateConflictError:
    expected = " or ".join(s.value for s in allowed)
    return StateConflictError(f"job {key} of {manifest} is {actual}, not {expected}")


def _settle(
    row: sqlite3.Row, credits: float | None, usd: float | None, *, refunded: bool
) -> dict[str, Any]:
    """Budget columns once an attempt's cost is known; earlier attempts stay spent.

    `charged_*` on the row is what this attempt was charged so far (at submit); spent
    holds earlier attempts' cost plus that. Refunded: this attempt costs nothing. Else it
    costs the reported charge, or the one reported at submit, or the whole reservation.
    """
    changes: dict[str, Any] = {"reserved_credits": 0.0, "reserved_usd": 0.0}
    for unit, reported in (("credits", credits), ("usd", usd)):
        spent, reserved = row[f"spent_{unit}"], row[f"reserved_{unit}"]
        charged_before = row[f"charged_{unit}"]
        earlier = spent - (charged_before or 0.0)
        if refunded:
            cost = 0.0
        elif reported is not None:
            cost = reported
        elif charged_before is not None:
            cost = charged_before  # reported at submit; the rest of the estimate is freed
        else:
            cost = reserved
        changes[f"spent_{unit}"] = _r(earlier + cost)
        if reported is not None:
            changes[f"charged_{unit}"] = reported
    return changes


def _job_row(row: tuple[Any, ...]) -> JobRow:
    values = dict(zip(_JOB_COLUMNS, row[1:], strict=True))
    values["coords"] = json.loads(values["coords"])
    values["request"] = json.loads(values["request"])
    values["state"] = JobState(values["state"])
    return JobRow(**values)
