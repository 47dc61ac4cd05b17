"""The provider interface: a pure translation between grokbatch's vocabulary and one API.

An adapter does no I/O. It turns a Job into an HttpRequest, and an HttpResponse into a
Submitted, a Polled or an error; `providers.client` sends the requests. Keeping the adapters
pure lets `validate` and `plan` use the very same rules that `run` sends, with nothing sent,
and lets the tests check every request against the providers' OpenAPI files without a server.

An adapter never looks up its own key or base URL: the caller hands them in.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import (
    AuthenticationError,
    ConflictError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from ..jobs import Job


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


class Provider(ABC):
    """One provider's API. Subclasses set the class attributes and implement the six methods."""

    name: ClassVar[str]
    title: ClassVar[str]  # human name, e.g. "AI/ML API"
    key_env: ClassVar[str]
    default_base_url: ClassVar[str]
    credit_unit: ClassVar[str] = "credits"
    usd_per_credit: ClassVar[float | None] = None  # None: unknown unless declared
    idempotent_submit: ClassVar[bool] = False  # resending a submit is safe (Idempotency-Key)
    types: ClassVar[tuple[str, ...]] = ("video",)
    models: ClassVar[tuple[str, ...]] = ()  # sub-models a manifest may name
    max_prompt_chars: ClassVar[int | None] = None
    # Values the provider applies when a parameter is omitted; filled in before hashing so
    # that `duration: 6` and no duration give the same job where 6 is the default.
    defaults: ClassVar[Mapping[str, Any]] = {}

    # --- pure rules, used by validate, plan and run alike --------------------------------

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters with this provider's defaults filled in."""
        out = dict(self.defaults)
        out.update({k: v for k, v in params.items() if v is not None})
        return out

    def pick_model(self, params: Mapping[str, Any], model: str | None) -> str | None:
        """The sub-model a job uses: the manifest's choice, or what the parameters imply."""
        return model

    def check(
        self, *, prompt: str, params: Mapping[str, Any], model: str | None
    ) -> list[Violation]:
        """Everything this provider would reject, before anything is sent."""
        return [*self.check_prompt(prompt, params, model), *self.check_params(params, model)]

    def check_prompt(
        self, prompt: str, params: Mapping[str, Any], model: str | None
    ) -> list[Violation]:
        """The prompt's own rules: present where required, not too long.

        For a non-empty prompt the answer must depend on the prompt and model alone: the
        expander memoises it that way.
        """
        from .checks import prompt_length

        required = self.needs_prompt(params, model)
        return prompt_length(prompt, self.max_prompt_chars, required=required)

    def needs_prompt(self, params: Mapping[str, Any], model: str | None) -> bool:
        return True

    @abstractmethod
    def check_params(self, params: Mapping[str, Any], model: str | None) -> list[Violation]:
        """What this provider would reject in the parameters (the prompt aside)."""

    @abstractmethod
    def list_price(self, params: Mapping[str, Any]) -> Price:
        """The cost of one job by the provider's own price list (or a guess, marked so)."""

    def price(self, params: Mapping[str, Any], declared: DeclaredPrice | None = None) -> Price:
        """The estimated cost of one job: the manifest's declared price wins over the list."""
        from .pricing import declared_price, usd

        own = declared_price(params, declared, self.usd_per_credit)
        if own is not None:
            return own
        listed = self.list_price(params)
        if declared is not None and declared.usd_per_credit is not None:
            return Price(listed.credits, usd(listed.credits, declared.usd_per_credit), "declared")
        return listed

    # --- the wire ---------------------------------------------------------------------------

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    @abstractmethod
    def submit_request(self, job: Job, attempt: int = 1) -> HttpRequest:
        """The exact request that creates this job.

        `attempt` counts deliberate submissions of the job (1, then 2 after --retry-failed,
        ...); a resend of the same attempt must build the same request.
        """

    @abstractmethod
    def parse_submit(self, response: HttpResponse) -> Submitted:
        """Read a successful (2xx) submit answer."""

    @abstractmethod
    def poll_request(self, remote_id: str) -> HttpRequest:
        """The request that reads a job's status."""

    @abstractmethod
    def parse_poll(self, response: HttpResponse) -> Polled:
        """Read a successful (2xx) poll answer."""

    def error_details(self, response: HttpResponse) -> tuple[str, str | None]:
        """(message, code) from this provider's error body; override for its shape."""
        body = response.body
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                return str(err.get("message") or err), opt_str(err.get("code") or err.get("type"))
            if isinstance(err, str):
                return err, opt_str(body.get("code"))
            if isinstance(body.get("message"), str):
                return body["message"], opt_str(body.get("code"))
        return (response.text or f"HTTP {response.status_code}")[:500], None

    def is_out_of_credits(self, response: HttpResponse, message: str, code: str | None) -> bool:
        """Whether a 4xx answer means the account has run out of credits."""
        if response.status_code == 402:
            return True
        text = f"{message} {code or ''}".lower()
        return response.status_code == 403 and ("credit" in text or "balance" in text)

    def error_for(self, response: HttpResponse) -> ProviderError:
        """Translate a non-2xx answer into the grokbatch error it means."""
        status = response.status_code
        message, code = self.error_details(response)
        kw: dict[str, Any] = {"provider": self.name, "status_code": status, "code": code}
        if self.is_out_of_credits(response, message, code):
            body = response.body if isinstance(response.body, dict) else {}
            return InsufficientCreditsError(
                message,
                required=opt_float(body.get("creditsRequired")),
                available=opt_float(body.get("creditsAvailable", body.get("creditsRemaining"))),
                **kw,
            )
        if status == 429:
            return RateLimitedError(message, retry_after=retry_after(response.headers), **kw)
        if status >= 500 or status == 408:
            return TransientError(message, retry_after=retry_after(response.headers), **kw)
        if status in (401, 403):
            return AuthenticationError(message, **kw)
        if status == 404:
            return NotFoundError(message, **kw)
        if status == 409:
            return ConflictError(message, **kw)
        if status in (400, 413, 422):
            return InvalidRequestError(message, **kw)
        return ProtocolError(message, **kw)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if any."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: rare from APIs; the caller's own backoff applies
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def opt_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def classify(status: Any, table: Mapping[str, RemoteState]) -> tuple[RemoteState, bool]:
    """A provider's status name → (state, recognised); unknown names count as running."""
    state = table.get(str(status).lower())
    return (state, True) if state is not None else (RemoteState.RUNNING, False)


