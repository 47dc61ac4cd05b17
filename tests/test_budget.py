"""The budget never overspends, whoever reserves concurrently: threads and processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grokbatch.budget import BudgetPolicy, BudgetStatus, ProviderBudget, budget_status
from grokbatch.errors import BudgetExceededError
from grokbatch.state import JobRecord, JobState, Limits, SQLiteStore, StateConflictError

M = "batch.yaml"
P = "aivideoapi"


def cost(i: int) -> float:
    # Decimal prices like the resellers' (credits per second x seconds), seeded per job.
    return round(
        random.Random(i).choice([2.4, 1.5, 0.6, 3.3, 7.2]) * random.Random(-i).randint(1, 6), 6
    )


def records(n: int, provider: str = P) -> Iterator[JobRecord]:
    for i in range(n):
        yield JobRecord(
            key=f"{provider}-{i:04d}",
            provider=provider,
            model=None,
            prompt_id="p",
            coords={"i": i},
            request={"provider": provider, "prompt": f"take {i}"},
            output_path=f"{i}.mp4",
            estimated_credits=cost(i),
            estimated_usd=None,
            price_basis="published",
        )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def claim(path: Path, keys: list[str], policy: BudgetPolicy, start: threading.Barrier) -> None:
    """One runner: its own connection, reserving keys in its own order."""
    store = SQLiteStore(path)
    try:
        run = store.start_run(manifest=M, manifest_path=M, options={})
        start.wait()
        for key in keys:
            job = store.get(M, key)
            assert job is not None
            # Another runner may have it: StateConflictError is exactly what must happen;
            # a job that would pass the budget is refused with BudgetExceededError.
            with contextlib.suppress(StateConflictError, BudgetExceededError):
                store.reserve(
                    M,
                    key,
                    run_id=run,
                    credits=job.estimated_credits,
                    usd=None,
                    limits=policy.limits_for(job.provider),
                )
    finally:
        store.close()


def claim_in_process(path: str, keys: list[str], limit: float, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    barrier = threading.Barrier(1)
    claim(Path(path), keys, BudgetPolicy({P: limit}), barrier)


def check_never_overspent(path: Path, limit: float) -> None:
    """Replay the event log: every reservation fit when made, every refusal did not, and
    no job left PENDING would fit now. So exactly the jobs that fit were reserved."""
    store = SQLiteStore(path)
    try:
        committed = 0.0
        decisions = 0
        for event in store.events(M):
            if event["kind"] not in ("reserved", "budget_blocked"):
                continue
            decisions += 1
            credits = event["detail"]["credits"]
            fits = round(committed + credits, 6) <= limit
            assert fits == (event["kind"] == "reserved"), (event, committed)
            if fits:
                committed = round(committed + credits, 6)
        assert decisions > 0
        usage = store.usage(M)[P]
        assert usage.committed_credits == committed <= limit
        reserved = [j for j in store.jobs(M) if j.state is JobState.SUBMITTING]
        assert round(sum(j.reserved_credits for j in reserved), 6) == committed
        assert all(j.attempts == 1 for j in reserved)
        left = [j.estimated_credits for j in store.jobs(M, states=[JobState.PENDING])]
        assert left and all(round(committed + c, 6) > limit for c in left)
    finally:
        store.close()


def setup_jobs(path: Path, n: int) -> float:
    store = SQLiteStore(path)
    try:
        store.add_jobs(M, records(n), run_id=None)
    finally:
        store.close()
    return round(sum(cost(i) for i in range(n)) * 0.4, 1)


@pytest.mark.slow
def test_100_concurrent_threads_never_overspend(db: Path) -> None:
    n = 200
    limit = setup_jobs(db, n)
    keys = [f"{P}-{i:04d}" for i in range(n)]
    policy = BudgetPolicy({P: limit})
    start = threading.Barrier(100)
    threads = []
    for t in range(100):
        mine = random.Random(t).sample(keys, 12)  # overlapping claims on the same jobs
        threads.append(threading.Thread(target=claim, args=(db, mine, policy, start)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A last sweep decides every job, so "exactly the jobs that fit" covers them all.
    claim(db, keys, policy, threading.Barrier(1))
    check_never_overspent(db, limit)


@pytest.mark.slow
def test_two_processes_never_overspend(db: Path) -> None:
    n = 150
    limit = setup_jobs(db, n)
    keys = [f"{P}-{i:04d}" for i in range(n)]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [
        ctx.Process(target=claim_in_process, args=(str(db), order, limit, start))
        for order in (keys, list(reversed(keys)))
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    check_never_overspent(db, limit)


def test_refunds_and_releases_free_budget_resets_do_not(db: Path) -> None:
    store = SQLiteStore(db)
    try:
        store.add_jobs(M, records(5), run_id=None)
        run = store.start_run(manifest=M, manifest_path=M, options={})
        limits = Limits(max_credits=10)

        def reserve(i: int) -> bool:
            try:
                store.reserve(M, f"{P}-{i:04d}", run_id=run, credits=4, usd=None, limits=limits)
            except BudgetExceededError as exc:
                assert "would pass the budget" in str(exc)
                return False
            return True

        assert reserve(0) and reserve(1) and not reserve(2)
        # A refunded failure frees its credits for a later reservation.
        store.mark_submitted(M, f"{P}-0000", run_id=run, remote_id="a", charged=4)
        store.mark_failed(M, f"{P}-0000", run_id=run, error="x", error_kind="E", refunded=True)
        assert reserve(2) and not reserve(3)
        # So does a release (the provider certainly refused the submit).
        store.release(M, f"{P}-0002", run_id=run, error="x", error_kind="E", failed=False)
        assert reserve(3) and not reserve(4)
        # An ambiguous submit stays committed, and resetting it does not free it.
        store.mark_ambiguous(M, f"{P}-0003", run_id=run, error="lost", error_kind="E")
        assert not reserve(4)
        store.reset(M, f"{P}-0003", run_id=run, reason="--resubmit-ambiguous")
        assert not reserve(4)
        assert not reserve(3)  # resubmitting it needs budget of its own
        # A failure that was paid stays spent through --retry-failed.
        store.mark_submitted(M, f"{P}-0001", run_id=run, remote_id="b", charged=None)
        store.mark_failed(M, f"{P}-0001", run_id=run, error="x", error_kind="E", refunded=False)
        store.reset(M, f"{P}-0001", run_id=run, reason="--retry-failed")
        assert store.usage(M)[P].committed_credits == 8
        assert not reserve(1)
        status = budget_status(store, M, BudgetPolicy({P: 10}), {P: "credits"})
        assert (status.per_provider[P].spent, status.per_provider[P].reserved) == (8, 0)
        assert status.per_provider[P].remaining == 2
    finally:
        store.close()


def test_policy_resolves_a_single_number_for_every_provider() -> None:
    policy = BudgetPolicy.resolve(500, ["a", "b"], max_usd=5)
    assert policy.limits_for("a") == Limits(max_credits=500, max_usd=5)
    assert policy.limits_for("b") == Limits(max_credits=500, max_usd=5)
    assert policy.limits_for("c") == Limits(max_credits=None, max_usd=5)
    assert BudgetPolicy.resolve({"a": 3}, ["a", "b"]).limits_for("b") == Limits()
    assert BudgetPolicy.resolve(None, ["a"]).max_credits == {}


def test_status_format_and_exceeded(db: Path) -> None:
    store = SQLiteStore(db)
    try:
        store.add_jobs(M, records(3), run_id=None)
        store.add_jobs(M, records(1, provider="kie"), run_id=None)
        run = store.start_run(manifest=M, manifest_path=M, options={})
        store.reserve(M, f"{P}-0000", run_id=run, credits=93, usd=0.5, limits=Limits())
        store.reserve(M, f"{P}-0001", run_id=run, credits=27, usd=0.24, limits=Limits())
        store.mark_submitted(M, f"{P}-0000", run_id=run, remote_id="a", charged=93)
        policy = BudgetPolicy({P: 500, "kie": 10}, max_usd=2)
        status = budget_status(store, M, policy, {P: "credits", "kie": "kie credits"})
        assert status.format() == (
            "aivideoapi 93 spent + 27 reserved of 500 credits · kie 0 spent of 10 kie credits"
            " · USD $0.00 spent + $0.74 reserved of $2.00"
        )
        assert status.to_json()["providers"][P] == {
            "spent": 93,
            "reserved": 27,
            "limit": 500,
            "unit": "credits",
        }
        assert not status.exceeded()
        # A provider without a USD price makes the USD total unknown, never a partial sum.
        partial = budget_status(store, M, policy, {}, usd_missing=["kie"])
        assert "USD total unknown (no USD price for kie)" in partial.format()
        assert partial.to_json()["usd"] == {
            "spent": None,
            "reserved": None,
            "limit": 2,
            "missing_prices": ["kie"],
        }
        # A provider charging more than estimated can take a total past its limit.
        store.mark_ready(M, f"{P}-0000", run_id=run, charged_credits=480, charged_usd=None)
        status = budget_status(store, M, policy, {})
        assert status.exceeded()
        assert status.per_provider[P].remaining == 0
    finally:
        store.close()
    empty = BudgetStatus(per_provider={})
    assert empty.format() == "nothing spent" and not empty.exceeded()
    assert ProviderBudget(spent=1.25, reserved=0, limit=None).format("x") == "x 1.25 spent credits"
