"""The StateStore over SQL: every transition written once, for every SQL backend.

A backend supplies a connection and its dialect (`_tx`, `_read`, how a row is locked and
paged); this class supplies the rest. Each transition is one `_transition`: lock the job's
row, check its state against the table in `transitions.py`, write the changes with the new
state and an `AND state IN (...)` guard, return the new row, and append the event, in one
transaction. A budget check and the claim it allows are made in the same transaction.

Budget totals come from `_grokbatch_usage`, kept by triggers (see migrations.py) in integer
millionths, so a reservation is checked in constant time and exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .. import __version__
from ..errors import BudgetExceededError
from ..formatting import amount
from . import transitions as tx
from .base import JobRow, JobState, Limits, StateStore, Usage
from .transitions import Event, Raw

MICRO = 1_000_000
PAGE = 1_000  # rows per jobs() page

# JobRow's fields are the jobs table's columns (plus run_id, internal).
JOB_COLUMNS = tuple(f.name for f in dataclasses.fields(JobRow))


class Connection(Protocol):
    """What the SQL below needs of a DB-API connection: execute() → a cursor."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def micro(value: float | None) -> int:
    return round((value or 0.0) * MICRO)


def job_row(values: Iterable[Any]) -> JobRow:
    """A JobRow from the JOB_COLUMNS of a row."""
    data = dict(zip(JOB_COLUMNS, values, strict=True))
    data["coords"] = json.loads(data["coords"])
    data["request"] = json.loads(data["request"])
    data["state"] = JobState(data["state"])
    return JobRow(**data)


