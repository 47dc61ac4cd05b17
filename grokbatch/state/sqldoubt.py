"""The SQL behind reconciling lost submits: what each submit carried, and the jobs in doubt.

A submit's client request id is written before the request leaves (`record_submit`), so a
submit whose answer was lost can always be looked up by what it really carried. `doubts`
reads, across every manifest of the database, the jobs at one provider whose last submit
may or may not have made a job: a lookup must weigh them all, since a job listed at the
provider may belong to any of them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import StateConflictError
from . import transitions as tx
from .base import Doubt, JobRow, JobState
from .sqlbase import now
from .sqlcore import SQLCore
from .transitions import Event

_DOUBTS = (
    "SELECT j.manifest, j.key, j.provider, j.state, j.attempts, j.request, j.submitted_at, "
    "(SELECT MAX(e.at) FROM events e WHERE e.manifest = j.manifest AND e.job_key = j.key "
    "AND e.kind = 'ambiguous'), s.client_request_id, j.run_id "
    "FROM jobs j LEFT JOIN submits s "
    "ON s.manifest = j.manifest AND s.key = j.key AND s.attempt = j.attempts "
    "WHERE j.provider = ? AND j.state IN (?, ?) ORDER BY j.submitted_at, j.key"
)
_CHUNK = 500  # ids per IN (...) query, well under SQLite's parameter limit


class SQLDoubts(SQLCore):
    """Submits and jobs in doubt, over any SQL backend with `?` placeholders."""

    def record_submit(
        self, manifest: str, key: str, *, attempt: int, client_request_id: str | None
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO submits (manifest, key, attempt, client_request_id, sent_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (manifest, key, attempt) DO UPDATE SET "
                "client_request_id = excluded.client_request_id, sent_at = excluded.sent_at",
                (manifest, key, attempt, client_request_id, now()),
            )

    def doubts(self, provider: str) -> list[Doubt]:
        states = (JobState.SUBMITTING.value, JobState.AMBIGUOUS.value)
        with self._read() as conn:
            rows = conn.execute(_DOUBTS, (provider, *states)).fetchall()
        out = []
        for manifest, key, prov, value, attempt, request, claimed, lost, crid, run_id in rows:
            state = JobState(value)
            out.append(
                Doubt(
                    manifest=manifest,
                    key=key,
                    provider=prov,
                    state=state,
                    attempt=attempt,
                    request=json.loads(request),
                    claimed_at=claimed,
                    # The latest loss is this attempt's only while the job is ambiguous.
                    lost_at=lost if state is JobState.AMBIGUOUS else None,
                    client_request_id=crid,
                    run_id=run_id,
                )
            )
        return out

    def known_remote_ids(self, provider: str, remote_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        it = iter(set(remote_ids))
        while chunk := list(itertools.islice(it, _CHUNK)):
            marks = ", ".join("?" for _ in chunk)
            with self._read() as conn:
                rows = conn.execute(
                    f"SELECT remote_id FROM jobs WHERE provider = ? AND remote_id IN ({marks})",
                    (provider, *chunk),
                ).fetchall()
            found.update(r[0] for r in rows)
        return found

    # --- settling lost submits ---------------------------------------------------
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
        return self._apply(
            Event.NOT_CREATED,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes=tx.not_created,
            detail=detail,
        )
