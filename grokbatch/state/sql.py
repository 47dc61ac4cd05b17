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

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BudgetExceededError, StateConflictError
from ..formatting import amount
from . import transitions as tx
from .base import JobRow, JobState, Limits
from .guard import over_budget
from .leases import SQLLeases
from .sqlbase import JOB_COLUMNS, Connection, job_row, now
from .sqldoubt import SQLDoubts
from .sqlindex import SQLIndex
from .transitions import TRANSITIONS, Claim, Event, Raw


class SQLStore(SQLDoubts, SQLLeases, SQLIndex):
    """Transitions and budgets over any SQL backend with `?` placeholders."""

    lock_clause = ""  # appended to a SELECT that locks the job's row ("FOR UPDATE")
    # Where a runner looks for work: a row another runner is claiming right now is passed
    # over at once ("FOR UPDATE SKIP LOCKED") instead of waited for.
    claim_lock_clause = ""
    same = "IS"  # null-safe equality ("IS NOT DISTINCT FROM" in standard SQL)

    # --- the one transition ---------------------------------------------------------------
    def _transition(
        self,
        conn: Connection,
        event: Event,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        runner: str | None,
        changes: Mapping[str, Any] | Callable[[JobRow], Mapping[str, Any]],
        detail: Mapping[str, Any],
    ) -> JobRow:
        """Apply `event` to the job per the transition table; returns the new row."""
        current = self._checked(conn, event, manifest, key, runner=runner)
        transition = TRANSITIONS[event]
        values = dict(changes(current) if callable(changes) else changes)
        if transition.target is not None:
            values["state"] = transition.target.value
        owner = transition.holder_after(current.state, runner)
        values |= {"owner": owner, "updated_at": now(), "run_id": run_id}
        assign = ", ".join(f"{c} = {v if isinstance(v, Raw) else '?'}" for c, v in values.items())
        params = [v for v in values.values() if not isinstance(v, Raw)]
        sources = [s.value for s in JobState if transition.allows(s)]
        marks = ", ".join("?" for _ in sources)
        row = conn.execute(
            f"UPDATE jobs SET {assign} WHERE manifest = ? AND key = ? AND state IN ({marks}) "
            f"AND owner {self.same} ? RETURNING {', '.join(JOB_COLUMNS)}",
            (*params, manifest, key, *sources, current.owner),
        ).fetchone()
        if row is None:  # the row lock makes this impossible; the guard stays anyway
            tx.check(event, manifest, key, None)
        new = job_row(row)
        logged = dict(detail)
        if current.state is not new.state:
            logged["from"] = current.state.value
        if current.owner != owner:
            logged["owner"] = owner
            if current.owner is not None and owner is not None:
                logged["previous_owner"] = current.owner
        self._event(
            conn, run_id=run_id, kind=event.value, manifest=manifest, key=key, detail=logged
        )
        return new

    def _checked(
        self, conn: Connection, event: Event, manifest: str, key: str, *, runner: str | None
    ) -> JobRow:
        """The job's row, locked, if `event` may apply to it now; else StateConflictError."""
        claim = TRANSITIONS[event].claim
        # Claims and takeovers look for work: a row being changed by another runner is
        # theirs, so it is passed over rather than waited for.
        looking = claim is Claim.LAPSED or event is Event.RESERVED
        current = self._locked(conn, manifest, key, skip_locked=looking)
        if current is None and looking and self._locked(conn, manifest, key, lock=False):
            raise StateConflictError(
                f"job {key} of {manifest} is being changed by another runner ({event.value})"
            )
        owner = current.owner if current else None
        lapsed = (
            claim is Claim.LAPSED
            and owner is not None
            and owner != runner
            and self._lapsed(conn, owner)
        )
        tx.check(
            event,
            manifest,
            key,
            current.state if current else None,
            owner=owner,
            runner=runner,
            lapsed=lapsed,
        )
        assert current is not None
        return current

    def _locked(
        self,
        conn: Connection,
        manifest: str,
        key: str,
        *,
        skip_locked: bool = False,
        lock: bool = True,
    ) -> JobRow | None:
        clause = (self.claim_lock_clause if skip_locked else self.lock_clause) if lock else ""
        row = conn.execute(
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE manifest = ? AND key = ?" + clause,
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

    def take_over(self, manifest: str, key: str, *, run_id: int, runner: str) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.TAKEN_OVER,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
                changes={},
                detail={},
            )

    def leave(self, manifest: str, key: str, *, run_id: int, runner: str, reason: str) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.LEFT,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
                changes={},
                detail={"reason": reason},
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
        with self._tx() as conn:
            return self._transition(
                conn,
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
        with self._tx() as conn:
            return self._transition(
                conn,
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
        with self._tx() as conn:
            return self._transition(
                conn,
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
        with self._tx() as conn:
            return self._transition(
                conn,
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
        with self._tx() as conn:
            return self._transition(
                conn,
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

        with self._tx() as conn:
            return self._transition(
                conn,
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
        with self._tx() as conn:
            return self._transition(
                conn,
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
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.RESET,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
                changes=tx.reset,
                detail={"reason": reason},
            )

    def attach(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        remote_id: str,
        detail: Mapping[str, Any],
        runner: str | None = None,
    ) -> JobRow:
        with self._tx() as conn:
            current = self._locked(conn, manifest, key)
            tx.check(Event.ATTACHED, manifest, key, current.state if current else None)
            assert current is not None
            # Checked in the transaction that records it: one remote job, one local job.
            other = conn.execute(
                "SELECT manifest, key FROM jobs WHERE provider = ? AND remote_id = ? LIMIT 1",
                (current.provider, remote_id),
            ).fetchone()
            if other is not None:
                raise StateConflictError(
                    f"{current.provider} job {remote_id} is already recorded for job "
                    f"{other[1][:12]} of {other[0]}"
                )
            return self._transition(
                conn,
                Event.ATTACHED,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
                changes=tx.attached(remote_id),
                detail={"remote_id": remote_id, **detail},
            )

    def not_created(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        detail: Mapping[str, Any],
        runner: str | None = None,
    ) -> JobRow:
        with self._tx() as conn:
            return self._transition(
                conn,
                Event.NOT_CREATED,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
                changes=tx.not_created,
                detail=detail,
            )
