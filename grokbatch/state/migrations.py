"""The schema, as numbered migrations applied in order (after simonw/llm).

Each migration has a SQLite form (a function of a sqlite-utils Database, registered with
`@migration`, in order) and a PostgreSQL form of the same name (pgschema.py). Where the
SQL is the same for both, it is written once here as plain statements (`SHARED`).

Invariants:

* A migration is applied once per database, recorded by name in `_grokbatch_migrations`;
  migrations are never edited once released, only added.
* The caller runs `migrate` inside one `BEGIN IMMEDIATE` transaction, so two runners
  opening a new file at the same moment cannot both apply the same migration, and a
  crash never leaves half a schema (PostgreSQL: one transaction under an advisory lock).
* `_grokbatch_usage` always equals the per-(manifest, provider) sums of the jobs' budget
  columns: triggers keep it, in the same transaction as the change to `jobs`, whoever
  writes (grokbatch, or a person editing the file in Datasette). It holds integer
  micro-credits / micro-dollars so that sums never drift (2.4 x 6 is exactly 14.4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlite_utils import Database

Migration = Callable[[Database], None]

MIGRATIONS: list[Migration] = []
MIGRATIONS_TABLE = "_grokbatch_migrations"
# Migrations whose SQL both backends run as written: name → statements.
SHARED: dict[str, tuple[str, ...]] = {}


def migration(fn: Migration) -> Migration:
    """Register a migration; they run in the order they are defined."""
    MIGRATIONS.append(fn)
    return fn


def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not seen; returns their names."""
    table = db.table(MIGRATIONS_TABLE)
    if not table.exists():
        table.create({"name": str, "applied_at": str}, pk="name")
    applied = {row["name"] for row in table.rows}
    done = []
    for fn in MIGRATIONS:
        if fn.__name__ in applied:
            continue
        fn(db)
        at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        db.execute(
            f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)", [fn.__name__, at]
        )
        done.append(fn.__name__)
    return done


# Budget columns kept in _grokbatch_usage, each as integer millionths.
_BUDGET_COLUMNS = ("spent_credits", "reserved_credits", "spent_usd", "reserved_usd")


def _micro(ref: str, column: str) -> str:
    return f"CAST(ROUND(COALESCE({ref}.{column}, 0) * 1000000) AS INTEGER)"


def _usage_upsert(ref: str, sign: str) -> str:
    """SQL adding (sign "+") or removing ("-") one job row's budget to/from the totals."""
    cols = ", ".join(f"{c}_micro" for c in _BUDGET_COLUMNS)
    values = ", ".join(f"{sign}{_micro(ref, c)}" for c in _BUDGET_COLUMNS)
    sets = ", ".join(f"{c}_micro = {c}_micro + excluded.{c}_micro" for c in _BUDGET_COLUMNS)
    return (
        f"INSERT INTO _grokbatch_usage (manifest, provider, {cols}) "
        f"VALUES ({ref}.manifest, {ref}.provider, {values}) "
        f"ON CONFLICT (manifest, provider) DO UPDATE SET {sets};"
    )


