"""The runner end to end: real adapters, real HTTP, the emulator on loopback, a real store.

Each test states one promise a user relies on (never pay twice, never pass the budget,
resume exactly) and checks it on both sides: grokbatch's state database and the emulator's
own counters, which know what was really submitted and charged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from grokbatch import providers
from grokbatch.manifest import load
from grokbatch.state import open_store
from grokbatch.state.base import JobRow, JobState

from .conftest import Batch, environ_for


def manifest(provider: str, *, prompts: int = 2, extra: str = "", limits: str = "") -> str:
    if provider == "xai" and "requests_per_minute" not in limits:
        # xAI is paced at 1 request a second by default: lifted so tests poll fast.
        limits = ", ".join(filter(None, [limits, "requests_per_minute: 6000"]))
    items = "\n".join(f"  - {{id: p{i}, template: 'Shot {i} of a lamp'}}" for i in range(prompts))
    return (
        f"name: t-{provider}\nprovider: {provider}\nprompts:\n{items}\n{extra}"
        f"output: {{path: '{{{{ prompt.id }}}}.{{{{ ext }}}}'}}\n"
        f"limits: {{concurrency: 10{', ' + limits if limits else ''}}}\n"
    )


PER_PROVIDER = {
    "pixeldojo": "",
    "aimlapi": "defaults: {duration: 5, resolution: 480p}\n",
    "aivideoapi": "defaults: {duration: 6}\n",
    "apiframe": "",
    "vydra": "",
    "xai": "defaults: {duration: 4, resolution: 480p}\n",
}


def assert_valid_output(path: Path, row: JobRow) -> None:
    data = path.read_bytes()
    assert row.size == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    if path.suffix == ".mp4":
        assert data[4:8] == b"ftyp", "not an MP4"
    else:
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"


# --- each provider, end to end ---------------------------------------------------------------


@pytest.mark.parametrize("provider", providers.NAMES)
def test_each_provider_runs_end_to_end(batch: Callable[[str], Batch], provider: str) -> None:
    b = batch(manifest(provider, extra=PER_PROVIDER[provider]))
    summary = b.run()
    assert summary.exit_code == 0, summary.to_json()
    rows = b.rows()
    assert [r.state for r in rows] == [JobState.DONE, JobState.DONE]
    for row in rows:
        assert row.remote_id
        assert_valid_output(b.out / row.output_path, row)
        assert row.spent_credits > 0
    stats = b.stats(provider)
    assert stats["submissions"] == 2 and stats["duplicates"] == 0
    assert stats["downloads"] == 2
    # What grokbatch recorded as spent is what the provider charged.
    assert sum(r.spent_credits for r in rows) == pytest.approx(
        stats["credits_charged"] - stats["credits_refunded"]
    )


def test_vydra_images_come_back_at_once(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("vydra", extra="defaults: {type: image}\n"))
    assert b.run().exit_code == 0
    rows = b.rows()
    assert all(r.output_path.endswith(".png") for r in rows)
    for row in rows:
        assert_valid_output(b.out / row.output_path, row)
    assert b.stats("vydra")["polls"] == 0  # synchronous: nothing to poll
    assert sum(r.spent_credits for r in rows) == 16


def test_actual_charge_is_recorded_next_to_the_estimate(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("aimlapi", extra=PER_PROVIDER["aimlapi"]))
    assert b.run().exit_code == 0
    for row in b.rows():
        assert row.price_basis == "guessed"
        assert row.charged_credits is not None and row.charged_credits > 0
        assert row.estimated_credits > 0


# --- resume ----------------------------------------------------------------------------------


def test_a_rerun_skips_what_is_done_and_pays_nothing(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("aivideoapi", prompts=3))
    assert b.run().exit_code == 0
    before = b.stats("aivideoapi")
    again = b.run()
    assert again.exit_code == 0 and again.submitted == 0
    after = b.stats("aivideoapi")
    assert after["submissions"] == before["submissions"] == 3
    assert after["downloads"] == before["downloads"]


def test_a_missing_output_is_downloaded_again_without_a_new_submit(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("apiframe"))
    assert b.run().exit_code == 0
    victim = b.rows()[0]
    (b.out / victim.output_path).unlink()
    assert b.run().exit_code == 0
    assert b.stats("apiframe")["submissions"] == 2
    assert (b.out / victim.output_path).exists()
    assert b.stats("apiframe")["downloads"] == 3


@pytest.mark.slow
def test_a_rerun_re_attaches_to_jobs_still_running(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("xai", extra=PER_PROVIDER["xai"]))
    b.emu.configure(latency=1.5)
    first = b.run(tuning={"job_timeout": 0.3})  # give up watching long before they finish
    assert first.exit_code == 1
    assert {r.state for r in b.rows()} == {JobState.RUNNING}
    assert "unfinished" in b.reporter.kinds()
    b.emu.configure(latency=0.0)
    second = b.run()
    assert second.exit_code == 0 and second.submitted == 0
    assert "attached" in b.reporter.kinds()
    assert b.stats("xai")["submissions"] == 2


def test_a_changed_template_is_a_new_job_and_the_old_one_stays(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("apiframe", prompts=1))
    assert b.run().exit_code == 0
    b.path.write_text(b.path.read_text().replace("Shot 0", "Wide shot 0"), encoding="utf-8")
    assert b.run().exit_code == 0
    assert len(b.rows()) == 2
    assert b.stats("apiframe")["submissions"] == 2


# --- the budget --------------------------------------------------------------------------------


@pytest.mark.slow
def test_budget_holds_with_100_jobs_in_flight(batch: Callable[[str], Batch]) -> None:
    # 300 jobs at 10 credits, 100 in flight, budget 1000: exactly 100 fit.
    b = batch(
        "name: budget\nprovider: apiframe\n"
        "prompts: [{id: p, template: 'Lamp {{ n }}'}]\n"
        f"matrix: {{n: {json.dumps(list(range(300)))}}}\n"
        "output: {path: '{{ n }}.mp4'}\n"
        "limits: {concurrency: 100, max_credits: 1000}\n"
    )
    b.emu.configure(latency=0.3)
    summary = b.run()
    assert summary.exit_code == 3, summary.to_json()
    rows = b.rows()
    assert sum(r.spent_credits for r in rows) <= 1000
    assert sum(1 for r in rows if r.state is JobState.DONE) == 100
    stats = b.stats("apiframe")
    assert stats["credits_charged"] <= 1000 and stats["submissions"] == 100
    assert "budget" in b.reporter.kinds()
    # The budget counts over every run: a rerun submits nothing more.
    again = b.run()
    assert again.exit_code == 3 and again.submitted == 0


def test_plan_and_run_agree_on_the_budget_flag(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("apiframe", prompts=3))
    summary = b.run(max_credits={"apiframe": 25})  # 2 jobs of 10 fit, not 3
    assert summary.exit_code == 3
    assert b.stats("apiframe")["submissions"] == 2


def test_out_of_credits_stops_new_submissions(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("vydra", prompts=6, limits="", extra=""))
    b.emu.set_credits("vydra", 150 * 2 + 10)  # two videos, then the balance is short
    summary = b.run(concurrency=1)
    assert summary.exit_code == 3 and summary.credits_exhausted
    assert "out_of_credits" in b.reporter.kinds()
    states = [r.state for r in b.rows()]
    assert states.count(JobState.DONE) == 2
    assert JobState.FAILED not in states  # not failed: they can run once credits are bought
    assert b.stats("vydra")["submissions"] == 2


# --- what cannot be known: lost answers ---------------------------------------------------------


def test_a_lost_submit_answer_is_reported_not_resent(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("aivideoapi"))
    b.emu.configure(lost_response_rate=1.0)
    summary = b.run()
    assert summary.exit_code == 1
    assert len(summary.ambiguous) == 2
    assert {r.state for r in b.rows()} == {JobState.AMBIGUOUS}
    assert b.stats("aivideoapi")["submissions"] == 2  # created and charged at the provider
    b.emu.configure(lost_response_rate=0.0)
    again = b.run()
    assert again.exit_code == 1 and again.submitted == 0
    assert b.stats("aivideoapi")["submissions"] == 2  # never resent blindly
    # Asked explicitly, grokbatch resends them, and the provider charges twice.
    forced = b.run(resubmit_ambiguous=True)
    assert forced.exit_code == 0
    assert b.stats("aivideoapi")["duplicates"] == 2


def test_apiframe_resends_a_lost_submit_with_its_idempotency_key(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("apiframe", prompts=3))
    b.emu.configure(lost_response_rate=0.5)
    summary = b.run()
    assert summary.exit_code == 0, summary.to_json()
    stats = b.stats("apiframe")
    assert stats["duplicates"] == 0 and stats["paid"] == 3
    assert stats["lost_responses"] > 0 and stats["replays"] >= stats["lost_responses"]


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", providers.NAMES)
def test_rate_limits_and_server_errors_are_retried_without_paying_twice(
    batch: Callable[[str], Batch], provider: str
) -> None:
    b = batch(manifest(provider, prompts=4, extra=PER_PROVIDER[provider]))
    b.emu.configure(rate_limit_rate=0.3, server_error_rate=0.2, retry_after=0.05)
    summary = b.run(tuning={"retries": 12})
    stats = b.stats(provider)
    assert stats["rate_limited"] + stats["server_errors"] > 0  # the faults did happen
    assert stats["duplicates"] == 0
    done = sum(1 for r in b.rows() if r.state is JobState.DONE)
    # A 5xx on a submit may hide an accepted job; only a provider with idempotency keys can
    # resend it, the others report it as ambiguous.
    assert done + len(summary.ambiguous) == 4
    if provider == "apiframe":
        assert done == 4


def test_a_failed_job_is_refunded_and_retried_only_when_asked(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("apiframe"))
    b.emu.configure(failure_rate=1.0)
    summary = b.run()
    assert summary.exit_code == 1 and len(summary.failed) == 2
    rows = b.rows()
    assert all(r.state is JobState.FAILED and r.error for r in rows)
    assert sum(r.spent_credits for r in rows) == 0  # APIFrame refunds failures
    b.emu.configure(failure_rate=0.0)
    assert b.run().submitted == 0
    retried = b.run(retry_failed=True)
    assert retried.exit_code == 0 and retried.submitted == 2


def test_moderation_is_reported_as_such(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("xai", prompts=1, extra=PER_PROVIDER["xai"]))
    b.emu.configure(moderation_rate=1.0)
    assert b.run().exit_code == 1
    [row] = b.rows()
    assert row.error_kind == "ModerationError"


def test_a_refused_key_stops_that_provider_and_is_never_shown(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("pixeldojo", prompts=3))
    b.emu.configure(api_key="the-right-key")
    secret = "sk-wrong-key-0123456789"
    summary = b.run(env=environ_for(b.emu, key=secret))
    assert summary.exit_code == 2  # the environment is wrong, as for a missing key
    assert summary.refused_keys == {"pixeldojo": "PIXELDOJO_API_KEY"}
    assert "PIXELDOJO_API_KEY" in summary.format()
    assert "auth_failed" in b.reporter.kinds()
    assert b.stats("pixeldojo")["submissions"] == 0
    assert secret not in json.dumps(summary.to_json())
    assert secret not in json.dumps([e for e in b.reporter.events])
    assert secret.encode() not in b.db.read_bytes()
    # Nothing was created, so nothing failed: with the right key a rerun does them all.
    assert {r.state for r in b.rows()} == {JobState.PENDING}
    assert b.run(env=environ_for(b.emu, key="the-right-key")).exit_code == 0
    assert b.stats("pixeldojo")["submissions"] == 3


def test_an_expired_output_url_fails_the_job_with_that_reason(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("aivideoapi", prompts=1))
    b.emu.configure(url_ttl=0.0)
    assert b.run().exit_code == 1
    [row] = b.rows()
    assert row.error_kind == "OutputExpiredError"


@pytest.mark.slow
def test_a_thousand_jobs_at_concurrency_50_with_faults(batch: Callable[[str], Batch]) -> None:
    """The runner's acceptance run: every output downloaded once, budget kept, no double pay."""
    numbers = json.dumps(list(range(500)))
    b = batch(
        "name: thousand\nprompts: [{id: p, template: 'Lamp {{ n }}'}]\n"
        f"matrix:\n  provider: [apiframe, aivideoapi]\n  n: {numbers}\n"
        "defaults: {duration: 6}\noutput: {path: '{{ provider }}/{{ n }}.mp4'}\n"
        "limits: {concurrency: 50, max_credits: {apiframe: 5000, aivideoapi: 7500}}\n"
    )
    b.emu.configure(latency=0.2, rate_limit_rate=0.05, server_error_rate=0.02, retry_after=0.05)
    summary = b.run(tuning={"retries": 20})
    rows = b.rows()
    assert len(rows) == 1000
    # A 5xx answer to a submit may hide a created job: only APIFrame documents that its 503
    # created nothing (and takes an idempotency key), so only AI Video API's are ambiguous.
    ambiguous = [r for r in rows if r.state is JobState.AMBIGUOUS]
    assert {r.provider for r in ambiguous} <= {"aivideoapi"}
    assert all("HTTP 50" in (r.error or "") for r in ambiguous)
    assert all(r.state is JobState.DONE for r in rows if r.state is not JobState.AMBIGUOUS)
    assert summary.exit_code == (1 if ambiguous else 0), summary.to_json()
    for name, budget in (("apiframe", 5000), ("aivideoapi", 7500)):
        stats = b.stats(name)
        done = sum(1 for r in rows if r.provider == name and r.state is JobState.DONE)
        assert stats["rate_limited"] > 0 and stats["server_errors"] > 0
        unsure = sum(1 for r in ambiguous if r.provider == name)
        # A 5xx may have created the job: those are exactly the ambiguous ones, never resent.
        assert done <= stats["submissions"] <= done + unsure and stats["duplicates"] == 0
        assert stats["downloads"] == done  # each output downloaded exactly once
        assert stats["credits_charged"] <= budget
        assert sum(r.spent_credits for r in rows if r.provider == name) <= budget


@pytest.mark.slow
def test_provider_concurrency_caps_jobs_in_flight_at_one_provider(
    batch: Callable[[str], Batch],
) -> None:
    # Vydra's plans cap concurrent jobs: at most 2 here, though 10 may run overall.
    b = batch(manifest("vydra", prompts=6, limits="provider_concurrency: {vydra: 2}"))
    b.emu.configure(latency=0.3)
    assert b.run().exit_code == 0
    # A job runs at the provider from its submit until it is seen finished; its download
    # holds no place there, and the next job is submitted meanwhile.
    with open_store(b.db) as store:
        log = list(store.events(load(b.path).name))
    running: set[str] = set()
    downloading: set[str] = set()
    peak, overlapped = 0, False
    for event in log:
        kind, key = event["kind"], event["job_key"]
        if kind == "submitted":
            running.add(key)
            peak = max(peak, len(running))
            overlapped = overlapped or bool(downloading)
        elif kind == "ready":
            running.discard(key)
            downloading.add(key)
        elif kind in ("done", "failed"):
            running.discard(key)
            downloading.discard(key)
    assert peak == 2
    assert overlapped, "a submit waited for another job's download"
