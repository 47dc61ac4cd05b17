"""The StateStore over SQL: every transition written once, for every SQL backend.

A backend supplies a connection and its dialect (`_tx`, `_read`, how a row is locked and
paged, its clock); this class supplies the rest. Each transition is one `_transition`: lock
the job's row, check its state and holder against the table in `transitions.py`, write the
changes with the new state and holder under an `AND state IN (...) AND owner IS ...`
guard, return the new row, and append the event, in one transaction. A budget check and
the claim it allows are made in the same transaction.

Budget totals come from `_grokbatch_usage`, kept by triggers (see migrations.py) in integer
millionths, so a reservation is checked in constant time and exactly, and under a lock
that holds until the claim commits (guard.py).
"""

from __future__ import annotations

from typing import Any

from ..errors import BudgetExceededError
from ..formatting import amount
from . import transitions as tx
from .base import JobRow, Limits
from .guard import over_budget
from .leases import SQLLeases
from .sqlbase import now
from .sqldoubt import SQLDoubts
from .sqlindex import SQLIndex
from .transitions import Event


class SQLStore(SQLDoubts, SQLLeases, SQLIndex):
    """Transitions and budgets over any SQL backend with `?` placeholders."""

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
        runner: str | None = None,
    ) -> JobRow:
        blocked: dict[str, Any] | None = None
        with self._tx() as conn:
            current = self._checked(conn, Event.RESERVED, manifest, key, runner=runner)
            blocked = over_budget(
                conn,
                manifest=manifest,
                provider=current.provider,
                credits=credits,
                usd=usd,
                limits=limits,
                lock_clause=self.lock_clause,
            )
            if blocked is None:
                return self._transition(
                    conn,
                    Event.RESERVED,
                    manifest,
                    key,
                    run_id=run_id,
                    runner=runner,
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

    def mark_submitted(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        remote_id: str,
        charged: float | None,
        runner: str | None = None,
    ) -> JobRow:
        return self._apply(
            Event.SUBMITTED,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes=lambda row: tx.submitted(row, remote_id, charged),
            detail={"remote_id": remote_id, "charged": charged},
        )

    def release(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        error: str,
        error_kind: str,
        failed: bool,
        runner: str | None = None,
    ) -> JobRow:
        return self._apply(
            Event.REFUSED if failed else Event.RELEASED,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes=tx.released(error, error_kind, now() if failed else None),
            detail={"error": error, "error_kind": error_kind},
        )

    def mark_ambiguous(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        error: str,
        error_kind: str,
        runner: str | None = None,
    ) -> JobRow:
        return self._apply(
            Event.AMBIGUOUS,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes={"error": error, "error_kind": error_kind},
            detail={"error": error, "error_kind": error_kind},
        )

    def record_status(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        remote_status: str,
        runner: str | None = None,
    ) -> JobRow:
        with self._tx() as conn:
            current = self._checked(conn, Event.STATUS, manifest, key, runner=runner)
            if current.remote_status == remote_status:
                return current
            return self._transition(
                conn,
                Event.STATUS,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
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
        runner: str | None = None,
    ) -> JobRow:
        return self._apply(
            Event.READY,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
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
        runner: str | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
    ) -> JobRow:
        return self._apply(
            Event.DONE,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
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
        runner: str | None = None,
    ) -> JobRow:
        def changes(row: JobRow) -> dict[str, Any]:
            books = tx.settle(row, charged_credits, charged_usd, refunded=refunded)
            return books | {"error": error, "error_kind": error_kind, "finished_at": now()}

        return self._apply(
            Event.FAILED,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes=changes,
            detail={
                "error": error,
                "error_kind": error_kind,
                "refunded": refunded,
                "charged_credits": charged_credits,
                "charged_usd": charged_usd,
            },
        )

    def reopen(
        self, manifest: str, key: str, *, run_id: int, reason: str, runner: str | None = None
    ) -> JobRow:
        return self._apply(
            Event.REOPENED,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes={
                "size": None,
                "sha256": None,
                "output_mtime_ns": None,
                "output_inode": None,
                "finished_at": None,
            },
            detail={"reason": reason},
        )

    def reset(
        self, manifest: str, key: str, *, run_id: int, reason: str, runner: str | None = None
    ) -> JobRow:
        return self._apply(
            Event.RESET,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes=tx.reset,
            detail={"reason": reason},
        )