@migration
def m001_initial(db: Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "manifest": str,
            "manifest_path": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "options": str,  # JSON
            "summary": str,  # JSON
            "grokbatch_version": str,
            "pid": int,
            "hostname": str,
        },
        pk="id",
        not_null=["manifest", "started_at", "status"],
    )
    db.table("jobs").create(
        {
            "manifest": str,
            "key": str,
            "provider": str,
            "model": str,
            "prompt_id": str,
            "coords": str,  # JSON object
            "request": str,  # JSON object, never a secret
            "output_path": str,
            "state": str,  # JobState value
            "remote_id": str,
            "remote_status": str,
            "attempts": int,
            "estimated_credits": float,
            "estimated_usd": float,
            "price_basis": str,
            "reserved_credits": float,
            "spent_credits": float,
            "reserved_usd": float,
            "spent_usd": float,
            "charged_credits": float,
            "charged_usd": float,
            "size": int,
            "sha256": str,
            "error": str,
            "error_kind": str,
            "run_id": int,  # the last run that changed this job
            "created_at": str,
            "updated_at": str,
            "submitted_at": str,
            "finished_at": str,
        },
        pk=("manifest", "key"),
        foreign_keys=[("run_id", "runs", "id")],
        not_null=[
            "manifest",
            "key",
            "provider",
            "prompt_id",
            "coords",
            "request",
            "output_path",
            "state",
            "attempts",
            "estimated_credits",
            "price_basis",
            "reserved_credits",
            "spent_credits",
            "reserved_usd",
            "spent_usd",
            "created_at",
            "updated_at",
        ],
        defaults={
            "attempts": 0,
            "reserved_credits": 0.0,
            "spent_credits": 0.0,
            "reserved_usd": 0.0,
            "spent_usd": 0.0,
        },
    )
    jobs = db.table("jobs")
    jobs.create_index(["manifest", "state"])
    jobs.create_index(["remote_id"])
    jobs.create_index(["manifest", "provider"])

    db.table("events").create(
        {
            "id": int,
            "run_id": int,
            "manifest": str,
            "job_key": str,
            "at": str,  # ISO-8601 UTC with milliseconds
            "kind": str,
            "detail": str,  # JSON object
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null=["at", "kind"],
    )
    events = db.table("events")
    events.create_index(["manifest", "job_key"])
    events.create_index(["run_id"])
    events.create_index(["kind"])

    db.table("_grokbatch_usage").create(
        {"manifest": str, "provider": str} | {f"{c}_micro": int for c in _BUDGET_COLUMNS},
        pk=("manifest", "provider"),
        not_null=["manifest", "provider"] + [f"{c}_micro" for c in _BUDGET_COLUMNS],
        defaults={f"{c}_micro": 0 for c in _BUDGET_COLUMNS},
    )
    db.execute(
        "CREATE TRIGGER jobs_usage_insert AFTER INSERT ON jobs BEGIN "
        + _usage_upsert("new", "+")
        + " END"
    )
    db.execute(
        "CREATE TRIGGER jobs_usage_delete AFTER DELETE ON jobs BEGIN "
        + _usage_upsert("old", "-")
        + " END"
    )
    db.execute(
        "CREATE TRIGGER jobs_usage_update AFTER UPDATE OF manifest, provider, "
        + ", ".join(_BUDGET_COLUMNS)
        + " ON jobs BEGIN "
        + _usage_upsert("old", "-")
        + " "
        + _usage_upsert("new", "+")
        + " END"
    )


OUTPUT_STAT = (
    # A done job's file as it was written (its size is `size`): a rerun trusts a file whose
    # size, mtime and inode still match without reading it. BIGINT: nanoseconds since 1970.
    "ALTER TABLE jobs ADD COLUMN output_mtime_ns BIGINT",
    "ALTER TABLE jobs ADD COLUMN output_inode BIGINT",
    # The completion times a run learns per provider (its name, or "name at URL" for a base
    # URL of the user's own) and kind of job ("video 6s 720p"): the last few, as a JSON
    # list of seconds, newest last. The next run times its first status checks from them.
    "CREATE TABLE completion_times ("
    " provider TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " samples TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " PRIMARY KEY (provider, kind))",
)


@migration
def m002_output_stat(db: Database) -> None:
    for statement in OUTPUT_STAT:
        db.execute(statement)


SHARED["m002_output_stat"] = OUTPUT_STAT
CLAIMS = (
    # One row per runner process; its lease is renewed here, never on its jobs. Times in
    # lease_expires are seconds since the epoch by the database's clock.
    "CREATE TABLE runners ("
    " id TEXT PRIMARY KEY,"
    " run_id BIGINT NOT NULL REFERENCES runs (id),"
    " manifest TEXT NOT NULL,"
    " hostname TEXT NOT NULL,"
    " pid BIGINT NOT NULL,"
    " started_at TEXT NOT NULL,"
    " heartbeat_at TEXT NOT NULL,"
    " lease_seconds DOUBLE PRECISION NOT NULL,"
    " lease_expires DOUBLE PRECISION NOT NULL,"
    " stopped_at TEXT)",
    # The runner holding a job while it is in flight (NULL otherwise).
    "ALTER TABLE jobs ADD COLUMN owner TEXT",
    "CREATE INDEX idx_jobs_owner ON jobs (owner)",
)
SHARED["m003_claims"] = CLAIMS


@migration
def m003_claims(db: Database) -> None:
    for statement in CLAIMS:
        db.execute(statement)


RECONCILE = (
    # What each submit carried for the provider to record beside its job (AI/ML API's
    # X-Client-Request-Id): written before the request leaves, so a submit whose answer
    # was lost can be looked up by it.
    "CREATE TABLE submits ("
    " manifest TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " attempt BIGINT NOT NULL,"
    " client_request_id TEXT,"
    " sent_at TEXT NOT NULL,"
    " PRIMARY KEY (manifest, key, attempt))",
    # Reconciling reads every job in doubt at one provider, across manifests.
    "CREATE INDEX idx_jobs_provider_state ON jobs (provider, state)",
)
SHARED["m004_reconcile"] = RECONCILE


@migration
def m004_reconcile(db: Database) -> None:
    for statement in RECONCILE:
        db.execute(statement)
