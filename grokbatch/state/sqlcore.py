"""The one transition, for every SQL backend: lock the row, check the table, write, log.

`_transition` locks the job's row, checks its state and holder against the table in
`transitions.py` (else StateConflictError), writes the changes with the new state and
holder under an `AND state IN (...) AND owner IS ...` guard, returns the new row, and
appends the event, in the caller's transaction. The stores' transitions (sql.py), the
runners' takeovers (leases.py) and the settling of lost submits (sqldoubt.py) all go
through it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import StateConflictError
from . import transitions as tx
from .base import JobRow, JobState
from .sqlbase import JOB_COLUMNS, Connection, SQLReads, job_row, now
from .transitions import TRANSITIONS, Claim, Event, Raw


class SQLCore(SQLReads):
    """The transition every SQL store's changes go through."""

    @abstractmethod
    def _lapsed(self, conn: Connection, runner: str) -> bool:
        """Whether the runner's lease has lapsed (leases.py): its jobs may be taken over."""

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

    def _apply(
        self,
        event: Event,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        runner: str | None,
        changes: Mapping[str, Any] | Callable[[JobRow], Mapping[str, Any]],
        detail: Mapping[str, Any],
    ) -> JobRow:
        """One transition in a transaction of its own."""
        with self._tx() as conn:
            return self._transition(
                conn,
                event,
                manifest,
                key,
                run_id=run_id,
                runner=runner,
                changes=changes,
                detail=detail,
            )

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
