"""The SQL that keeps a rerun cheap and status checks informed (migration m002_output_stat).

* `index`: one read of every stored job of a manifest as a compact `Known` tuple, so a rerun
  of 100,000 done jobs decides without 100,000 row lookups.
* `record_output_stats`: a done job's file re-hashed and found unchanged gets its new stat,
  so the next rerun trusts it at the cost of a stat again. Guarded by the state and the
  size, so a file replaced meanwhile is never vouched for.
* `completion_times`: the completion times a run learned, per provider and kind of job,
  for the next run's first status checks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence

from .base import JobState, Known
from .sqlbase import SQLReads, now

_STATE = {state.value: state for state in JobState}  # a stored state's member, by its text
_CHUNK = 1_000  # stats per transaction: short, so other runners are never kept waiting


class SQLIndex(SQLReads):
    """Reads and writes of m002_output_stat over any SQL backend with `?` placeholders."""

    def index(self, manifest: str) -> dict[str, Known]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, state, output_path, coords, size, sha256, output_mtime_ns, "
                "output_inode FROM jobs WHERE manifest = ?",
                (manifest,),
            ).fetchall()
        return {r[0]: Known(_STATE[r[1]], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}

    def states(self, manifest: str) -> dict[str, JobState]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, state FROM jobs WHERE manifest = ?", (manifest,)
            ).fetchall()
        return {key: _STATE[state] for key, state in rows}

    def record_output_stats(
        self, manifest: str, stats: Iterable[tuple[str, int, int, int]]
    ) -> None:
        it = iter(stats)
        while chunk := list(itertools.islice(it, _CHUNK)):
            with self._tx() as conn:
                for key, size, mtime_ns, inode in chunk:
                    conn.execute(
                        "UPDATE jobs SET output_mtime_ns = ?, output_inode = ? "
                        "WHERE manifest = ? AND key = ? AND state = ? AND size = ?",
                        (mtime_ns, inode, manifest, key, JobState.DONE.value, size),
                    )

    def completion_times(self) -> dict[tuple[str, str], list[float]]:
        with self._read() as conn:
            rows = conn.execute("SELECT provider, kind, samples FROM completion_times").fetchall()
        out: dict[tuple[str, str], list[float]] = {}
        for provider, kind, samples in rows:
            try:
                values = [float(v) for v in json.loads(samples)]
            except (ValueError, TypeError):
                continue  # edited by hand into something else: learn afresh
            out[(provider, kind)] = [v for v in values if v >= 0]
        return out

    def save_completion_times(self, times: Mapping[tuple[str, str], Sequence[float]]) -> None:
        if not times:
            return
        at = now()
        with self._tx() as conn:
            for (provider, kind), samples in times.items():
                conn.execute(
                    "INSERT INTO completion_times (provider, kind, samples, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (provider, kind) DO UPDATE SET "
                    "samples = excluded.samples, updated_at = excluded.updated_at",
                    (provider, kind, json.dumps([round(s, 3) for s in samples]), at),
                )