def message_of(error: Any) -> str | None:
    """An error given as a string, or as an object with a message, as text."""
    if error is None or error == "":
        return None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("error") or error.get("code") or error)
    return str(error)


def code_of(error: Any) -> str | None:
    if isinstance(error, dict):
        code = error.get("code") or error.get("name") or error.get("type")
        return None if code is None else str(code)
    return None


MODERATION_WORDS = ("moderat", "content policy", "nsfw", "safety", "violat", "inappropriate")


def looks_moderated(*texts: str | None) -> bool:
    """Whether a failure reads as a content-moderation refusal."""
    joined = " ".join(t for t in texts if t).lower()
    return any(word in joined for word in MODERATION_WORDS)


def make_polled(
    status: Any,
    table: Mapping[str, RemoteState],
    *,
    urls: Any = (),
    error: Any = None,
    charged: Any = None,
    usd: Any = None,
    progress: Any = None,
    refunds_failures: bool = False,
    moderated: bool = False,
) -> Polled:
    """A Polled from a provider's raw fields, with the rules every adapter shares.

    Unknown status names count as running (and are flagged); a "success" without any output
    URL is a failure; a failure whose message reads as moderation is marked moderated.
    """
    name = str(status)
    state, known = classify(name, table)
    found = tuple(u for u in _urls(urls) if u)
    message, code = message_of(error), code_of(error)
    if state is RemoteState.SUCCEEDED and not found:
        state = RemoteState.FAILED
        message = message or f"the provider reports {name} but gives no output URL"
    failed = state is RemoteState.FAILED
    return Polled(
        state=state,
        status=name,
        output_urls=found if state is RemoteState.SUCCEEDED else (),
        charged=opt_float(charged),
        usd=opt_float(usd),
        error=message if failed else None,
        error_code=code if failed else None,
        moderated=failed and (moderated or looks_moderated(message, code)),
        progress=opt_float(progress),
        refunded=failed and refunds_failures,
        recognised=known,
    )


def _urls(value: Any) -> list[str]:
    """Every URL in a string, a list, or an object holding them (APIFrame's `result`)."""
    if isinstance(value, str):
        return [value] if value.startswith(("http://", "https://")) else []
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, (list, tuple)):
        return [u for v in value for u in _urls(v)]
    return []


def require(body: Any, *path: str) -> Any:
    """body[path...] or a ProtocolError naming what is missing."""
    cur = body
    for part in path:
        if not isinstance(cur, dict) or part not in cur or cur[part] is None:
            raise ProtocolError(f"answer has no {'.'.join(path)}: {str(body)[:200]}")
        cur = cur[part]
    return cur
