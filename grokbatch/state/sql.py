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

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BudgetExceededError
from ..formatting import amount
from . import transitions as tx
from .base import JobRow, JobState, Limits
from .sqlbase import JOB_COLUMNS, MICRO, Connection, job_row, micro, now
from .sqlindex import SQLIndex
from .transitions import Event, Raw


class SQLStore(SQLIndex):
    """Transitions and budgets over any SQL backend with `?` placeholders."""

    lock_clause = ""  # appended to a SELECT that locks the job's row ("FOR UPDATE")

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
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        output_path: str,
        size: int,
        sha256: str,
        mtime_ns: int | None = None,
        inode: int | None = None,
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
                    "output_mtime_ns": mtime_ns,
                    "output_inode": inode,
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
                changes={
                    "size": None,
                    "sha256": None,
                    "output_mtime_ns": None,
                    "output_inode": None,
                    "finished_at": None,
                },
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
