"""The budget check a claim makes: does this job's cost fit under the limit, for certain?

Invariant: the answer holds until the claim's transaction commits, whatever other runners
do meanwhile. The credits check is a guarded UPDATE of the provider's totals row
(`... WHERE spent + reserved + cost <= limit RETURNING`): it decides and takes that row's
lock in one statement, so under PostgreSQL's row locks, as under SQLite's one writer, no
two runners fit a job into the same free credits. A USD limit spans every provider: its
totals rows are read locked (`lock_clause`), all of them first and in provider order, so
two claims never wait on each other.

The totals live in `_grokbatch_usage` in integer millionths, kept by triggers
(migrations.py, pgschema.py); a job's row exists from the moment the job does.
"""

from __future__ import annotations

from typing import Any

from .base import Limits
from .sqlbase import MICRO, Connection, micro


def over_budget(
    conn: Connection,
    *,
    manifest: str,
    provider: str,
    credits: float,
    usd: float | None,
    limits: Limits,
    lock_clause: str,
) -> dict[str, Any] | None:
    """Why this reservation does not fit (limit, max, committed), or None if it does."""
    if limits.max_usd is not None and usd is not None:
        committed = int(
            conn.execute(
                "SELECT COALESCE(SUM(c), 0) FROM (SELECT spent_usd_micro + reserved_usd_micro "
                f"AS c FROM _grokbatch_usage WHERE manifest = ? ORDER BY provider{lock_clause}) "
                "AS totals",
                (manifest,),
            ).fetchone()[0]
        )
        if committed + micro(usd) > micro(limits.max_usd):
            return {"limit": "usd", "max": limits.max_usd, "committed": committed / MICRO}
    if limits.max_credits is not None:
        cost, limit = micro(credits), micro(limits.max_credits)
        fits = conn.execute(
            "UPDATE _grokbatch_usage SET reserved_credits_micro = reserved_credits_micro "
            "WHERE manifest = ? AND provider = ? "
            "AND spent_credits_micro + reserved_credits_micro + ? <= ? RETURNING 1",
            (manifest, provider, cost, limit),
        ).fetchone()
        if fits is None:
            row = conn.execute(
                "SELECT spent_credits_micro + reserved_credits_micro FROM _grokbatch_usage "
                "WHERE manifest = ? AND provider = ?",
                (manifest, provider),
            ).fetchone()
            # No totals row yet (nothing recorded at this provider): only the cost counts.
            if row is not None or cost > limit:
                committed = int(row[0]) if row is not None else 0
                return {
                    "limit": "credits",
                    "max": limits.max_credits,
                    "committed": committed / MICRO,
                }
    return None
