"""The PostgreSQL forms of the numbered migrations, and applying them.

Invariants:

* Every migration in `migrations.MIGRATIONS` has a form here, under the same name, applied
  in the same order: a migration with no PostgreSQL form stops `migrate` before anything
  is changed, naming it.
* The columns are SQLite's, under the same names and with the same meanings (text times
  and JSON, floats, integer millionths in `_grokbatch_usage`), so both backends read into
  the same JobRow; `jobs.seq` stands in for SQLite's rowid (insertion order, for paging).
* `migrate` runs in one transaction holding an advisory lock, so runners opening a new
  database together apply each migration once, and a crash leaves no half schema.
* The budget totals are kept by a plpgsql trigger, in the transaction of the change to
  `jobs`, exactly as SQLite's triggers keep them (rounding half away from zero, as
  SQLite's ROUND does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import StateUnavailableError
from .migrations import MIGRATIONS, MIGRATIONS_TABLE, SHARED

# pg_advisory_xact_lock key for migrations: "grokbatch" in ASCII, as a bigint.
_MIGRATION_LOCK = 0x67726F6B6261

_BUDGET = ("spent_credits", "reserved_credits", "spent_usd", "reserved_usd")


def _usage_function() -> str:
    cols = ", ".join(f"{c}_micro" for c in _BUDGET)
    values = ", ".join(
        f"sign * ROUND(COALESCE({c}, 0)::numeric * 1000000)::bigint" for c in _BUDGET
    )
    sets = ", ".join(f"{c}_micro = u.{c}_micro + EXCLUDED.{c}_micro" for c in _BUDGET)
    args = ", ".join(f"{c} DOUBLE PRECISION" for c in _BUDGET)
    return (
        f"CREATE FUNCTION _grokbatch_usage_add(m TEXT, p TEXT, sign INTEGER, {args}) "
        "RETURNS void LANGUAGE sql AS $$ "
        f"INSERT INTO _grokbatch_usage AS u (manifest, provider, {cols}) "
        f"VALUES (m, p, {values}) "
        f"ON CONFLICT (manifest, provider) DO UPDATE SET {sets} $$"
    )


def _usage_trigger() -> str:
    def call(ref: str, sign: int) -> str:
        args = ", ".join(f"{ref}.{c}" for c in _BUDGET)
        return f"PERFORM _grokbatch_usage_add({ref}.manifest, {ref}.provider, {sign}, {args});"

    return (
        "CREATE FUNCTION _grokbatch_jobs_usage() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        f"IF TG_OP <> 'INSERT' THEN {call('OLD', -1)} END IF; "
        f"IF TG_OP <> 'DELETE' THEN {call('NEW', 1)} END IF; "
        "RETURN NULL; "
        "END $$"
    )


M001_INITIAL: tuple[str, ...] = (
    "CREATE TABLE runs ("
    " id BIGSERIAL PRIMARY KEY,"
    " manifest TEXT NOT NULL,"
    " manifest_path TEXT,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT,"
    " status TEXT NOT NULL,"
    " options TEXT,"
    " summary TEXT,"
    " grokbatch_version TEXT,"
    " pid BIGINT,"
    " hostname TEXT)",
    "CREATE TABLE jobs ("
    " seq BIGSERIAL NOT NULL UNIQUE,"
    " manifest TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " provider TEXT NOT NULL,"
    " model TEXT,"
    " prompt_id TEXT NOT NULL,"
    " coords TEXT NOT NULL,"
    " request TEXT NOT NULL,"
    " output_path TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " remote_id TEXT,"
    " remote_status TEXT,"
    " attempts BIGINT NOT NULL DEFAULT 0,"
    " estimated_credits DOUBLE PRECISION NOT NULL,"
    " estimated_usd DOUBLE PRECISION,"
    " price_basis TEXT NOT NULL,"
    " reserved_credits DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " spent_credits DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " charged_credits DOUBLE PRECISION,"
    " charged_usd DOUBLE PRECISION,"
    " size BIGINT,"
    " sha256 TEXT,"
    " error TEXT,"
    " error_kind TEXT,"
    " run_id BIGINT REFERENCES runs (id),"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " submitted_at TEXT,"
    " finished_at TEXT,"
    " PRIMARY KEY (manifest, key))",
    "CREATE INDEX idx_jobs_manifest_state ON jobs (manifest, state)",
    "CREATE INDEX idx_jobs_remote_id ON jobs (remote_id)",
    "CREATE INDEX idx_jobs_manifest_provider ON jobs (manifest, provider)",
    "CREATE INDEX idx_jobs_manifest_seq ON jobs (manifest, seq)",
    "CREATE TABLE events ("
    " id BIGSERIAL PRIMARY KEY,"
    " run_id BIGINT REFERENCES runs (id),"
    " manifest TEXT,"
    " job_key TEXT,"
    " at TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " detail TEXT)",
    "CREATE INDEX idx_events_manifest_job_key ON events (manifest, job_key)",
    "CREATE INDEX idx_events_run_id ON events (run_id)",
    "CREATE INDEX idx_events_kind ON events (kind)",
    "CREATE TABLE _grokbatch_usage ("
    " manifest TEXT NOT NULL,"
    " provider TEXT NOT NULL,"
    + ",".join(f" {c}_micro BIGINT NOT NULL DEFAULT 0" for c in _BUDGET)
    + ", PRIMARY KEY (manifest, provider))",
    _usage_function(),
    _usage_trigger(),
    "CREATE TRIGGER jobs_usage AFTER INSERT OR DELETE OR UPDATE OF manifest, provider, "
    + ", ".join(_BUDGET)
    + " ON jobs FOR EACH ROW EXECUTE FUNCTION _grokbatch_jobs_usage()",
)

# Name → statements: the forms that differ from SQLite's, then those both share.
POSTGRES: Mapping[str, Sequence[str]] = {"m001_initial": M001_INITIAL} | SHARED


def migrate(conn: Any) -> list[str]:
    """Apply, in one transaction, the migrations this database has not seen; their names.

    `conn` is a psycopg connection in autocommit mode; the statements are passed as they
    are (no placeholders to translate).
    """
    names = [fn.__name__ for fn in MIGRATIONS]
    missing = [n for n in names if n not in POSTGRES]
    if missing:
        raise StateUnavailableError(
            f"this grokbatch cannot set up a PostgreSQL state database: migration "
            f"{', '.join(missing)} has no PostgreSQL form (a bug: please report it)"
        )
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        for name in names:
            if name in applied:
                continue
            for statement in POSTGRES[name]:
                conn.execute(statement)
            at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (%s, %s)", (name, at)
            )
            done.append(name)
    return done
