"""What to do after a request fails: pure decisions, and the backoff between attempts.

Each decision is a function from facts (the error, the attempt, whether the provider takes
an idempotency key) to a `Decision`; none does I/O, so each is tested from a table. The
lifecycle carries the decision out: one store transition, one report event.

A submit is sent again only when that cannot pay twice: the provider certainly did not
create the job (`error.not_created`: a refused connection, or an answer the provider
documents as "nothing created"), or an idempotency key makes the resend return the job
already made. Every other lost answer is ambiguous: maybe paid, never resent blindly.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from .errors import (
    AuthenticationError,
    DownloadError,
    GrokbatchError,
    InsufficientCreditsError,
    NotFoundError,
    OutputExpiredError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
)


@dataclass
class Backoff:
    """Delays for attempt 0, 1, 2…: uniform in [0, min(cap, base × factor^attempt)].

    Full jitter spreads a crowd of retries (100 jobs hit by one outage) over the window
    instead of sending them back in lockstep. A Retry-After from the provider is a floor.
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(0, attempt))
        wait = self.rng.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, 3600.0))
        return wait


class Do(enum.Enum):
    """What a decision asks of the lifecycle."""

    RESEND = "resend"  # keep the claim, send the same request again after `delay`
    RETRY = "retry"  # release the claim (nothing was created), claim and send after `delay`
    AMBIGUOUS = "ambiguous"  # maybe created and paid: keep the reservation, never resend
    FAIL = "fail"  # the job cannot succeed: record it failed with the error
    STOP_CREDITS = "stop_credits"  # the account is empty: release, stop every submission
    STOP_AUTH = "stop_auth"  # the key was refused: release, stop this provider
    REFRESH = "refresh"  # the output URL expired: ask the provider for a fresh one
    GIVE_UP = "give_up"  # not now: leave the job as it is; a rerun takes it up again


@dataclass(frozen=True)
class Decision:
    do: Do
    delay: float = 0.0
    cool_down: float | None = None  # a 429's Retry-After: slow the whole provider down


def after_submit_error(
    error: GrokbatchError, *, idempotent: bool, attempt: int, retries: int, backoff: Backoff
) -> Decision:
    """What a failed submit means. `attempt` counts from 0."""
    if isinstance(error, InsufficientCreditsError):
        return Decision(Do.STOP_CREDITS)
    if isinstance(error, AuthenticationError):
        return Decision(Do.STOP_AUTH)
    if isinstance(error, (TransientError, ProtocolError)):
        cool = error.retry_after if isinstance(error, RateLimitedError) else None
        if isinstance(error, RateLimitedError) or error.not_created:
            # A 429 is an answer: the provider took nothing.
            again = Do.RESEND if idempotent else Do.RETRY
        elif idempotent:
            again = Do.RESEND
        else:
            return Decision(Do.AMBIGUOUS)
        if attempt >= retries:
            return Decision(Do.GIVE_UP, cool_down=cool)
        return Decision(again, backoff.delay(attempt, _retry_after(error)), cool)
    # An invalid request, an idempotency conflict, anything else the provider refused.
    return Decision(Do.FAIL)


def after_poll_error(
    error: GrokbatchError, *, failures: int, retries: int, backoff: Backoff
) -> Decision:
    """What a failed status check means. `failures` counts consecutive failures, from 1."""
    if isinstance(error, NotFoundError):
        return Decision(Do.FAIL)
    if isinstance(error, (TransientError, ProtocolError)):
        cool = error.retry_after if isinstance(error, RateLimitedError) else None
        if failures > retries:
            return Decision(Do.GIVE_UP, cool_down=cool)
        return Decision(Do.RETRY, backoff.delay(failures, _retry_after(error)), cool)
    return Decision(Do.GIVE_UP)


def after_download_error(
    error: BaseException, *, attempt: int, retries: int, refreshed: bool, backoff: Backoff
) -> Decision:
    """What a failed download means. `attempt` counts from 0; `refreshed`: a fresh URL
    was already asked for once."""
    if isinstance(error, OutputExpiredError):
        return Decision(Do.FAIL if refreshed else Do.REFRESH)
    if isinstance(error, TransientError):
        if attempt >= retries:
            return Decision(Do.GIVE_UP)
        return Decision(Do.RETRY, backoff.delay(attempt, error.retry_after))
    if isinstance(error, DownloadError):
        return Decision(Do.FAIL)
    # The local disk refused the file (full, read-only): the clip is still paid for and
    # fetchable, so the job stays ready and a rerun downloads it at no charge.
    return Decision(Do.GIVE_UP)


def _retry_after(error: ProviderError) -> float | None:
    return error.retry_after if isinstance(error, TransientError) else None
