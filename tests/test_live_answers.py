"""The six example manifests against an emulator answering as the live APIs do, faults on.

xAI's HTTP 202 "still in progress" (often with an empty body), APIFrame results holding a
poster beside the video, 429s, 500s and 503s on every kind of request (a 5xx on a submit
may have created the job), failed and moderated jobs: every job must end done, failed with
its true reason, or ambiguous because its submit's answer really was lost — never abandoned
as an answer grokbatch could not read.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from grokbatch import providers
from grokbatch.state.base import JobState

from .conftest import REPO, Batch, environ_for

FAULTS = {
    "latency": 0.2,
    "xai_empty_202_rate": 0.5,
    "rate_limit_rate": 0.1,
    "server_error_rate": 0.1,
    "failure_rate": 0.1,
    "moderation_rate": 0.05,
    "retry_after": 0.05,
}
# Why a job may end failed: each is a real outcome at the provider, named by its class.
TRUE_REASONS = {"RemoteJobFailedError", "ModerationError"}
FAST = {"requests_per_minute": {}, "retries": 30}  # the examples' rate limits are real accounts'


@pytest.mark.slow
@pytest.mark.parametrize("provider", providers.NAMES)
def test_each_example_ends_every_job_done_or_failed_for_its_true_reason(
    batch: Callable[[str], Batch], provider: str
) -> None:
    text = (REPO / "pipelines" / f"{provider}.yaml").read_text(encoding="utf-8")
    b = batch(text)
    b.emu.configure(**FAULTS)
    summary = b.run(tuning=FAST)
    rows = b.rows()
    assert rows and summary.unfinished == 0, summary.to_json()
    for row in rows:
        if row.state is JobState.FAILED:
            assert row.error_kind in TRUE_REASONS, (row.error_kind, row.error)
        elif row.state is JobState.AMBIGUOUS:
            # Only a submit answered 5xx is left so, and never at APIFrame (its 503 created
            # nothing; its Idempotency-Key makes every other resend safe).
            assert provider != "apiframe" and "HTTP 50" in (row.error or ""), row.error
        else:
            assert row.state is JobState.DONE
        assert row.error_kind != "ProtocolError"
    stats = b.stats(provider)
    assert stats["duplicates"] == 0
    assert stats["rate_limited"] + stats["server_errors"] > 0  # the faults did happen


def test_a_bad_xai_key_stops_the_run_like_a_refused_key_elsewhere(
    batch: Callable[[str], Batch],
) -> None:
    """xAI answers a wrong key with HTTP 400 "Incorrect API key provided"."""
    results = {}
    for provider in ("xai", "apiframe"):
        b = batch((REPO / "pipelines" / f"{provider}.yaml").read_text(encoding="utf-8"))
        summary = b.run(env=environ_for(b.emu, key="xai-wrong-key-000"), tuning=FAST)
        results[provider] = summary
        assert b.stats(provider)["submissions"] == 0
        assert {r.state for r in b.rows()} == {JobState.PENDING}  # nothing created
    assert results["xai"].exit_code == results["apiframe"].exit_code == 2
    assert "XAI_API_KEY" in results["xai"].format()
    assert results["xai"].refused_keys == {"xai": "XAI_API_KEY"}


def test_an_xai_account_out_of_credits_stops_the_run_with_exit_3(
    batch: Callable[[str], Batch],
) -> None:
    """Out of credits, xAI answers 403 or 429 naming the team's credits (the emulator picks
    either; the adapter tests read both): a stop, never a rate limit to back off from."""
    b = batch((REPO / "pipelines" / "xai.yaml").read_text(encoding="utf-8"))
    b.emu.set_credits("xai", 0.0)
    summary = b.run(tuning=FAST)
    assert summary.exit_code == 3 and summary.credits_exhausted
    assert "retry" not in b.reporter.kinds()  # not backed off from as a rate limit
    assert {r.state for r in b.rows()} == {JobState.PENDING}
    answers = b.stats("xai")
    assert answers["submissions"] == 0 and answers["rejected"] >= 1