class SQLStore(StateStore):
    """Transitions, budgets, runs and events over any SQL backend with `?` placeholders."""

    order_column = "rowid"  # insertion order, for paging
    lock_clause = ""  # appended to a SELECT that locks the job's row ("FOR UPDATE")

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Connection]:
        """One write transaction that holds whatever lock makes a read-then-write atomic."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]:
        """A connection for one read, with no transaction left open afterwards."""

    # --- the one transition ---------------------------------------------------------------
    def _transition(
        self,
        conn: Connection,
        event: Event,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        changes: Mapping[str, Any] | Callable[[JobRow], Mapping[str, Any]],
        detail: Mapping[str, Any],
    ) -> JobRow:
        """Apply `event` to the job per the transition table; returns the new row."""
        current = self._locked(conn, manifest, key)
        transition = tx.check(event, manifest, key, current.state if current else None)
        assert current is not None
        values = dict(changes(current) if callable(changes) else changes)
        if transition.target is not None:
            values["state"] = transition.target.value
        values |= {"updated_at": now(), "run_id": run_id}
        assign = ", ".join(f"{c} = {v if isinstance(v, Raw) else '?'}" for c, v in values.items())
        params = [v for v in values.values() if not isinstance(v, Raw)]
        sources = [s.value for s in JobState if transition.allows(s)]
        marks = ", ".join("?" for _ in sources)
        row = conn.execute(
            f"UPDATE jobs SET {assign} WHERE manifest = ? AND key = ? AND state IN ({marks}) "
            f"RETURNING {', '.join(JOB_COLUMNS)}",
            (*params, manifest, key, *sources),
        ).fetchone()
        if row is None:  # the row lock makes this impossible; the guard stays anyway
            tx.check(event, manifest, key, None)
        new = job_row(row)
        logged = dict(detail)
        if current.state is not new.state:
            logged["from"] = current.state.value
        self._event(
            conn, run_id=run_id, kind=event.value, manifest=manifest, key=key, detail=logged
        )
        return new

    def _locked(self, conn: Connection, manifest: str, key: str) -> JobRow | None:
        row = conn.execute(
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE manifest = ? AND key = ?"
            + self.lock_clause,
            (manifest, key),
        ).fetchone()
        return None if row is None else job_row(row)

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

    # --- transitions ----------------------------------------------------------------------
    def reserve(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        credits: float,
        usd: float | None,
        limits: Limits,
    ) -> JobRow:
        blocked: dict[str, Any] | None = None
        with self._tx() as conn:
            current = self._locked(conn, manifest, key)
            tx.check(Event.RESERVED, manifest, key, current.state if current else None)
            assert current is not None
            blocked = self._over_budget(conn, manifest, current.provider, credits, usd, limits)
            if blocked is None:
                return self._transition(
                    conn,
                    Event.RESERVED,
                    manifest,
                    key,
                    run_id=run_id,
                    changes=tx.reserved(credits, usd, now()),
                    detail={"provider": current.provider, "credits": credits, "usd": usd},
                )
            detail = blocked | {"provider": current.provider, "credits": credits, "usd": usd}
            self._event(
                conn,
                run_id=run_id,
                kind="budget_blocked",
                manifest=manifest,
                key=key,
                detail=detail,
            )
        unit = "USD" if blocked["limit"] == "usd" else f"{current.provider} credits"
        cost = credits if blocked["limit"] == "credits" else usd
        raise BudgetExceededError(
            f"the next job ({amount(cost)} {unit}) would pass the budget: "
            f"{amount(blocked['committed'])} of {amount(blocked['max'])} {unit} spent or reserved"
        )

    def _over_budget(
        self,
        conn: Connection,
        manifest: str,
        provider: str,
        credits: float,
        usd: float | None,
        limits: Limits,
    ) -> dict[str, Any] | None:
        """Why this reservation does not fit (limit, max, committed), or None if it does."""
        if limits.max_credits is not None:
            committed = conn.execute(
                "SELECT COALESCE(SUM(spent_credits_micro + reserved_credits_micro), 0) "
                "FROM _grokbatch_usage WHERE manifest = ? AND provider = ?",
                (manifest, provider),
            ).fetchone()[0]
            if committed + micro(credits) > micro(limits.max_credits):
                return {
                    "limit": "credits",
                    "max": limits.max_credits,
                    "committed": committed / MICRO,
                }
        if limits.max_usd is not None and usd is not None:
            committed = conn.execute(
                "SELECT COALESCE(SUM(spent_usd_micro + reserved_usd_micro), 0) "
                "FROM _grokbatch_usage WHERE manifest = ?",
                (manifest,),
            ).fetchone()[0]
            if committed + micro(usd) > micro(limits.max_usd):
                return {"limit": "usd", "max": limits.max_usd, "committed": committed / MICRO}
        return None

    def mark_submitted(
        self, manifest: str, key: str, *, run_id: int, remote_id: str, charged: float | None
    ) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.SUBMITTED,
                manifest,
                key,
                run_id=run_id,
                changes=lambda row: tx.submitted(row, remote_id, charged),
                detail={"remote_id": remote_id, "charged": charged},
            )

    def release(
        self, manifest: str, key: str, *, run_id: int, error: str, error_kind: str, failed: bool
    ) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.REFUSED if failed else Event.RELEASED,
                manifest,
                key,
                run_id=run_id,
                changes=tx.released(error, error_kind, now() if failed else None),
                detail={"error": error, "error_kind": error_kind},
            )

    def mark_ambiguous(
        self, manifest: str, key: str, *, run_id: int, error: str, error_kind: str
    ) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.AMBIGUOUS,
                manifest,
                key,
                run_id=run_id,
                changes={"error": error, "error_kind": error_kind},
                detail={"error": error, "error_kind": error_kind},
            )

    def record_status(self, manifest: str, key: str, *, run_id: int, remote_status: str) -> JobRow:
        with self._tx() as conn:
            current = self._locked(conn, manifest, key)
            tx.check(Event.STATUS, manifest, key, current.state if current else None)
            assert current is not None
            if current.remote_status == remote_status:
                return current
            return self._transition(
                conn,
                Event.STATUS,
                manifest,
                key,
                run_id=run_id,
                changes={"remote_status": remote_status},
                detail={"remote_status": remote_status, "previous": current.remote_status},
            )

    def mark_ready(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        charged_credits: float | None,
        charged_usd: float | None,
    ) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.READY,
                manifest,
                key,
                run_id=run_id,
                changes=lambda row: tx.settle(row, charged_credits, charged_usd, refunded=False),
                detail={"charged_credits": charged_credits, "charged_usd": charged_usd},
            )

    def mark_done(
        self, manifest: str, key: str, *, run_id: int, output_path: str, size: int, sha256: str
    ) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.DONE,
                manifest,
                key,
                run_id=run_id,
                changes={
                    "output_path": output_path,
                    "size": size,
                    "sha256": sha256,
                    "error": None,
                    "error_kind": None,
                    "finished_at": now(),
                },
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
    ) -> JobRow:
        def changes(row: JobRow) -> dict[str, Any]:
            books = tx.settle(row, charged_credits, charged_usd, refunded=refunded)
            return books | {"error": error, "error_kind": error_kind, "finished_at": now()}

        with self._tx() as conn:
            return self._transition(
                conn,
                Event.FAILED,
                manifest,
                key,
                run_id=run_id,
                changes=changes,
                detail={
                    "error": error,
                    "error_kind": error_kind,
                    "refunded": refunded,
                    "charged_credits": charged_credits,
                    "charged_usd": charged_usd,
                },
            )

    def reopen(self, manifest: str, key: str, *, run_id: int, reason: str) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.REOPENED,
                manifest,
                key,
                run_id=run_id,
                changes={"size": None, "sha256": None, "finished_at": None},
                detail={"reason": reason},
            )

    def reset(self, manifest: str, key: str, *, run_id: int, reason: str) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.RESET,
                manifest,
                key,
                run_id=run_id,
                changes=tx.reset,
                detail={"reason": reason},
            )

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
