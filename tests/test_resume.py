"""The resume table: what a run does with every stored state, with and without the flags."""

from __future__ import annotations

import dataclasses

import pytest

from grokbatch.resume import Action, decide
from grokbatch.state.base import JobRow, JobState

ROW = JobRow(
    manifest="m", key="k", provider="apiframe", model=None, prompt_id="p", coords={},
    request={}, output_path="a.mp4", state=JobState.PENDING, remote_id="r1",
    remote_status=None, attempts=1, estimated_credits=10, estimated_usd=None,
    price_basis="published", reserved_credits=0, spent_credits=0, reserved_usd=0, spent_usd=0,
    charged_credits=None, charged_usd=None, size=3, sha256="ab", error=None, error_kind=None,
    created_at="", updated_at="", submitted_at=None, finished_at=None,
)


def row(state: JobState) -> JobRow:
    return dataclasses.replace(ROW, state=state)


CASES = [
    (None, {}, Action.SUBMIT),
    (JobState.PENDING, {}, Action.SUBMIT),
    (JobState.SUBMITTING, {"idempotent": True}, Action.RESEND),
    (JobState.SUBMITTING, {"idempotent": False}, Action.MARK_AMBIGUOUS),
    (JobState.SUBMITTING, {"idempotent": False, "resubmit_ambiguous": True},
     Action.MARK_AMBIGUOUS),
    (JobState.RUNNING, {}, Action.ATTACH),
    (JobState.READY, {}, Action.FETCH),
    (JobState.DONE, {"ok": True}, Action.SKIP_DONE),
    (JobState.DONE, {"ok": False}, Action.REFETCH),
    (JobState.FAILED, {}, Action.SKIP_FAILED),
    (JobState.FAILED, {"retry_failed": True}, Action.RETRY),
    (JobState.AMBIGUOUS, {}, Action.SKIP_AMBIGUOUS),
    (JobState.AMBIGUOUS, {"retry_failed": True}, Action.SKIP_AMBIGUOUS),
    (JobState.AMBIGUOUS, {"resubmit_ambiguous": True}, Action.RESUBMIT),
]


@pytest.mark.parametrize(("state", "opts", "expected"), CASES)
def test_decide(state: JobState | None, opts: dict[str, bool], expected: Action) -> None:
    got = decide(
        None if state is None else row(state),
        idempotent=opts.get("idempotent", False),
        retry_failed=opts.get("retry_failed", False),
        resubmit_ambiguous=opts.get("resubmit_ambiguous", False),
        output_ok=lambda r: opts.get("ok", True),
    )
    assert got is expected
