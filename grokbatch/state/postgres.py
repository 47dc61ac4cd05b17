"""The PostgreSQL StateStore: one database shared by runners on any number of machines.

Needs the `postgres` extra (`pip install 'grokbatch[postgres]'`: psycopg 3). Invariants
(on top of those in base.py and sql.py):

* The runner does not know which backend it has: this store is `SQLStore` with a
  PostgreSQL dialect. The shared SQL is written with `?` placeholders, translated here.
* Every write is one transaction at READ COMMITTED in which the job's row is locked
  (`SELECT ... FOR UPDATE`) before its state is checked, so compare-and-set holds across
  machines. Where a runner looks for work (a claim, a takeover) the lock is taken with
  SKIP LOCKED: a job another runner is claiming at that moment is passed over, not waited
  for. The budget check is a guarded UPDATE of the totals row, which stays locked until
  the claim commits: the cap holds over every runner together.
* Leases are measured by the server's clock, so runners' clocks need not agree.
* The URL's password is used to connect and nowhere else: messages show the URL masked,
  and a driver's error text is scrubbed of it (location.py).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import InputError, StateUnavailableError
from .location import DatabaseURL
from .pgschema import migrate
from .sql import SQLStore

try:
    import psycopg
except ImportError:  # pragma: no cover - the extra is not installed
    psycopg = None  # type: ignore[assignment]

CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_S = 30  # a row lock held longer than this is a stuck runner, not a busy one


class PostgresStore(SQLStore):
    """A StateStore in a PostgreSQL database (any schema the URL's search_path names)."""

    order_column = "seq"
    lock_clause = " FOR UPDATE"
    claim_lock_clause = " FOR UPDATE SKIP LOCKED"
    same = "IS NOT DISTINCT FROM"
    clock = "EXTRACT(EPOCH FROM clock_timestamp())::double precision"

    def __init__(self, url: DatabaseURL | str, *, create: bool = True) -> None:
        self.url = url if isinstance(url, DatabaseURL) else DatabaseURL(url)
        self.path = str(self.url)  # for messages: the password masked
        self.created = True
        if psycopg is None:
            raise InputError(
                f"--db {self.url}: a PostgreSQL state database needs psycopg; install it with "
                "pip install 'grokbatch[postgres]'"
            )
        try:
            conn = psycopg.connect(
                self.url.secret,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="grokbatch",
            )
        except psycopg.Error as e:
            # `from None`: the driver's exception may quote the URL, password and all.
            raise StateUnavailableError(
                f"cannot connect to the state database {self.url}: {self._scrub(e)}"
            ) from None
        self._conn = conn
        self._sql = _Translated(conn)
        self._lock = threading.RLock()  # one connection, one transaction at a time
        try:
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_S}s'")
            if not create and not self._exists():
                self.created = False
                return
            migrate(conn)
        except psycopg.Error as e:
            conn.close()
            raise StateUnavailableError(
                f"cannot set up the state database {self.url}: {self._scrub(e)}"
            ) from None
        except BaseException:
            conn.close()
            raise

    def _exists(self) -> bool:
        row = self._conn.execute("SELECT to_regclass('_grokbatch_migrations')").fetchone()
        return row is not None and row[0] is not None

    def _scrub(self, error: BaseException) -> str:
        return self.url.scrub(str(error).strip() or type(error).__name__)

    # --- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[_Translated]:
        with self._lock:
            try:
                with self._conn.transaction():
                    yield self._sql
            except psycopg.OperationalError as e:
                # Lost connection, deadlock, lock timeout: nothing of this transaction stays.
                raise StateUnavailableError(
                    f"the state database {self.url}: {self._scrub(e)}"
                ) from None

    @contextmanager
    def _read(self) -> Iterator[_Translated]:
        with self._lock:
            try:
                yield self._sql
            except psycopg.OperationalError as e:
                raise StateUnavailableError(
                    f"the state database {self.url}: {self._scrub(e)}"
                ) from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Translated:
    """A psycopg connection that takes the `?` placeholders the shared SQL is written in."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self._conn.execute(_pg(sql), parameters)

    def executemany(self, sql: str, parameters: Sequence[Sequence[Any]], /) -> Any:
        cursor = self._conn.cursor()
        cursor.executemany(_pg(sql), parameters)
        return cursor


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """`?` → `%s` (the shared SQL has no `?` inside its literals), a literal `%` → `%%`."""
    return sql.replace("%", "%%").replace("?", "%s")
