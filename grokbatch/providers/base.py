"""The provider interface: a pure translation between grokbatch's vocabulary and one API.

An adapter does no I/O. It turns a Job into an HttpRequest, and an HttpResponse into a
Submitted, a Polled or an error; `providers.client` sends the requests. Keeping the adapters
pure lets `validate` and `plan` use the very same rules that `run` sends, with nothing sent,
and lets the tests check every request against the providers' OpenAPI files without a server.

An adapter never looks up its own key or base URL: the caller hands them in.

The wire types live in `wire.py` and the shared parsing rules in `parse.py`; the wire types
are re-exported here for callers written before the split.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
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
from .checks import prompt_length
from .parse import clean_text, opt_cost, opt_str, retry_after
from .pricing import declared_price, usd
from .wire import (
    DeclaredPrice,
    HttpRequest,
    HttpResponse,
    Listing,
    Polled,
    Price,
    RemoteState,
    Submitted,
    Violation,
)

__all__ = [
    "DeclaredPrice",
    "HttpRequest",
    "HttpResponse",
    "Polled",
    "Price",
    "Provider",
    "RemoteState",
    "Submitted",
    "Violation",
]


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
    # Pacing grokbatch applies when the manifest sets none for this provider: submits per
    # minute (the manifest's `limits.requests_per_minute` replaces it, and then paces polls
    # too), and jobs in flight (`limits.provider_concurrency` replaces it). None: no limit
    # of grokbatch's own beyond the manifest's.
    default_submits_per_minute: ClassVar[float | None] = None
    default_concurrency: ClassVar[int | None] = None
    # Error statuses this provider documents as "the request created nothing", beyond the
    # 4xx refusals every provider means so (see `not_created`). Elsewhere a 5xx answer to a
    # submit is as ambiguous as a lost one: the job may exist, and be billed.
    not_created_statuses: ClassVar[frozenset[int]] = frozenset()
    # 2xx statuses whose poll answer may come with an empty body (xAI's 202 "still running").
    empty_poll_statuses: ClassVar[frozenset[int]] = frozenset()

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

    # --- lists, lookups and cancels, where the provider has them --------------------------

    # The states a list can be filtered by (empty: the provider lists no jobs).
    listable: ClassVar[frozenset[RemoteState]] = frozenset()
    # How far back `list_request` reaches, in seconds (None: to the account's first job).
    list_horizon: ClassVar[float | None] = None

    def list_request(
        self, *, state: RemoteState | None = None, page: str | None = None, limit: int = 100
    ) -> HttpRequest | None:
        """One page of this account's jobs, newest first (only in `state` if given); None
        when the provider cannot list them so."""
        return None

    def parse_list(self, response: HttpResponse, *, page: str | None, limit: int) -> Listing:
        """Read a successful (2xx) answer to `list_request(page=page, limit=limit)`."""
        raise NotImplementedError(f"{self.name} lists no jobs")

    def cancel_request(self, remote_id: str) -> HttpRequest | None:
        """The request that cancels a job, or None: the provider documents no cancel."""
        return None

    def client_request_id(self, job: Job, attempt: int) -> str | None:
        """The id sent with a submit for the provider to record beside its job (where it
        does: AI/ML API), so that a submit whose answer was lost can be found again."""
        return None

    def error_details(self, response: HttpResponse) -> tuple[str, str | None]:
        """(message, code) from this provider's error body; override for its shape."""
        body = response.body
        message: str | None = None
        code: str | None = None
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                message = str(err.get("message") or err)
                code = opt_str(err.get("code") or err.get("type"))
            elif isinstance(err, str):
                message, code = err, opt_str(body.get("code"))
            elif isinstance(body.get("message"), str):
                message, code = body["message"], opt_str(body.get("code"))
        if message is None:
            message = response.text or f"HTTP {response.status_code}"
        return clean_text(message), None if code is None else clean_text(code, 100)

    def is_out_of_credits(self, response: HttpResponse, message: str, code: str | None) -> bool:
        """Whether a 4xx answer means the account has run out of credits."""
        if response.status_code == 402:
            return True
        text = f"{message} {code or ''}".lower()
        return response.status_code == 403 and ("credit" in text or "balance" in text)

    def is_refused_key(self, response: HttpResponse, message: str, code: str | None) -> bool:
        """Whether a 4xx answer means the key itself is refused (the provider stops)."""
        return response.status_code in (401, 403)

    def not_created(self, status_code: int) -> bool:
        """Whether an error answer certainly means no job was created by the request.

        A 4xx is a refusal, except 408 (the server gave up reading the request: a gateway
        may still have passed it on). A 5xx is only where the provider documents it.
        """
        refused = 400 <= status_code < 500 and status_code != 408
        return refused or status_code in self.not_created_statuses

    def error_for(self, response: HttpResponse) -> ProviderError:
        """Translate a non-2xx answer into the grokbatch error it means."""
        status = response.status_code
        message, code = self.error_details(response)
        kw: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "code": code,
            "not_created": self.not_created(status),
        }
        if self.is_out_of_credits(response, message, code):
            body = response.body if isinstance(response.body, dict) else {}
            return InsufficientCreditsError(
                message,
                required=opt_cost(body.get("creditsRequired")),
                available=opt_cost(body.get("creditsAvailable", body.get("creditsRemaining"))),
                **kw,
            )
        if self.is_refused_key(response, message, code):
            return AuthenticationError(message, **kw)
        if status == 429:
            return RateLimitedError(message, retry_after=retry_after(response.headers), **kw)
        if status >= 500 or status == 408:
            return TransientError(message, retry_after=retry_after(response.headers), **kw)
        if status == 404:
            return NotFoundError(message, **kw)
        if status == 409:
            return ConflictError(message, **kw)
        if status in (400, 413, 422):
            return InvalidRequestError(message, **kw)
        return ProtocolError(message, **kw)
