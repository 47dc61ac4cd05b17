"""The state backends tests run against: SQLite always, PostgreSQL when a server is given.

PostgreSQL tests need `GROKBATCH_TEST_POSTGRES`, a URL of a database the tests may create
schemas in (`eval "$(bash .ci/postgres start /tmp/pg)"` starts a throwaway server and sets
it). Each test gets a schema of its own, dropped afterwards; without the variable the
PostgreSQL tests are skipped, saying how to run them.
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

PG_ENV = "GROKBATCH_TEST_POSTGRES"
SKIP_REASON = (
    f"PostgreSQL tests need a server: set {PG_ENV}=postgresql://... "
    '(eval "$(bash .ci/postgres start /tmp/grokbatch-pg)" starts one on loopback)'
)


def postgres_url() -> str:
    """The test server's URL, or skip the test."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(SKIP_REASON)
    return url


def in_schema(url: str, schema: str) -> str:
    """The URL with its search_path set to `schema` (libpq's `options` parameter)."""
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema on the server; yields a URL that uses it. Dropped afterwards."""
    import psycopg

    schema = f"gbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield in_schema(url, schema)
        finally:
            # A connection a failed test left open must not hang the suite: give up on the
            # drop instead (the schema stays, harmless, on a throwaway server).
            admin.execute("SET lock_timeout = '10s'")
            with suppress(psycopg.errors.LockNotAvailable):
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A PostgreSQL URL with a schema of its own (skips without a server)."""
    with fresh_schema(postgres_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each backend in turn: an SQLite file's path, or a PostgreSQL URL (skipped without
    a server)."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
        return
    with fresh_schema(postgres_url()) as url:
        yield url
