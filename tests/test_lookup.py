"""Lost submits looked up by a run, against the emulator: found jobs are attached (paid
once), jobs never made are submitted, and what cannot be told stays ambiguous with its way out.

Each test leaves jobs AMBIGUOUS in the state as a run cut off would (claimed, maybe sent,
answer lost), with the provider holding a job for some of them, then runs the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import httpx
import pytest

from grokbatch import providers
from grokbatch.books import record_for
from grokbatch.jobs import Job
from grokbatch.manifest import load
from grokbatch.state import Limits, open_store
from grokbatch.state.base import JobState
from grokbatch.workspace import JobSet

from .conftest import Batch


def manifest(provider: str, *, prompts: int = 2, takes: int = 0, extra: str = "") -> str:
    items = "\n".join(f"  - {{id: p{i}, template: 'Shot {i} of a lamp'}}" for i in range(prompts))
    axis = f"matrix: {{take: {list(range(1, takes + 1))}}}\n" if takes else ""
    path = "{{ prompt.id }}-{{ take }}" if takes else "{{ prompt.id }}"
    defaults = {"aimlapi": "defaults: {duration: 5, resolution: 480p}\n"}.get(provider, "")
    xai = "requests_per_minute: 6000, " if provider == "xai" else ""
    return (
        f"name: t-{provider}\nprovider: {provider}\nprompts:\n{items}\n{axis}{defaults}{extra}"
        f"output: {{path: '{path}.{{{{ ext }}}}'}}\n"
        f"limits: {{{xai}concurrency: 4}}\n"
    )


def lose(
    b: Batch, *, made: Collection[int], together: bool = False, manifest_name: str | None = None
) -> list[Job]:
    """Claim every job, send the submits of the jobs numbered in `made`, and lose every
    answer: the state says AMBIGUOUS, the provider holds a job for `made` only. One after
    the other, or `together` (all on the wire at once)."""
    m = load(b.path)
    name = manifest_name or m.name
    jobs = list(JobSet(m))
    with open_store(b.db) as store, httpx.Client(timeout=5.0) as http:
        run = store.start_run(manifest=name, manifest_path=str(b.path), options={})
        store.add_jobs(name, [record_for(j) for j in jobs], run_id=run)
        for i, job in enumerate(jobs):
            adapter = providers.get(job.provider)
            row = store.reserve(
                name, job.key, run_id=run, credits=job.credits, usd=job.usd, limits=Limits()
            )
            request_id = adapter.client_request_id(job, row.attempts)
            store.record_submit(name, job.key, attempt=row.attempts, client_request_id=request_id)
            if i in made:
                req = adapter.submit_request(job, row.attempts)
                headers = req.headers | adapter.auth_headers(b.emu.api_key(job.provider))
                url = b.emu.base_url(job.provider) + req.path
                assert http.post(url, json=req.json, headers=headers).is_success
            if not together:
                store.mark_ambiguous(name, job.key, run_id=run, error="lost", error_kind="X")
        for job in jobs if together else ():
            store.mark_ambiguous(name, job.key, run_id=run, error="lost", error_kind="X")
    return jobs


def events(b: Batch, kind: str) -> list[dict[str, object]]:
    with open_store(b.db) as store:
        return [e for e in store.events(load(b.path).name) if e["kind"] == kind]


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["aimlapi", "vydra"])
def test_a_lost_submit_found_is_attached_and_one_never_made_is_submitted(
    batch: Callable[[str], Batch], provider: str
) -> None:
    b = batch(manifest(provider))
    jobs = lose(b, made={0})
    # The emulator shares grokbatch's clock: no margin is needed to place its jobs in time.
    summary = b.run(tuning={"clock_skew": 0.0})
    assert summary.exit_code == 0, summary.format()
    rows = {r.key: r for r in b.rows()}
    assert all(r.state is JobState.DONE for r in rows.values())
    stats = b.stats(provider)
    assert (stats["paid"], stats["duplicates"], stats["submissions"]) == (2, 0, 2)
    found, made_now = rows[jobs[0].key], rows[jobs[1].key]
    assert found.attempts == 1 and made_now.attempts == 2  # a new attempt: a new request id
    (attached,) = events(b, "attached")
    (released,) = events(b, "not_created")
    assert attached["job_key"] == jobs[0].key and released["job_key"] == jobs[1].key
    assert attached["detail"]["by"] == "lookup"  # type: ignore[index]
    # Paid once each: the found job's reservation settled to its charge, nothing left over.
    assert sum(r.reserved_credits for r in rows.values()) == 0
    kinds = b.reporter.kinds()
    assert "found" in kinds and "not_created" in kinds


def test_a_submit_whose_answer_is_lost_mid_run_is_found_in_the_same_run(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("aimlapi", prompts=4))
    b.emu.configure(lost_response_rate=1.0)  # every job made, every answer lost
    summary = b.run()
    assert summary.exit_code == 0, summary.format()
    assert {r.state for r in b.rows()} == {JobState.DONE}
    stats = b.stats("aimlapi")
    assert (stats["paid"], stats["duplicates"], stats["lost_responses"]) == (4, 0, 4)


def test_vydra_lost_submits_one_at_a_time_are_told_apart_by_time(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("vydra", prompts=3, extra="") .replace(
        "concurrency: 4", "concurrency: 4, provider_concurrency: {vydra: 1}"))  # fmt: skip
    b.emu.configure(lost_response_rate=1.0)
    summary = b.run(tuning={"clock_skew": 0.0})
    assert summary.exit_code == 0, summary.format()
    stats = b.stats("vydra")
    assert (stats["paid"], stats["duplicates"], stats["lost_responses"]) == (3, 0, 3)


def test_takes_of_one_request_share_the_job_made_and_the_other_is_submitted(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("vydra", prompts=1, takes=2))
    jobs = lose(b, made={1}, together=True)  # one job made while both were on the wire
    summary = b.run()
    assert summary.exit_code == 0, (summary.format(), b.reporter.events)
    rows = b.rows()
    assert {r.state for r in rows} == {JobState.DONE}
    assert len({r.remote_id for r in rows}) == 2  # never one remote job for both takes
    assert b.stats("vydra")["paid"] == 2  # one made then, one submitted now
    assert {e["job_key"] for e in events(b, "attached")} < {j.key for j in jobs}


def test_different_requests_lost_at_the_same_moment_stay_ambiguous_with_the_way_out(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("vydra"))
    lose(b, made={0}, together=True)  # one job made while both were on the wire: whose?
    summary = b.run()
    assert summary.exit_code == 1 and len(summary.ambiguous) == 2
    assert b.stats("vydra")["paid"] == 1  # nothing resent
    told = [d for k, _, d in b.reporter.events if k == "ambiguous" and "grokbatch attach" in d]
    assert len(told) == 2 and all("grokbatch not-created" in d for d in told)
    assert not events(b, "attached") and not events(b, "not_created")


def test_apiframe_replays_the_idempotency_key_of_an_ambiguous_job(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("apiframe"))
    lose(b, made={0})
    summary = b.run()
    assert summary.exit_code == 0, summary.format()
    stats = b.stats("apiframe")
    # The replay returned job 0's job, and made job 1's: each paid once.
    assert (stats["paid"], stats["duplicates"], stats["replays"]) == (2, 0, 1)


@pytest.mark.parametrize("provider", ["aivideoapi", "pixeldojo", "xai"])
def test_without_a_lookup_an_ambiguous_job_stays_so_and_says_how_to_settle_it(
    batch: Callable[[str], Batch], provider: str
) -> None:
    b = batch(manifest(provider, prompts=1))
    lose(b, made={0})
    summary = b.run()
    assert summary.exit_code == 1 and len(summary.ambiguous) == 1
    (told,) = [d for k, _, d in b.reporter.events if k == "ambiguous"]
    assert "offers no way to look up a submit" in told and "grokbatch attach" in told
    assert b.stats(provider)["submissions"] == 1


def test_a_remote_id_another_manifest_has_is_never_attached(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("vydra", prompts=1))
    (job,) = JobSet(load(b.path))
    with open_store(b.db) as store:  # claimed: on the wire from here on
        run = store.start_run(manifest="t-vydra", manifest_path=str(b.path), options={})
        store.add_jobs("t-vydra", [record_for(job)], run_id=run)
        store.reserve("t-vydra", job.key, run_id=run, credits=150, usd=None, limits=Limits())
    # Meanwhile the same request, in another manifest, made a job and was recorded.
    lose(b, made={0}, manifest_name="elsewhere")
    (remote,) = [j.id for j in b.emu.backend.ledger.of("vydra")]
    with open_store(b.db) as store:
        store.attach("elsewhere", job.key, run_id=None, remote_id=remote, detail={})
        store.mark_ambiguous("t-vydra", job.key, run_id=run, error="lost", error_kind="X")
    summary = b.run(tuning={"clock_skew": 0.0})
    assert summary.exit_code == 0, summary.format()
    (row,) = b.rows()
    assert row.remote_id != remote and row.attempts == 2  # it made none: submitted now
    assert b.stats("vydra")["paid"] == 2
