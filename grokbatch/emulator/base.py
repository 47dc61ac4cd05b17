"""What every emulated provider has in common; each module fills in its own API's shapes.

A provider says which requests are its submit and its poll, validates a submit body as
the real API does (returning what is wrong), prices it, and shapes its answers and errors
exactly as that API does. The server (`server.py`) does the rest: auth, faults, balances,
idempotency, lost answers, files.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .ledger import EmuJob

ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")


@dataclass
class Answer:
    status: int
    body: Any  # dict/list → JSON; str → text; bytes → as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Spec:
    """What a valid submit asks for: enough to price it and to shape the answers."""

    price: float
    kind: str = "video"  # video | image
    duration: int = 0
    resolution: str = ""
    model: str = ""
    synchronous: bool = False  # answered at once (Vydra's text-to-image)
    extra: dict[str, Any] = field(default_factory=dict)


class EmulatedProvider:
    name: ClassVar[str]
    submit_path: ClassVar[str]
    charge_at_submit: ClassVar[bool] = True
    refunds_failures: ClassVar[bool] = True
    sends_retry_after: ClassVar[bool] = True
    server_errors: ClassVar[tuple[int, ...]] = (500, 503)

    # --- auth and errors ------------------------------------------------------------------

    def key_from(self, headers: dict[str, str]) -> str | None:
        value = headers.get("authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None

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

    def insufficient(self, required: float, available: float) -> Answer:
        return self.error(402, "Insufficient credits", "insufficient_credits")

    def not_found(self, job_id: str) -> Answer:
        return self.error(404, f"Job {job_id} not found", "not_found")

    def invalid(self, problems: list[str]) -> Answer:
        return self.error(400, "; ".join(problems), "invalid_request")

    # --- the API --------------------------------------------------------------------------

    poll_path: ClassVar[re.Pattern[str] | None] = None  # `.../{id}` as a regex with one group

    def poll_id(self, path: str, query: dict[str, str]) -> str | None:
        """The job id a GET asks about, or None when the path is not this API's poll."""
        m = self.poll_path.match(path) if self.poll_path is not None else None
        return m.group(1) if m else None

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        """(problems, spec): what the real API would reject, else what the request asks."""
        raise NotImplementedError

    def new_id(self, seq: int) -> str:
        return str(uuid.uuid4())

    def accepted(self, job: EmuJob, base: str) -> Answer:
        """The answer to a successful submit."""
        raise NotImplementedError

    def polled(self, job: EmuJob, phase: str, progress: float, url: str | None) -> Answer:
        """The answer to a poll; `url` is a fresh output URL once the job succeeded."""
        raise NotImplementedError

    def failure_message(self, job: EmuJob) -> str:
        if job.outcome == "moderated":
            return "Generation blocked by content moderation: the prompt violates the policy"
        return "Generation failed: the model could not render this request"


def iso(seconds_from_now: float = 0.0) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def check_int(body: dict[str, Any], name: str, low: int, high: int, problems: list[str]) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        problems.append(f"{name} must be an integer from {low} to {high}")


def check_enum(
    body: dict[str, Any], name: str, allowed: tuple[Any, ...], problems: list[str]
) -> None:
    value = body.get(name)
    if value is not None and value not in allowed:
        problems.append(f"{name} must be one of {', '.join(map(str, allowed))}")


def check_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def check_urls(value: Any, name: str, most: int, problems: list[str], least: int = 1) -> None:
    if value is None:
        return
    if (
        not isinstance(value, list)
        or not least <= len(value) <= most
        or not all(check_url(v) for v in value)
    ):
        problems.append(f"{name} must be a list of {least} to {most} http(s) URLs")


def check_prompt(
    body: dict[str, Any], problems: list[str], *, required: bool, most: int | None
) -> None:
    prompt = body.get("prompt")
    if prompt is None or prompt == "":
        if required:
            problems.append("prompt is required")
        return
    if not isinstance(prompt, str):
        problems.append("prompt must be a string")
    elif most is not None and len(prompt) > most:
        problems.append(f"prompt must be at most {most} characters")


def unknown_keys(body: dict[str, Any], allowed: set[str], problems: list[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        problems.append(f"unknown field(s): {', '.join(extra)}")
