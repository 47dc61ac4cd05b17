"""The pure decisions after a failed request, from tables: no I/O, no clock."""

from __future__ import annotations

import random

import pytest

from grokbatch.errors import (
    AuthenticationError,
    ConflictError,
    DownloadError,
    GrokbatchError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    OutputExpiredError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from grokbatch.retry import Backoff, Do, after_download_error, after_poll_error, after_submit_error

LOST = TransientError("read timeout", request_sent=True)  # the answer was lost
REFUSED = TransientError("connection refused", request_sent=False)  # never left
HTTP_503 = TransientError("unavailable", status_code=503)  # an answer, but maybe created
SLOW_DOWN = RateLimitedError("slow down", status_code=429, retry_after=7.0)
GARBLED = ProtocolError("not JSON")


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        # A lost answer may hide a paid job: never resent, unless a key makes it safe.
        (LOST, False, Do.AMBIGUOUS),
        (LOST, True, Do.RESEND),
        (GARBLED, False, Do.AMBIGUOUS),
        (GARBLED, True, Do.RESEND),
        # A 5xx is as ambiguous as a lost answer, unless the provider documents otherwise.
        (HTTP_503, False, Do.AMBIGUOUS),
        # APIFrame documents that its 503 created nothing.
        (TransientError("unavailable", status_code=503, not_created=True), False, Do.RETRY),
        # Nothing left the machine, or the provider said no: send again.
        (REFUSED, False, Do.RETRY),
        (REFUSED, True, Do.RESEND),
        (SLOW_DOWN, False, Do.RETRY),
        (SLOW_DOWN, True, Do.RESEND),
        # Stops.
        (InsufficientCreditsError("empty", status_code=402), False, Do.STOP_CREDITS),
        (AuthenticationError("bad key", status_code=401), True, Do.STOP_AUTH),
        # The provider refused this very request: the job fails, nothing was created.
        (InvalidRequestError("duration", status_code=400), False, Do.FAIL),
        (ConflictError("key reused", status_code=409), True, Do.FAIL),
        (NotFoundError("no such model", status_code=404), False, Do.FAIL),
    ],
)
def test_after_submit_error(error: GrokbatchError, idempotent: bool, expected: Do) -> None:
    decision = after_submit_error(
        error, idempotent=idempotent, attempt=0, retries=5, backoff=Backoff(rng=random.Random(1))
    )
    assert decision.do is expected


def test_a_429_cools_the_provider_and_waits_at_least_its_retry_after() -> None:
    decision = after_submit_error(
        SLOW_DOWN, idempotent=False, attempt=0, retries=5, backoff=Backoff(rng=random.Random(1))
    )
    assert decision.cool_down == 7.0 and decision.delay >= 7.0


def test_submit_retries_end_in_give_up_never_in_ambiguous() -> None:
    backoff = Backoff(rng=random.Random(1))
    for error in (REFUSED, SLOW_DOWN):
        assert (
            after_submit_error(error, idempotent=False, attempt=3, retries=3, backoff=backoff).do
            is Do.GIVE_UP
        )


@pytest.mark.parametrize(
    ("error", "failures", "expected"),
    [
        (LOST, 1, Do.RETRY),
        (SLOW_DOWN, 1, Do.RETRY),
        (GARBLED, 1, Do.RETRY),
        (LOST, 6, Do.GIVE_UP),  # past the retries: a rerun re-attaches
        (NotFoundError("gone", status_code=404), 1, Do.FAIL),
        (AuthenticationError("bad key", status_code=401), 1, Do.GIVE_UP),
    ],
)
def test_after_poll_error(error: GrokbatchError, failures: int, expected: Do) -> None:
    decision = after_poll_error(
        error, failures=failures, retries=5, backoff=Backoff(rng=random.Random(1))
    )
    assert decision.do is expected


@pytest.mark.parametrize(
    ("error", "attempt", "refreshed", "expected"),
    [
        (OutputExpiredError("403"), 0, False, Do.REFRESH),  # ask for a fresh URL once
        (OutputExpiredError("403"), 0, True, Do.FAIL),
        (TransientError("reset"), 0, False, Do.RETRY),
        (TransientError("reset"), 5, False, Do.GIVE_UP),
        (DownloadError("not an MP4"), 0, False, Do.FAIL),
        # The disk refused the file: the clip is paid and still fetchable; leave it ready.
        (OSError(28, "No space left on device"), 0, False, Do.GIVE_UP),
    ],
)
def test_after_download_error(
    error: BaseException, attempt: int, refreshed: bool, expected: Do
) -> None:
    decision = after_download_error(
        error, attempt=attempt, retries=5, refreshed=refreshed, backoff=Backoff()
    )
    assert decision.do is expected


def test_backoff_is_bounded_jittered_and_honours_retry_after() -> None:
    backoff = Backoff(base=0.5, factor=2.0, cap=8.0, rng=random.Random(1))
    delays = [backoff.delay(n) for n in range(10) for _ in range(50)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not lockstep
    assert all(backoff.delay(0, retry_after=3.0) >= 3.0 for _ in range(20))
    assert max(backoff.delay(0) for _ in range(200)) <= 0.5
