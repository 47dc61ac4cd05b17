"""The values that cross between grokbatch and an adapter: requests, answers, prices.

Plain frozen dataclasses with no behaviour beyond their own meaning, so that the adapters,
the client, the runner and the tests can share them without importing each other.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class RemoteState(enum.Enum):
    """Where a job stands at the provider, whatever the provider calls it."""

    QUEUED = "queued"  # accepted, not started
    RUNNING = "running"  # being generated
    SUCCEEDED = "succeeded"  # done; output_urls hold the result
    FAILED = "failed"  # ended without a result (error, cancelled, expired, moderated)

    @property
    def finished(self) -> bool:
        return self in (RemoteState.SUCCEEDED, RemoteState.FAILED)


@dataclass(frozen=True)
class HttpRequest:
    """A request relative to the provider's base URL; auth headers are added by the client."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpResponse:
    """What an adapter is shown of an answer: status, parsed JSON body (or None), headers."""

    status_code: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class Polled:
    """A job's state at the provider, normalised."""

    state: RemoteState
    status: str  # the provider's own status name, kept for logs and reports
    output_urls: tuple[str, ...] = ()
    charged: float | None = None  # credits the provider says it charged, when it says
    usd: float | None = None  # USD the provider says it charged, when it says
    error: str | None = None
    error_code: str | None = None
    moderated: bool = False
    progress: float | None = None  # 0..100 when the provider reports it
    refunded: bool = False  # the provider gives back the credits of a failed job
    recognised: bool = True  # False: a status name this adapter does not know (kept running)


@dataclass(frozen=True)
class Listed:
    """One job as a provider's list of jobs shows it."""

    remote_id: str
    polled: Polled  # its state as the row tells it (output URLs only where the row has them)
    created_at: float | None = None  # epoch seconds, when the row says
    client_request_id: str | None = None  # the id grokbatch sent with the submit (AI/ML API)


@dataclass(frozen=True)
class Listing:
    """One page of a provider's jobs, newest first."""

    items: tuple[Listed, ...]
    next_page: str | None = None  # give it back as `page` for the next one; None: last page


@dataclass(frozen=True)
class Submitted:
    """A provider's answer to a submit: the remote id, and the job itself when it ran at once."""

    remote_id: str
    charged: float | None = None
    result: Polled | None = None  # synchronous answers (Vydra's text-to-image)


@dataclass(frozen=True)
class DeclaredPrice:
    """A price the manifest declares (`prices:`) where the provider publishes none."""

    credits_per_second: float | Mapping[str, float] | None = None  # a number or {resolution: n}
    credits_per_job: float | None = None
    usd_per_credit: float | None = None


@dataclass(frozen=True)
class Price:
    """An estimate: credits in the provider's unit, USD when known, and what it rests on."""

    credits: float
    usd: float | None
    basis: str = "published"  # published | declared | guessed
    note: str = ""


@dataclass(frozen=True)
class Violation:
    """A parameter this provider cannot accept, with the fix."""

    field: str  # vocabulary name: "duration", "prompt", "reference_images", "model", ...
    message: str
    hint: str
