"""Runners and their leases: who holds the jobs in flight, and whether it still lives.

Invariants:

* A runner is one row in `runners`; its lease is renewed as one UPDATE of that row (never
  of its jobs), however many jobs it holds.
* Leases are measured by the database's clock (`clock`), never by a runner's own, so
  runners on machines whose clocks disagree still agree on whose lease has lapsed.
* A lapsed lease is final for the jobs taken over meanwhile: the job rows, not the runner
  row, say who holds what, and every transition checks them (transitions.py).
* A runner on this very host whose process is gone is dead whatever its lease says, so a
  rerun after a crash (or a SIGKILL) resumes at once instead of waiting out the lease.
  Only that direction is trusted: a process that exists may be another one with the same
  pid, so it is waited out.
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path
from typing import Any

from .base import JobRow, RunnerInfo
from .sqlbase import Connection, now
from .sqlcore import SQLCore
from .transitions import Event

_REGISTERED = itertools.count(1)  # runners this process registered, to keep ids unique
_RUNNER_COLUMNS = (
    "id, run_id, manifest, hostname, pid, started_at, heartbeat_at, lease_seconds, stopped_at"
)


class SQLLeases(SQLCore):
    """The runners table over any SQL backend."""

    # The database's clock in seconds since the epoch, as SQL; each backend sets its own.
    clock = "((julianday('now') - 2440587.5) * 86400.0)"

    def _live(self) -> str:
        """SQL true for a runners row whose lease holds now."""
        return f"(stopped_at IS NULL AND lease_expires > {self.clock})"

    def register_runner(self, *, run_id: int, manifest: str, lease: float) -> str:
        hostname, pid = socket.gethostname(), os.getpid()
        runner = f"run{run_id}@{hostname}:{pid}"
        if (n := next(_REGISTERED)) > 1:  # a second runner in one process (a library user)
            runner += f"#{n}"
        with self._tx() as conn:
            at = now()
            conn.execute(
                "INSERT INTO runners (id, run_id, manifest, hostname, pid, started_at, "
                "heartbeat_at, lease_seconds, lease_expires) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, {self.clock} + ?)",
                (runner, run_id, manifest, hostname, pid, at, at, lease, lease),
            )
            self._event(
                conn,
                run_id=run_id,
                kind="runner_started",
                manifest=manifest,
                key=None,
                detail={"runner": runner, "lease_seconds": lease},
            )
        return runner

    def renew_lease(self, runner: str) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {self._live()} FROM runners WHERE id = ?", (runner,)
            ).fetchone()
            conn.execute(
                f"UPDATE runners SET heartbeat_at = ?, lease_expires = {self.clock} + "
                "lease_seconds WHERE id = ? AND stopped_at IS NULL",
                (now(), runner),
            )
        return row is not None and bool(row[0])

    def retire_runner(self, runner: str) -> None:
        with self._tx() as conn:
            row = conn.execute(
                f"UPDATE runners SET stopped_at = ?, lease_expires = {self.clock} "
                "WHERE id = ? AND stopped_at IS NULL RETURNING run_id, manifest",
                (now(), runner),
            ).fetchone()
            if row is not None:
                self._event(
                    conn,
                    run_id=row[0],
                    kind="runner_stopped",
                    manifest=row[1],
                    key=None,
                    detail={"runner": runner},
                )

    def runners(self, *, live: bool = False) -> list[RunnerInfo]:
        where = f"WHERE {self._live()}" if live else ""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RUNNER_COLUMNS}, {self._live()} FROM runners {where} "
                "ORDER BY started_at, id"
            ).fetchall()
        found = [_runner(row) for row in rows]
        return [r for r in found if r.live] if live else found

    def _lapsed(self, conn: Connection, runner: str) -> bool:
        """Whether the runner's lease has lapsed (or it stopped, died here, or is unknown)."""
        row = conn.execute(
            f"SELECT hostname, pid FROM runners WHERE id = ? AND {self._live()}", (runner,)
        ).fetchone()
        return row is None or _dead_here(row[0], row[1])

    # --- holding jobs ---------------------------------------------------------------
    def take_over(self, manifest: str, key: str, *, run_id: int, runner: str) -> JobRow:
        return self._apply(
            Event.TAKEN_OVER,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes={},
            detail={},
        )

    def leave(self, manifest: str, key: str, *, run_id: int, runner: str, reason: str) -> JobRow:
        return self._apply(
            Event.LEFT,
            manifest,
            key,
            run_id=run_id,
            runner=runner,
            changes={},
            detail={"reason": reason},
        )


def _runner(row: Any) -> RunnerInfo:
    *values, live = row
    data = dict(zip(_RUNNER_COLUMNS.split(", "), values, strict=True))
    alive = bool(live) and not _dead_here(data["hostname"], data["pid"])
    return RunnerInfo(**data, live=alive)


def _dead_here(hostname: str, pid: int) -> bool:
    """Whether the runner ran on this host and its process no longer exists (or is a
    zombie: killed, not yet reaped)."""
    if hostname != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it exists
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
