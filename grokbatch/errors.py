"""Every exception grokbatch raises, in one tree.

    GrokbatchError
    ├── InputError                      exit 2: bad manifest, options or environment; nothing sent
    │   ├── ManifestError               one or more Problems, each with file, line and fix
    │   └── MissingKeyError             names the environment variable to set
    ├── BudgetExceededError             exit 3: the next job would pass the budget: submitting stops
    ├── StateError                      the state database
    │   ├── StateUnavailableError       it cannot be opened, or stayed locked past its timeout
    │   └── StateConflictError          a job is not in a state the transition starts from
    ├── ProviderError                   an API call failed (the HTTP exchange, not the job);
    │   │                               .not_created: certainly no job was made by it
    │   ├── TransientError              429, 5xx, timeouts, connection errors: safe to retry later
    │   │   └── RateLimitedError        429, with the provider's Retry-After when it sent one
    │   ├── InsufficientCreditsError    402/403 out of credits: stop submitting
    │   ├── AuthenticationError         401 or a refused key
    │   ├── InvalidRequestError         400/422: the provider rejected the request
    │   ├── NotFoundError               404: unknown job id
    │   ├── ConflictError               409: idempotency key reused with another body
    │   └── ProtocolError               an answer grokbatch cannot read
    └── JobError                        how one job ended badly; its class name is stored
        ├── AmbiguousSubmitError        a submit was sent and its answer lost: maybe paid
        ├── RemoteJobFailedError        the provider ran the job and it failed
        │   └── ModerationError         ... because moderation refused it
        ├── OutputExpiredError          the output expired before it was downloaded
        ├── DownloadError               the output could not be fetched or failed its checks
        ├── JobCancelledError           a person cancelled it (`grokbatch cancel`)
        └── InternalError               grokbatch itself failed on this job (a bug: report it)

The exception is the record: when a job ends badly the runner builds the exception that
says why, and the state stores its class name (`kind_of`) and message. Provider errors that
end a job (an invalid request, an unknown job id) are stored the same way.

Errors never carry an API key: messages are built from provider bodies, which grokbatch
redacts (see `redact`) before they are stored or printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_INVALID = 2
EXIT_BUDGET = 3
EXIT_INTERRUPTED = 130


class GrokbatchError(Exception):
    """Base of every grokbatch error."""

    exit_code: int = EXIT_JOBS_FAILED


# --- input -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One mistake in the user's input, located as precisely as grokbatch can."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    where: str | None = None  # a path in the manifest, e.g. "matrix.duration[2]"
    job: str | None = None  # grid coordinates of a job it applies to, e.g. "prompt=hero style=noir"
    hint: str | None = None  # what to do about it
    count: int = 1  # how many jobs share this problem
    rows: str | None = None  # the prompt-file rows it hits, e.g. "rows 2–37 of prompts.csv"

    def format(self) -> str:
        place = self.file or "<manifest>"
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        parts = [f"{place}: "]
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.message)
        affects = []
        if self.count > 1:
            affects.append(f"{self.count:,} jobs" + (f", first: {self.job}" if self.job else ""))
        elif self.job:
            affects.append(f"job {self.job}")
        if self.rows:
            affects.append(self.rows)
        if affects:
            parts.append(f" [{'; '.join(affects)}]")
        if self.hint:
            parts.append(f"\n    fix: {self.hint}")
        return "".join(parts)


class InputError(GrokbatchError):
    """The user's input is wrong; nothing was sent or spent."""

    exit_code = EXIT_INVALID


class ManifestError(InputError):
    """A manifest has one or more problems, all reported together."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found"
        super().__init__(head + ":\n" + "\n".join(p.format() for p in self.problems))


class MissingKeyError(InputError):
    """A provider's API key is not set in the environment."""

    def __init__(self, provider: str, variable: str) -> None:
        self.provider = provider
        self.variable = variable
        super().__init__(
            f"no API key for {provider}: set the environment variable {variable} "
            f"(export {variable}=...), or run with --sandbox to use the built-in emulator "
            "at no cost"
        )


class BudgetExceededError(GrokbatchError):
    """The next job would take the batch past its budget, so nothing more is submitted."""

    exit_code = EXIT_BUDGET


# --- the state database ------------------------------------------------------------------


class StateError(GrokbatchError):
    """The state database could not do what was asked."""


class StateUnavailableError(StateError):
    """The store could not be opened, or stayed locked by another runner past its timeout."""


class StateConflictError(StateError):
    """A transition found the job in a state it does not start from (another runner has it)."""


# --- provider calls ----------------------------------------------------------------------


class ProviderError(GrokbatchError):
    """An API call to a provider failed."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        not_created: bool = False,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.code = code
        # True when the provider certainly created no job from this request: it refused the
        # request (a 4xx other than 408), the connection was refused, or it answered a status
        # it documents as "nothing was created" (APIFrame's 503). False means it may have:
        # a failed submit is then ambiguous unless the provider takes an idempotency key.
        self.not_created = not_created
        prefix = f"{provider}: " if provider else ""
        status = f"HTTP {status_code}: " if status_code else ""
        super().__init__(f"{prefix}{status}{message}")


class TransientError(ProviderError):
    """A failure worth retrying later: rate limits, server errors, timeouts."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        request_sent: bool = True,
        not_created: bool = False,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            code=code,
            not_created=not_created or not request_sent,
        )
        self.retry_after = retry_after
        # False only when the request certainly never reached the provider (connection
        # refused): the one case where resending a submit without an idempotency key is safe.
        self.request_sent = request_sent


class RateLimitedError(TransientError):
    """HTTP 429."""


class InsufficientCreditsError(ProviderError):
    """The provider's account has no credits left for this job."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        required: float | None = None,
        available: float | None = None,
        not_created: bool = True,
    ) -> None:
        super().__init__(
            message, provider=provider, status_code=status_code, code=code, not_created=not_created
        )
        self.required = required
        self.available = available


class AuthenticationError(ProviderError):
    """The provider refused the API key."""


class InvalidRequestError(ProviderError):
    """The provider rejected the request body."""


class NotFoundError(ProviderError):
    """The provider does not know this job."""


class ConflictError(ProviderError):
    """An idempotency key was reused with a different request."""


class ProtocolError(ProviderError):
    """The provider answered something grokbatch cannot read."""


# --- jobs --------------------------------------------------------------------------------


class JobError(GrokbatchError):
    """How one job ended badly. Raised nowhere past the runner: it is recorded."""


class AmbiguousSubmitError(JobError):
    """A submit was sent and its answer lost: the provider may have accepted (and charged) it."""


class RemoteJobFailedError(JobError):
    """The provider accepted the job, ran it, and it failed."""

    def __init__(self, message: str, *, provider: str | None = None, code: str | None = None):
        self.provider = provider
        self.code = code
        super().__init__(f"{provider}: {message}" if provider else message)


class ModerationError(RemoteJobFailedError):
    """The provider's moderation refused the prompt or the output."""


class OutputExpiredError(JobError):
    """The output expired (its URL, or the job at the provider) before it was downloaded."""


class DownloadError(JobError):
    """An output could not be downloaded, or failed its size or content-type checks."""


class JobCancelledError(JobError):
    """A person cancelled the job at its provider (`grokbatch cancel`)."""


class InternalError(JobError):
    """grokbatch failed on one job in a way it did not foresee; the batch went on without it."""


def kind_of(error: BaseException) -> str:
    """The name a job's error is stored under: its class name, e.g. "ModerationError"."""
    return type(error).__name__


# --- secrets -----------------------------------------------------------------------------

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove every known secret and anything that looks like a bearer token from text."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)
