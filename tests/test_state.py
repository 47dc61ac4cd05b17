from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from grokbatch.errors import BudgetExceededError
from grokbatch.state import (
    JobRecord,
    JobState,
    Limits,
    SQLiteStore,
    StateConflictError,
    StateUnavailableError,
    open_store,
)
from grokbatch.state.migrations import MIGRATIONS, MIGRATIONS_TABLE

M = "manifest.yaml"


def record(i: int, *, provider: str = "aivideoapi", credits: float = 2.4) -> JobRecord:
    return JobRecord(
        key=f"key{i:06d}",
        provider=provider,
        model="grok-imagine",
        prompt_id=f"p{i % 3}",
        coords={"prompt": f"p{i % 3}", "duration": 6, "i": i},
        request={"provider": provider, "prompt": f"a cat, take {i}", "params": {"duration": 6}},
        output_path=f"out/{i}.mp4",
        estimated_credits=credits,
        estimated_usd=0.05,
        price_basis="published",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def run(store: SQLiteStore) -> int:
    return store.start_run(manifest=M, manifest_path="/abs/manifest.yaml", options={"x": 1})


def reserve(store: SQLiteStore, run: int, i: int, credits: float = 2.4, **limits: float) -> bool:
    """Whether the job fit the budget (and is now SUBMITTING)."""
    return fits(store, run, f"key{i:06d}", credits=credits, usd=0.05, limits=Limits(**limits))


def fits(store: SQLiteStore, run: int, key: str, **kw: Any) -> bool:
    try:
        row = store.reserve(M, key, run_id=run, **kw)
    except BudgetExceededError:
        return False
    assert row.state is JobState.SUBMITTING  # the transition returns the new row
    return True


def test_open_store_creates_directories_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    s = open_store(path)
    try:
        assert isinstance(s, SQLiteStore)
        conn = s.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    finally:
        s.close()
    assert path.exists()


def test_migrations_apply_once_and_file_opens_in_sqlite_utils(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteStore(path).close()
    SQLiteStore(path).close()  # reopening applies nothing twice
    db = Database(path)
    try:
        names = [r["name"] for r in db.table(MIGRATIONS_TABLE).rows]
        assert names == [fn.__name__ for fn in MIGRATIONS]
        assert names == ["m001_initial", "m002_output_stat", "m003_claims", "m004_reconcile"]
        assert {"runs", "jobs", "events", "runners", "submits", "completion_times"} <= set(
            db.table_names()
        )
        jobs = db.table("jobs")
        assert jobs.pks == ["manifest", "key"]
        for column in ("provider", "prompt_id", "state", "error_kind", "remote_id", "owner"):
            assert column in jobs.columns_dict
        indexed = {tuple(ix.columns) for ix in jobs.indexes}
        assert ("manifest", "state") in indexed and ("remote_id",) in indexed
    finally:
        db.close()


def test_add_jobs_inserts_new_and_updates_paths_only(store: SQLiteStore, run: int) -> None:
    assert store.add_jobs(M, (record(i) for i in range(10)), run_id=run) == 10
    assert reserve(store, run, 0)
    moved = [
        JobRecord(**{**record(i).__dict__, "output_path": f"new/{i}.mp4", "estimated_credits": 9})
        for i in range(12)
    ]
    assert store.add_jobs(M, moved, run_id=run) == 2
    job = store.get(M, "key000000")
    assert job is not None
    assert job.state is JobState.SUBMITTING  # state untouched
    assert job.output_path == "new/0.mp4"
    assert job.estimated_credits == 2.4  # only path and coords are updated
    assert job.coords == {"prompt": "p0", "duration": 6, "i": 0}
    assert store.get(M, "nope") is None
    assert store.get("other", "key000000") is None


def test_jobs_streams_in_insertion_order_with_state_filter(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, (record(i) for i in reversed(range(2500))), run_id=run)
    keys = [j.key for j in store.jobs(M)]
    assert keys == [f"key{i:06d}" for i in reversed(range(2500))]
    reserve(store, run, 5)
    reserve(store, run, 2000)
    it = store.jobs(M, states=[JobState.SUBMITTING])
    assert not isinstance(it, list)
    assert [j.key for j in it] == ["key002000", "key000005"]
    both = store.jobs(M, states=[JobState.SUBMITTING, JobState.PENDING])
    assert sum(1 for _ in both) == 2500
    assert list(store.jobs(M, states=[])) == []
    assert store.counts(M)[JobState.PENDING] == 2498
    assert store.counts(M)[JobState.DONE] == 0


def test_full_lifecycle_and_events(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, [record(1)], run_id=run)
    key = "key000001"
    assert reserve(store, run, 1, credits=14.4, max_credits=100)
    store.mark_submitted(M, key, run_id=run, remote_id="task-1", charged=None)
    store.record_status(M, key, run_id=run, remote_status="queued")
    store.record_status(M, key, run_id=run, remote_status="queued")
    store.record_status(M, key, run_id=run, remote_status="processing")
    store.mark_ready(M, key, run_id=run, charged_credits=None, charged_usd=None)
    store.mark_done(M, key, run_id=run, output_path="out/1.mp4", size=123, sha256="ab" * 32)
    job = store.get(M, key)
    assert job is not None
    assert (job.state, job.remote_id, job.remote_status, job.attempts) == (
        JobState.DONE,
        "task-1",
        "processing",
        1,
    )
    assert (job.spent_credits, job.reserved_credits) == (14.4, 0)
    assert (job.spent_usd, job.reserved_usd) == (0.05, 0)
    assert (job.size, job.sha256) == (123, "ab" * 32)
    assert job.submitted_at and job.finished_at and job.finished_at.endswith("Z")
    kinds = [e["kind"] for e in store.events(M, key=key)]
    assert kinds == ["reserved", "submitted", "status", "status", "ready", "done"]
    store.finish_run(run, status="completed", summary={"done": 1})
    all_kinds = [e["kind"] for e in store.events(M)]
    assert all_kinds[0] == "run_started" and all_kinds[-1] == "run_finished"
    runs = list(store.db.query("select * from runs"))
    assert runs[0]["status"] == "completed" and json.loads(runs[0]["summary"]) == {"done": 1}
    assert runs[0]["pid"] and runs[0]["hostname"] and runs[0]["grokbatch_version"]


def test_transitions_are_compare_and_set(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, [record(1)], run_id=run)
    key = "key000001"
    with pytest.raises(StateConflictError, match=r"key000001.*pending"):
        store.mark_submitted(M, key, run_id=run, remote_id="x", charged=None)
    assert reserve(store, run, 1)
    with pytest.raises(StateConflictError, match="submitting, not pending"):
        reserve(store, run, 1)  # a second runner cannot claim it
    with pytest.raises(StateConflictError, match="unknown"):
        store.reserve(M, "missing", run_id=run, credits=1, usd=None, limits=Limits())
    with pytest.raises(StateConflictError):
        store.mark_done(M, key, run_id=run, output_path="x", size=1, sha256="0")
    with pytest.raises(StateConflictError):
        store.reset(M, key, run_id=run, reason="retry")
    # A refused transition writes nothing, not even its event.
    assert [e["kind"] for e in store.events(M, key=key)] == ["reserved"]


def test_budget_accounting(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, (record(i) for i in range(6)), run_id=run)
    # Charged at submit, and more than estimated: spent is the truth.
    assert reserve(store, run, 0, credits=10)
    store.mark_submitted(M, "key000000", run_id=run, remote_id="a", charged=12)
    job = store.get(M, "key000000")
    assert job and (job.spent_credits, job.reserved_credits, job.charged_credits) == (12, 0, 12)
    store.mark_ready(M, "key000000", run_id=run, charged_credits=None, charged_usd=None)
    job = store.get(M, "key000000")
    assert job and (job.spent_credits, job.reserved_credits) == (12, 0)
    # Charged less at submit: the rest of the estimate is freed at ready.
    assert reserve(store, run, 1, credits=10)
    store.mark_submitted(M, "key000001", run_id=run, remote_id="b", charged=7)
    store.mark_ready(M, "key000001", run_id=run, charged_credits=None, charged_usd=None)
    job = store.get(M, "key000001")
    assert job and (job.spent_credits, job.reserved_credits) == (7, 0)
    # Reported at ready.
    assert reserve(store, run, 2, credits=10)
    store.mark_submitted(M, "key000002", run_id=run, remote_id="c", charged=None)
    store.mark_ready(M, "key000002", run_id=run, charged_credits=8.5, charged_usd=0.04)
    job = store.get(M, "key000002")
    assert job and (job.spent_credits, job.spent_usd, job.charged_usd) == (8.5, 0.04, 0.04)
    # Failed and refunded: nothing stays spent.
    assert reserve(store, run, 3, credits=10)
    store.mark_submitted(M, "key000003", run_id=run, remote_id="d", charged=10)
    store.mark_failed(
        M, "key000003", run_id=run, error="nsfw", error_kind="ModerationError", refunded=True
    )
    job = store.get(M, "key000003")
    assert job and (job.spent_credits, job.reserved_credits, job.state) == (0, 0, JobState.FAILED)
    assert job.error_kind == "ModerationError"
    # Failed, not refunded, no charge reported: the estimate is spent.
    assert reserve(store, run, 4, credits=10)
    store.mark_submitted(M, "key000004", run_id=run, remote_id="e", charged=None)
    store.mark_failed(M, "key000004", run_id=run, error="x", error_kind="E", refunded=False)
    job = store.get(M, "key000004")
    assert job and (job.spent_credits, job.reserved_credits) == (10, 0)
    # Released: the reservation returns to the budget.
    assert reserve(store, run, 5, credits=10)
    store.release(M, "key000005", run_id=run, error="refused", error_kind="E", failed=False)
    job = store.get(M, "key000005")
    assert job and (job.state, job.reserved_credits, job.attempts) == (JobState.PENDING, 0, 1)
    usage = store.usage(M)["aivideoapi"]
    assert (usage.spent_credits, usage.reserved_credits) == (12 + 7 + 8.5 + 0 + 10, 0)
    assert_usage_matches_jobs(store)


def test_reset_never_frees_budget(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, (record(i) for i in range(2)), run_id=run)
    # AMBIGUOUS keeps its reservation; reset turns it into spent.
    assert reserve(store, run, 0, credits=5)
    store.mark_ambiguous(M, "key000000", run_id=run, error="timeout", error_kind="TimeoutError")
    job = store.get(M, "key000000")
    assert job and (job.state, job.reserved_credits) == (JobState.AMBIGUOUS, 5)
    store.reset(M, "key000000", run_id=run, reason="--resubmit-ambiguous")
    job = store.get(M, "key000000")
    assert job and (job.state, job.spent_credits, job.reserved_credits) == (
        JobState.PENDING,
        5,
        0,
    )
    # The retry is paid on top, and a refund of the retry does not refund the first try.
    assert reserve(store, run, 0, credits=5)
    store.mark_submitted(M, "key000000", run_id=run, remote_id="r", charged=5)
    store.mark_failed(M, "key000000", run_id=run, error="x", error_kind="E", refunded=True)
    job = store.get(M, "key000000")
    assert job and (job.spent_credits, job.attempts) == (5, 2)
    # FAILED (paid) → PENDING keeps spent; a successful retry adds its own cost.
    store.reset(M, "key000000", run_id=run, reason="--retry-failed")
    assert reserve(store, run, 0, credits=5)
    store.mark_submitted(M, "key000000", run_id=run, remote_id="r2", charged=None)
    store.mark_ready(M, "key000000", run_id=run, charged_credits=4, charged_usd=None)
    job = store.get(M, "key000000")
    assert job and (job.spent_credits, job.remote_id, job.attempts) == (9, "r2", 3)
    assert_usage_matches_jobs(store)


def test_budget_limits_are_exact_and_cover_every_run(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, (record(i) for i in range(8)), run_id=run)
    # 2.4 x 6 = 14.4 exactly, although the float sum is 14.399999999999999.
    for i in range(6):
        assert reserve(store, run, i, credits=2.4, max_credits=14.4)
    assert not reserve(store, run, 6, credits=0.000001, max_credits=14.4)
    blocked = [e for e in store.events(M, key="key000006") if e["kind"] == "budget_blocked"]
    assert blocked and blocked[0]["detail"]["committed"] == 14.4
    assert store.get(M, "key000006").state is JobState.PENDING  # type: ignore[union-attr]
    # Another run of the same manifest sees the first run's commitments.
    run2 = store.start_run(manifest=M, manifest_path="m", options={})
    assert not reserve(store, run2, 6, credits=1, max_credits=15)
    assert reserve(store, run2, 6, credits=0.6, max_credits=15)
    # USD limit over every provider.
    assert not fits(store, run2, "key000007", credits=0, usd=0.2, limits=Limits(max_usd=0.5))
    assert fits(store, run2, "key000007", credits=0, usd=0.15, limits=Limits(max_usd=0.5))


def test_busy_database_raises_state_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    a = SQLiteStore(path)
    b = SQLiteStore(path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StateUnavailableError, match="locked"):
            b.log(run_id=None, kind="warning")
        blocker.execute("ROLLBACK")
        b.log(run_id=None, kind="warning", manifest=M, detail={"n": 1})
        assert [e["detail"] for e in a.events(M)] == [{"n": 1}]
    finally:
        blocker.close()
        a.close()
        b.close()


def assert_usage_matches_jobs(store: SQLiteStore) -> None:
    """The trigger-kept totals equal the sums over the jobs table."""
    sums = {
        r["provider"]: r
        for r in store.db.query(
            "select provider, sum(spent_credits) s, sum(reserved_credits) r from jobs "
            "where manifest = ? group by provider",
            [M],
        )
    }
    for provider, usage in store.usage(M).items():
        assert round(sums[provider]["s"], 6) == usage.spent_credits
        assert round(sums[provider]["r"], 6) == usage.reserved_credits


def test_reopen_turns_a_done_job_back_to_ready_without_charging(tmp_path: Path) -> None:
    from grokbatch.state import open_store
    from grokbatch.state.base import JobRecord, JobState, Limits

    store = open_store(tmp_path / "s.db")
    try:
        run = store.start_run(manifest="m", manifest_path="m.yaml", options={})
        store.add_jobs(
            "m",
            [
                JobRecord(
                    "k",
                    "apiframe",
                    None,
                    "p",
                    {"prompt": "p"},
                    {"prompt": "x"},
                    "a.mp4",
                    10.0,
                    None,
                    "published",
                )
            ],
            run_id=run,
        )
        assert store.reserve("m", "k", run_id=run, credits=10.0, usd=None, limits=Limits())
        store.mark_submitted("m", "k", run_id=run, remote_id="r1", charged=None)
        store.mark_ready("m", "k", run_id=run, charged_credits=10.0, charged_usd=None)
        store.mark_done("m", "k", run_id=run, output_path="a.mp4", size=3, sha256="ab")
        store.reopen("m", "k", run_id=run, reason="file missing")
        row = store.get("m", "k")
        assert row is not None
        assert (row.state, row.remote_id, row.sha256) == (JobState.READY, "r1", None)
        assert store.usage("m")["apiframe"].spent_credits == 10.0
    finally:
        store.close()


# --- m002_output_stat: a rerun at the cost of a stat; learned completion times -------------


def done(store: SQLiteStore, run: int, i: int, **stat: int) -> None:
    key = f"key{i:06d}"
    assert reserve(store, run, i)
    store.mark_submitted(M, key, run_id=run, remote_id=f"r{i}", charged=None)
    store.mark_ready(M, key, run_id=run, charged_credits=None, charged_usd=None)
    store.mark_done(M, key, run_id=run, output_path=f"out/{i}.mp4", size=100, sha256="ab" * 32,
                    **stat)  # fmt: skip


def test_a_done_job_keeps_its_file_stat_until_it_is_reopened(store: SQLiteStore, run: int) -> None:
    store.add_jobs(M, [record(1), record(2)], run_id=run)
    done(store, run, 1, mtime_ns=1_700_000_000_123_456_789, inode=42)
    row = store.get(M, "key000001")
    assert row is not None and (row.output_mtime_ns, row.output_inode) == (
        1_700_000_000_123_456_789, 42,
    )  # fmt: skip
    index = store.index(M)
    assert set(index) == {"key000001", "key000002"}
    one = index["key000001"]
    assert (one.state, one.output_path, one.size, one.mtime_ns, one.inode) == (
        JobState.DONE, "out/1.mp4", 100, 1_700_000_000_123_456_789, 42,
    )  # fmt: skip
    assert json.loads(one.coords) == {"prompt": "p1", "duration": 6, "i": 1}
    assert index["key000002"].state is JobState.PENDING and index["key000002"].size is None
    reopened = store.reopen(M, "key000001", run_id=run, reason="file gone")
    assert (reopened.size, reopened.output_mtime_ns, reopened.output_inode) == (None, None, None)


def test_a_reverified_stat_is_recorded_only_for_the_same_done_file(
    store: SQLiteStore, run: int
) -> None:
    store.add_jobs(M, [record(1), record(2)], run_id=run)
    done(store, run, 1)  # done before stats were recorded
    store.record_output_stats(
        M,
        [
            ("key000001", 100, 5, 6),
            ("key000002", 100, 7, 8),  # not done: never vouched for
            ("nope", 100, 9, 9),
        ],
    )
    assert store.index(M)["key000001"][-2:] == (5, 6)
    assert store.index(M)["key000002"][-2:] == (None, None)
    store.record_output_stats(M, [("key000001", 99, 1, 1)])  # another size: not this file
    assert store.index(M)["key000001"][-2:] == (5, 6)
    assert [e["kind"] for e in store.events(M, key="key000001")][-1] == "done"  # no event


def test_completion_times_are_kept_per_provider_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        assert store.completion_times() == {}
        store.save_completion_times({("xai", "video 6s 720p"): [61.25, 58.0]})
        store.save_completion_times({("xai", "video 6s 720p"): [61.25, 58.0, 70.1234]})
        store.save_completion_times({("aimlapi", "video 10s 1080p"): [107.0]})
    with SQLiteStore(path) as store:  # the next run starts informed
        assert store.completion_times() == {
            ("xai", "video 6s 720p"): [61.25, 58.0, 70.123],
            ("aimlapi", "video 10s 1080p"): [107.0],
        }
        store.db.execute("UPDATE completion_times SET samples = 'oops' WHERE provider = 'xai'")
        assert list(store.completion_times()) == [("aimlapi", "video 10s 1080p")]


def test_a_database_from_before_m002_upgrades_in_place(tmp_path: Path) -> None:
    """A state file written by the previous release opens: its done jobs read with no stat
    (so the next rerun hashes them once), and nothing else changes."""
    path = tmp_path / "old.db"
    old = Database(path)
    old.table(MIGRATIONS_TABLE).create({"name": str, "applied_at": str}, pk="name")
    MIGRATIONS[0](old)
    old.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES ('m001_initial', 'then')")
    old.conn.commit()
    old.close()
    with SQLiteStore(path) as store:
        run = store.start_run(manifest=M, manifest_path="m", options={})
        store.add_jobs(M, [record(1)], run_id=run)
        done(store, run, 1)
        row = store.get(M, "key000001")
        assert row is not None and row.state is JobState.DONE and row.size == 100
        assert (row.output_mtime_ns, row.output_inode) == (None, None)
        names = [r["name"] for r in store.db.table(MIGRATIONS_TABLE).rows]
        assert "m002_output_stat" in names and "completion_times" in store.db.table_names()
