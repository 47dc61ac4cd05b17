"""Claims, owners and leases in the state store, on SQLite and on PostgreSQL alike.

A job in flight belongs to the runner that claimed it; no other runner changes it while
that runner's lease is live, and any runner may take it over once the lease has lapsed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from grokbatch.errors import BudgetExceededError
from grokbatch.state import (
    JobRecord,
    JobState,
    Limits,
    StateConflictError,
    StateStore,
    open_store,
)
from grokbatch.state.transitions import TRANSITIONS, Claim, Event

from .backends import db_location  # noqa: F401  (a fixture)

M = "claims"


def record(i: int, *, provider: str = "apiframe", credits: float = 10.0) -> JobRecord:
    return JobRecord(
        key=f"k{i:05d}",
        provider=provider,
        model=None,
        prompt_id="p",
        coords={"i": i},
        request={"prompt": f"take {i}"},
        output_path=f"{i}.mp4",
        estimated_credits=credits,
        estimated_usd=None,
        price_basis="published",
    )


@pytest.fixture
def store(db_location: str) -> Iterator[StateStore]:  # noqa: F811
    s = open_store(db_location)
    yield s
    s.close()


def started(store: StateStore, jobs: int = 3, *, lease: float = 60.0) -> tuple[int, str]:
    run = store.start_run(manifest=M, manifest_path="m.yaml", options={})
    store.add_jobs(M, [record(i) for i in range(jobs)], run_id=run)
    return run, store.register_runner(run_id=run, manifest=M, lease=lease)


def claim(store: StateStore, run: int, runner: str, i: int = 0) -> Any:
    return store.reserve(
        M, f"k{i:05d}", run_id=run, credits=10.0, usd=None, limits=Limits(), runner=runner
    )


def test_every_in_flight_change_needs_the_holder_and_a_takeover_needs_a_lapsed_lease() -> None:
    # The table itself: what starts from a state no job is in flight in (a claim, a reopen,
    # a reset, settling a lost submit) starts from "held by nobody"; the rest needs a holder.
    for event, transition in TRANSITIONS.items():
        if not any(state.in_flight for state in transition.sources):
            assert transition.claim is Claim.NONE, event
        elif event is Event.TAKEN_OVER:
            assert transition.claim is Claim.LAPSED
        else:
            assert transition.claim is Claim.OWN, event


def test_a_claim_belongs_to_its_runner_and_no_other_runner_changes_it(store: StateStore) -> None:
    run, a = started(store)
    b = store.register_runner(run_id=run, manifest=M, lease=60.0)
    row = claim(store, run, a)
    assert (row.state, row.owner) == (JobState.SUBMITTING, a)
    for attempt in (
        lambda: store.mark_ambiguous(M, "k00000", run_id=run, error="x", error_kind="X", runner=b),
        lambda: store.mark_submitted(
            M, "k00000", run_id=run, remote_id="r", charged=None, runner=b
        ),
        lambda: store.release(
            M, "k00000", run_id=run, error="x", error_kind="X", failed=False, runner=b
        ),
        lambda: store.take_over(M, "k00000", run_id=run, runner=b),
        lambda: claim(store, run, b),
    ):
        with pytest.raises(StateConflictError):
            attempt()
    row = store.get(M, "k00000")
    assert row is not None and (row.state, row.owner) == (JobState.SUBMITTING, a)
    # Its own runner carries on; the job is held until it is no longer in flight.
    row = store.mark_submitted(M, "k00000", run_id=run, remote_id="r1", charged=None, runner=a)
    assert (row.state, row.owner) == (JobState.RUNNING, a)
    row = store.mark_ready(M, "k00000", run_id=run, charged_credits=10, charged_usd=None, runner=a)
    row = store.mark_done(
        M, "k00000", run_id=run, output_path="0.mp4", size=1, sha256="s", runner=a
    )
    assert (row.state, row.owner) == (JobState.DONE, None)


def test_a_stopped_runners_jobs_are_taken_over_in_the_state_they_were_left(
    store: StateStore,
) -> None:
    run, a = started(store)
    claim(store, run, a, 0)
    claim(store, run, a, 1)
    store.mark_submitted(M, "k00001", run_id=run, remote_id="r1", charged=None, runner=a)
    b = store.register_runner(run_id=run, manifest=M, lease=60.0)
    store.retire_runner(a)  # a run that ends, however it ends, frees its jobs at once
    assert [r.id for r in store.runners(live=True)] == [b]
    taken = store.take_over(M, "k00001", run_id=run, runner=b)
    assert (taken.state, taken.owner, taken.remote_id) == (JobState.RUNNING, b, "r1")
    taken = store.take_over(M, "k00000", run_id=run, runner=b)
    assert (taken.state, taken.owner) == (JobState.SUBMITTING, b)
    # The old holder is out: its late transitions change nothing.
    with pytest.raises(StateConflictError):
        store.mark_ready(M, "k00001", run_id=run, charged_credits=1, charged_usd=None, runner=a)
    events = [e for e in store.events(M) if e["kind"] == "taken_over"]
    assert [e["detail"]["previous_owner"] for e in events] == [a, a]


def test_a_lease_that_is_not_renewed_lapses_and_renewing_keeps_it(store: StateStore) -> None:
    run, a = started(store, lease=0.0)  # lapsed as soon as it is written
    b = store.register_runner(run_id=run, manifest=M, lease=3600.0)
    claim(store, run, a)
    assert store.renew_lease(b) is True
    assert store.renew_lease(a) is False  # it had lapsed: its jobs may be gone
    run2, c = run, store.register_runner(run_id=run, manifest=M, lease=3600.0)
    claim(store, run2, c, 1)
    with pytest.raises(StateConflictError, match="lease is live"):
        store.take_over(M, "k00001", run_id=run, runner=b)
    assert {r.id for r in store.runners(live=True)} == {b, c}


def test_a_job_a_runner_leaves_is_held_by_nobody_and_free_at_once(store: StateStore) -> None:
    run, a = started(store)
    b = store.register_runner(run_id=run, manifest=M, lease=60.0)
    claim(store, run, a)
    store.mark_submitted(M, "k00000", run_id=run, remote_id="r1", charged=None, runner=a)
    left = store.leave(M, "k00000", run_id=run, runner=a, reason="job timeout")
    assert (left.state, left.owner) == (JobState.RUNNING, None)
    assert store.take_over(M, "k00000", run_id=run, runner=b).owner == b


def test_a_runner_whose_process_died_on_this_host_is_taken_over_without_waiting(
    db_location: str,  # noqa: F811
) -> None:
    # Another process claims a job and dies without a word (no retire): its lease is an
    # hour, but its process is gone from this very host.
    script = (
        "import os, sys\n"
        "from grokbatch.state import open_store, Limits, JobRecord\n"
        "s = open_store(sys.argv[1])\n"
        "run = s.start_run(manifest='claims', manifest_path='m', options={})\n"
        "s.add_jobs('claims', [JobRecord('k', 'apiframe', None, 'p', {}, {}, 'a.mp4', 10.0,"
        " None, 'published')], run_id=run)\n"
        "r = s.register_runner(run_id=run, manifest='claims', lease=3600)\n"
        "s.reserve('claims', 'k', run_id=run, credits=10, usd=None, limits=Limits(), runner=r)\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, db_location], check=True, timeout=60)
    store = open_store(db_location)
    try:
        (dead,) = store.runners()
        assert not dead.live and dead.stopped_at is None
        me = store.register_runner(run_id=dead.run_id, manifest=M, lease=60.0)
        row = store.take_over(M, "k", run_id=dead.run_id, runner=me)
        assert (row.state, row.owner) == (JobState.SUBMITTING, me)
    finally:
        store.close()


def test_two_runners_racing_for_each_job_claim_each_exactly_once(db_location: str) -> None:  # noqa: F811
    setup = open_store(db_location)
    run, _ = started(setup, jobs=60)
    winners: dict[str, list[str]] = {}
    lock = threading.Lock()

    def race(n: int) -> None:
        s = open_store(db_location)
        try:
            me = s.register_runner(run_id=run, manifest=M, lease=60.0)
            for i in range(60):
                try:
                    row = claim(s, run, me, i)
                except StateConflictError:
                    continue
                with lock:
                    winners.setdefault(row.key, []).append(me)
        finally:
            s.close()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(winners) == 60 and all(len(w) == 1 for w in winners.values())
        owners = {row.owner for row in setup.jobs(M)}
        assert owners == {w[0] for w in winners.values()}  # each row names its winner
    finally:
        setup.close()


def test_concurrent_reservations_never_pass_the_cap(db_location: str) -> None:  # noqa: F811
    setup = open_store(db_location)
    run, _ = started(setup, jobs=200)
    limits = Limits(max_credits=505.0)  # room for 50 jobs of 10 credits, not 51
    fitted: list[str] = []
    lock = threading.Lock()

    def reserve_all(offset: int) -> None:
        s = open_store(db_location)
        try:
            me = s.register_runner(run_id=run, manifest=M, lease=60.0)
            for j in range(200):
                key = f"k{(j + offset) % 200:05d}"  # every runner starts elsewhere
                try:
                    s.reserve(M, key, run_id=run, credits=10.0, usd=None, limits=limits, runner=me)
                except (StateConflictError, BudgetExceededError):
                    continue
                with lock:
                    fitted.append(key)
        finally:
            s.close()

    threads = [threading.Thread(target=reserve_all, args=(50 * n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        usage = setup.usage(M)["apiframe"]
        assert len(fitted) == len(set(fitted)) == 50
        assert usage.committed_credits == 500.0
        assert sum(r.reserved_credits for r in setup.jobs(M)) == 500.0  # totals = rows
    finally:
        setup.close()


def test_status_says_who_holds_each_job_in_flight(store: StateStore) -> None:
    from grokbatch.status import format_status, job_status

    run, a = started(store, jobs=2)
    claim(store, run, a, 0)
    store.mark_submitted(M, "k00000", run_id=run, remote_id="r1", charged=None, runner=a)
    store.record_status(M, "k00000", run_id=run, remote_status="PROCESSING", runner=a)
    status = job_status(store, M, ["k00000", "k00001"], show=None)
    text = format_status(status)
    assert f"running now: {a}" in text
    assert f"PROCESSING at apiframe (id r1)  [held by {a}]" in text
    assert status.to_json()["rows"][0]["owner"] == a
    store.retire_runner(a)
    text = format_status(job_status(store, M, ["k00000", "k00001"], show=None))
    assert f"[left by stopped runner {a}]" in text and "running now" not in text


def test_a_usd_budget_spans_every_provider(store: StateStore) -> None:
    run = store.start_run(manifest=M, manifest_path="m.yaml", options={})
    jobs = [record(i, provider=("xai", "aivideoapi")[i % 2]) for i in range(6)]
    store.add_jobs(M, jobs, run_id=run)
    me = store.register_runner(run_id=run, manifest=M, lease=60.0)
    limits = Limits(max_usd=1.0)
    fitted = []
    for job in jobs:
        try:
            store.reserve(M, job.key, run_id=run, credits=1.0, usd=0.3, limits=limits, runner=me)
        except BudgetExceededError as exc:
            assert "0.9 of 1 USD spent or reserved" in str(exc)
            continue
        fitted.append(job.provider)
    assert fitted == ["xai", "aivideoapi", "xai"]  # 0.9 USD over both; a fourth would pass 1
    blocked = [e["detail"] for e in store.events(M) if e["kind"] == "budget_blocked"]
    assert {b["committed"] for b in blocked} == {0.9} and len(blocked) == 3


@pytest.mark.parametrize(
    ("state", "held", "idempotent", "expected"),
    [
        (JobState.SUBMITTING, True, True, "skip_held"),
        (JobState.RUNNING, True, False, "skip_held"),
        (JobState.READY, True, False, "skip_held"),
        # Left by a runner that is gone: taken over, then what the state needs.
        (JobState.SUBMITTING, False, True, "resend"),
        (JobState.SUBMITTING, False, False, "mark_ambiguous"),
        (JobState.RUNNING, False, False, "attach"),
        (JobState.READY, False, False, "fetch"),
        # A job not in flight is nobody's: being "held" means nothing to it.
        (JobState.PENDING, True, False, "submit"),
        (JobState.DONE, True, False, "skip_done"),
    ],
)
def test_the_takeover_decision(
    state: JobState, held: bool, idempotent: bool, expected: str
) -> None:
    import dataclasses

    from grokbatch.resume import Action, decide

    from .test_resume import ROW

    row = dataclasses.replace(ROW, state=state, owner="run1@elsewhere:1")
    action = decide(
        row,
        idempotent=idempotent,
        retry_failed=False,
        resubmit_ambiguous=False,
        output_ok=lambda r: True,
        held=held,
    )
    assert action is Action(expected)
    assert action.takes_over == (state.in_flight and not held)
