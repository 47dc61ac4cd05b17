"""The store's side of reconciling: what a submit carried, the jobs in doubt, and the two
transitions out of AMBIGUOUS (attached: paid once; not created: reservation returned)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grokbatch.state import JobRecord, JobState, Limits, SQLiteStore, StateConflictError

M, OTHER = "m", "other"


def record(key: str, provider: str = "vydra") -> JobRecord:
    return JobRecord(
        key=key,
        provider=provider,
        model=None,
        prompt_id="p",
        coords={"n": key},
        request={"provider": provider, "model": None, "prompt": f"p {key}", "params": {}},
        output_path=f"{key}.mp4",
        estimated_credits=150.0,
        estimated_usd=None,
        price_basis="published",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "state.db")
    yield s
    s.close()


def lose(store: SQLiteStore, manifest: str, key: str, provider: str = "vydra") -> int:
    """Add the job, claim it and lose its answer; returns the run."""
    run = store.start_run(manifest=manifest, manifest_path="/m.yaml", options={})
    store.add_jobs(manifest, [record(key, provider)], run_id=run)
    store.reserve(manifest, key, run_id=run, credits=150.0, usd=None, limits=Limits(1000.0))
    store.mark_ambiguous(manifest, key, run_id=run, error="lost", error_kind="X")
    return run


def test_doubts_are_every_submitting_and_ambiguous_job_of_the_provider(
    store: SQLiteStore,
) -> None:
    run = lose(store, M, "a")
    lose(store, OTHER, "b")
    lose(store, M, "c", provider="aimlapi")
    store.add_jobs(M, [record("d")], run_id=run)
    store.reserve(M, "d", run_id=run, credits=150.0, usd=None, limits=Limits())
    store.record_submit(M, "d", attempt=1, client_request_id="d.1")
    store.add_jobs(M, [record("e")], run_id=run)  # pending: not in doubt
    doubts = {(d.manifest, d.key): d for d in store.doubts("vydra")}
    assert set(doubts) == {(M, "a"), (OTHER, "b"), (M, "d")}
    a, d = doubts[(M, "a")], doubts[(M, "d")]
    assert a.state is JobState.AMBIGUOUS and a.attempt == 1 and a.request["prompt"] == "p a"
    assert a.claimed_at and a.lost_at and a.lost_at >= a.claimed_at
    assert d.state is JobState.SUBMITTING and d.lost_at is None
    assert d.client_request_id == "d.1" and a.client_request_id is None


def test_a_loss_of_an_earlier_attempt_is_not_this_ones(store: SQLiteStore) -> None:
    run = lose(store, M, "a")
    store.reset(M, "a", run_id=run, reason="--resubmit-ambiguous")
    store.reserve(M, "a", run_id=run, credits=150.0, usd=None, limits=Limits())
    store.record_submit(M, "a", attempt=2, client_request_id="a.2")
    (doubt,) = store.doubts("vydra")
    assert doubt.attempt == 2 and doubt.lost_at is None and doubt.client_request_id == "a.2"


def test_attach_keeps_the_reservation_and_is_paid_once(store: SQLiteStore) -> None:
    run = lose(store, M, "a")
    row = store.attach(M, "a", run_id=run, remote_id="r1", detail={"reason": "found"})
    assert row.state is JobState.RUNNING and row.remote_id == "r1"
    assert (row.reserved_credits, row.spent_credits, row.error) == (150.0, 0.0, None)
    row = store.mark_ready(M, "a", run_id=run, charged_credits=150.0, charged_usd=None)
    assert (row.reserved_credits, row.spent_credits) == (0.0, 150.0)
    assert store.usage(M)["vydra"].committed_credits == 150.0
    (event,) = [e for e in store.events(M, key="a") if e["kind"] == "attached"]
    assert event["detail"] == {"remote_id": "r1", "reason": "found", "from": "ambiguous"}


def test_attach_refuses_a_remote_id_another_job_has(store: SQLiteStore) -> None:
    run = lose(store, M, "a")
    lose(store, OTHER, "b")
    store.attach(OTHER, "b", run_id=None, remote_id="r1", detail={})
    with pytest.raises(StateConflictError, match="r1 is already recorded for job b of other"):
        store.attach(M, "a", run_id=run, remote_id="r1", detail={})
    assert store.known_remote_ids("vydra", ["r1", "r2"]) == {"r1"}
    assert store.known_remote_ids("aimlapi", ["r1"]) == set()
    # The same id at another provider is another job.
    lose(store, M, "c", provider="aimlapi")
    assert store.attach(M, "c", run_id=None, remote_id="r1", detail={}).remote_id == "r1"


def test_not_created_returns_the_reservation(store: SQLiteStore) -> None:
    run = lose(store, M, "a")
    assert store.usage(M)["vydra"].reserved_credits == 150.0
    row = store.not_created(M, "a", run_id=run, detail={"reason": "none listed"})
    assert row.state is JobState.PENDING and row.reserved_credits == 0.0
    assert row.spent_credits == 0.0 and row.error is None
    assert store.usage(M)["vydra"].committed_credits == 0.0
    again = store.reserve(M, "a", run_id=run, credits=150.0, usd=None, limits=Limits())
    assert again.attempts == 2  # the next submit is a new attempt, with a new request id


@pytest.mark.parametrize("state", ["pending", "submitting", "running"])
def test_only_an_ambiguous_job_is_attached_or_found_not_created(
    store: SQLiteStore, state: str
) -> None:
    run = store.start_run(manifest=M, manifest_path="/m.yaml", options={})
    store.add_jobs(M, [record("a")], run_id=run)
    if state != "pending":
        store.reserve(M, "a", run_id=run, credits=1.0, usd=None, limits=Limits())
    if state == "running":
        store.mark_submitted(M, "a", run_id=run, remote_id="r0", charged=None)
    with pytest.raises(StateConflictError, match="not ambiguous"):
        store.attach(M, "a", run_id=run, remote_id="r1", detail={})
    with pytest.raises(StateConflictError, match="not ambiguous"):
        store.not_created(M, "a", run_id=run, detail={})
