"""The SQLite StateStore: one file, shared by any number of runner processes of one machine.

Invariants (on top of those in base.py and sql.py):

* Every write is one short `BEGIN IMMEDIATE` transaction: it takes the file's write lock
  before reading anything, so a budget check and the claim it allows cannot interleave
  with another runner's. Other runners wait up to `busy_timeout`, then
  StateUnavailableError. SQLite has no row locks: its one writer is what a claim's
  compare-and-set and the budget guard rely on.
* One machine only. WAL needs every process on the same host (they share the `-shm`
  index through memory), and SQLite's locks rely on POSIX advisory locking, which many
  NFS implementations break: runners on several machines share PostgreSQL, never an
  SQLite file on a network filesystem.
* `synchronous=FULL` in WAL mode: when a transition returns, it survives a crash or a
  power cut. `mark_submitted` relies on this to make a remote id durable.
* No read transaction is held open between calls (`jobs()` pages), so a runner iterating
  100,000 jobs for hours never pins the WAL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from ..errors import StateUnavailableError
from .migrations import migrate
from .sql import SQLStore

BUSY_TIMEOUT_S = 10.0


def _wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL. Two runners opening one new file at the same moment can find it
    locked while the other switches (SQLite answers that at once, without its busy
    handler): wait and try again, as the busy timeout would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SQLiteStore(SQLStore):
    """A StateStore in one SQLite file (or ":memory:" for tests)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = str(path)
        try:
            # isolation_level=None: the sqlite3 module must not open transactions behind
            # our back; every write says BEGIN IMMEDIATE itself.
            conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise StateUnavailableError(f"cannot open the state database {self.path}: {e}") from e
        self._conn = conn
        # One connection is not safe for interleaved transactions from several threads.
        self._lock = threading.RLock()
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self.path != ":memory:":
                _wal(conn, busy_timeout)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self.db = Database(conn)
            with self._tx():
                migrate(self.db)
        except sqlite3.OperationalError as e:
            conn.close()
            raise StateUnavailableError(f"cannot open the state database {self.path}: {e}") from e
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StateUnavailableError(
                f"{self.path} is not a grokbatch state database ({e}): point --db at a "
                "new file or at an existing state database"
            ) from e
        except BaseException:
            conn.close()
            raise

    # --- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StateUnavailableError(
                    f"the state database {self.path} is busy ({e}): another runner held it "
                    "past the timeout; try again"
                ) from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as e:
                raise StateUnavailableError(f"the state database {self.path}: {e}") from e

    def close(self) -> None:
        with self._lock:
            self._conn.close()
