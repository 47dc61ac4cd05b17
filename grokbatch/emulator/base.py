"""What every emulated provider has in common; each module fills in its own API's shapes.

A provider says which requests are its submit, poll, list and cancel, checks its own auth
header, validates a submit body as the real API does (returning what is wrong), prices it,
and shapes its answers and errors exactly as that API does. The backend (`backend.py`) does
the rest: faults, balances, idempotency, lost answers, files.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .config import EmulatorConfig
from .jobs import EmuJob

ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
Query = dict[str, list[str]]  # every value of every query parameter, in order


@dataclass
class Answer:
    status: int
    body: Any  # dict/list → JSON; str → text; bytes → as is; None → no body at all
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Spec:
    """What a valid submit asks for: enough to price it, shape the answers and the file."""

    price: float
    kind: str = "video"  # video | image
    duration: int = 0
    resolution: str = ""
    aspect_ratio: str = "16:9"
    model: str = ""
    synchronous: bool = False  # answered at once (Vydra's text-to-image)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class View:
    """What a poll or list answer may say about a job at this moment."""

    phase: str  # queued | running | final
    progress: float
    now: float
    url: str | None  # the output, once the job succeeded
    poster: str | None  # a thumbnail image beside it, where the job has one
    expired: bool  # the output was purged (the URLs now answer the expired status)
    config: EmulatorConfig
    chance: Callable[[float], bool]  # a seeded coin


class EmulatedProvider:
    name: ClassVar[str]
    submit_path: ClassVar[str]
    poll_path: ClassVar[re.Pattern[str] | None] = None  # `.../{id}` as a regex with one group
    list_path: ClassVar[str | None] = None
    cancel_path: ClassVar[re.Pattern[str] | None] = None  # DELETE `.../{id}`
    list_rate: ClassVar[tuple[int, float] | None] = None  # (requests, per seconds) on lists
    charge_at_submit: ClassVar[bool] = True
    refunds_failures: ClassVar[bool] = True
    bills_moderated: ClassVar[bool] = False
    sends_retry_after: ClassVar[bool] = True
    server_errors: ClassVar[tuple[int, ...]] = (500, 503)
    # A 5xx answering a submit may have come after the job was created (and charged), as a
    # lost answer may; APIFrame documents its 503 as "nothing was queued".
    submit_5xx_may_create: ClassVar[bool] = True
    expired_status: ClassVar[int] = 410  # what a download of a purged output answers

    # --- auth and errors ------------------------------------------------------------------

    def auth(self, headers: dict[str, str], key: str) -> Answer | None:
        """None when the request carries `key` in this API's auth header, else its refusal."""
        value = headers.get("authorization", "")
        sent = value[7:].strip() if value[:7].lower() == "bearer " else ""
        return None if sent and sent == key else self.unauthorized()

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        raise NotImplementedError

    def unauthorized(self) -> Answer:
        return self.error(401, "Invalid or missing API key", "unauthorized")

    def rate_limited(self, retry_after: float) -> Answer:
        answer = self.error(429, "Too many requests, slow down", "rate_limit_exceeded")
        if self.sends_retry_after:
            answer.headers["Retry-After"] = f"{retry_after:g}"
        return answer

    def server_error(self, status: int) -> Answer:
        return self.error(status, "The service is temporarily unavailable", "server_error")

    def insufficient(
        self, required: float, available: float, chance: Callable[[float], bool]
    ) -> Answer:
        return self.error(402, "Insufficient credits", "insufficient_credits")

    def not_found(self, job_id: str) -> Answer:
        return self.error(404, f"Job {job_id} not found", "not_found")

    def invalid(self, problems: list[str]) -> Answer:
        return self.error(400, "; ".join(problems), "invalid_request")

    # --- the API --------------------------------------------------------------------------

    def poll_id(self, path: str, query: Query) -> str | None:
        """The job id a GET asks about, or None when the path is not this API's poll."""
        m = self.poll_path.match(path) if self.poll_path is not None else None
        return m.group(1) if m else None

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        """(problems, spec): what the real API would reject, else what the request asks."""
        raise NotImplementedError

    def new_id(self, seq: int) -> str:
        return str(uuid.uuid4())

    def draw(self, chance: Callable[[float], bool]) -> dict[str, Any]:
        """Per-job choices made at submit (seeded), kept in the job's details."""
        return {}

    def accepted(self, job: EmuJob, base: str) -> Answer:
        """The answer to a successful submit."""
        raise NotImplementedError

    def polled(self, job: EmuJob, view: View) -> Answer:
        """The answer to a poll."""
        raise NotImplementedError

    def client_request_id(self, headers: dict[str, str]) -> str | None:
        """The caller's own id for a submit, where the API records one (AI/ML API)."""
        return None

    def listed(
        self,
        jobs: list[EmuJob],
        query: Query,
        view: Callable[[EmuJob], View],
        config: EmulatorConfig,
    ) -> tuple[Answer, list[EmuJob]]:
        """This API's list answer and the jobs it shows; `jobs` are the provider's, newest
        first."""
        return self.error(404, "No such route", "not_found"), []

    def cancelled(self, job: EmuJob, done: bool) -> Answer:
        """The answer to a cancel request (`done`: False when the job had already ended)."""
        return self.error(404, "No such route", "not_found")

    def failure_message(self, job: EmuJob) -> str:
        if job.cancelled is not None:
            return "Job cancelled by the user"
        if job.outcome == "moderated":
            return "Generation blocked by content moderation: the prompt violates the policy"
        return "Generation failed: the model could not render this request"


def iso(moment: float | None = None, *, millis: bool = False) -> str:
    """A wall-clock time (default: now) as ISO 8601 UTC with a Z."""
    at = dt.datetime.now(dt.UTC) if moment is None else dt.datetime.fromtimestamp(moment, dt.UTC)
    text = at.isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def first(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def int_param(query: Query, name: str, default: int, low: int, high: int | None) -> int | None:
    """A whole-number query parameter within bounds, its default when absent, None if bad."""
    raw = first(query, name)
    if raw is None:
        return default
    if not raw.isdigit():
        return None
    value = int(raw)
    return value if value >= low and (high is None or value <= high) else None
