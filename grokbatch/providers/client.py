"""Sending an adapter's requests over HTTP: the only place that talks to a provider.

The adapter says what to send and how to read the answer; the client adds the key, sends
it with a timeout, and turns every transport failure into a grokbatch error that says
whether the request can have reached the provider (`request_sent`). That one bit decides
whether a failed submit may be resent: a refused connection certainly created nothing, a
read timeout may have created a paid job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import (
    InputError,
    MissingKeyError,
    ProtocolError,
    ProviderError,
    TransientError,
    redact,
)
from ..jobs import Job
from .base import Provider
from .parse import clean_text
from .wire import HttpRequest, HttpResponse, Listing, Polled, RemoteState, Submitted

# Failures that happen before a single byte of the request leaves: nothing was created.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def base_url_env(provider: Provider) -> str:
    return f"GROKBATCH_{provider.name.upper()}_BASE_URL"


def resolve_base_url(
    provider: Provider, manifest_url: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """GROKBATCH_<NAME>_BASE_URL, else the manifest's base_url, else the provider's own.

    InputError, naming where the URL came from, when it is not an absolute http(s) URL
    with a host: a typo here would otherwise surface as a connection error mid-run.
    """
    env = os.environ if environ is None else environ
    variable = base_url_env(provider)
    if env.get(variable):
        return _checked_base_url(env[variable], f"the environment variable {variable}", provider)
    if manifest_url:
        return _checked_base_url(manifest_url, "the manifest's provider.base_url", provider)
    return provider.default_base_url.rstrip("/")


def _checked_base_url(url: str, where: str, provider: Provider) -> str:
    url = url.strip()
    example = f"e.g. {provider.default_base_url} or http://127.0.0.1:8080"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        parts = None
    if parts is not None and (parts.username is not None or parts.password is not None):
        raise InputError(
            f"{where} carries a user name or password: remove it ({provider.name}'s key "
            f"comes from {provider.key_env} only)"
        )
    shown = url if len(url) <= 200 else url[:199] + "…"
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(ch.isspace() or not ch.isprintable() for ch in url)
    ):
        raise InputError(
            f"{where} is {shown!r}, which is not a base URL: give an absolute http(s) URL "
            f"with a host and no query, {example}"
        )
    return url.rstrip("/")


def resolve_api_key(provider: Provider, environ: Mapping[str, str] | None = None) -> str:
    """<NAME>_API_KEY from the environment, or an InputError naming the variable.

    MissingKeyError when it is unset or blank. A key is printable ASCII without spaces:
    one with a line break, a space inside, a control or a non-ASCII character in it (a
    paste from a web page or a file) is refused before it is sent, and never echoed.
    Spaces around it are ignored.
    """
    env = os.environ if environ is None else environ
    variable = provider.key_env
    key = (env.get(variable) or "").strip(" ")
    if not key.strip():
        raise MissingKeyError(provider.name, variable)
    for place, char in enumerate(key, start=1):
        what = _bad_key_char(char)
        if what:
            raise InputError(
                f"{variable} has {what} at character {place} of {len(key)}: an API key is "
                f"printable ASCII without spaces or line breaks. Set it again with the key "
                f"alone, e.g. export {variable}='...' (copies from web pages and files often "
                "bring a trailing newline or a non-breaking space)"
            )
    return key


def _bad_key_char(char: str) -> str | None:
    if char == " ":
        return "a space"
    if char in "\r\n":
        return "a line break"
    if ord(char) < 32 or ord(char) == 127:
        return f"a control character (U+{ord(char):04X})"
    if ord(char) > 127:
        return f"a non-ASCII character (U+{ord(char):04X})"
    return None


class Wire:
    """Whether a request has gone out on the wire, as httpx's trace hook reports it.

    A submit cut off before its first byte left (still waiting for a connection, say)
    created nothing and can go back to pending; one cut off after may have created a paid
    job. Where the transport reports no trace events (a mock: `traced=False`) nothing can
    be told, and every request counts as sent.
    """

    def __init__(self, *, traced: bool = True) -> None:
        self.traced = traced
        self.started = False

    async def trace(self, name: str, info: Any) -> None:
        if name.endswith(".send_request_headers.started"):
            self.started = True

    @property
    def sent(self) -> bool:
        return self.started or not self.traced


class ProviderClient:
    """One provider's API at one base URL with one key, over a shared httpx client."""

    def __init__(
        self,
        provider: Provider,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        timeout: httpx.Timeout | float | None = None,
        traced: bool = True,
    ) -> None:
        self.provider = provider
        # httpx's own transports report trace events; a mock transport does not.
        self.traced = traced
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._timeout = timeout

    def __repr__(self) -> str:  # never show the key
        return f"ProviderClient({self.provider.name!r}, {self.base_url!r})"

    def wire(self) -> Wire:
        """A fresh record of whether one request went out."""
        return Wire(traced=self.traced)

    async def submit(self, job: Job, attempt: int = 1, *, wire: Wire | None = None) -> Submitted:
        response = await self.send(self.provider.submit_request(job, attempt), wire=wire)
        return self.provider.parse_submit(response)

    async def list(
        self, *, state: RemoteState | None = None, page: str | None = None, limit: int = 100
    ) -> Listing | None:
        """One page of the account's jobs (newest first); None if the provider has no list."""
        request = self.provider.list_request(state=state, page=page, limit=limit)
        if request is None:
            return None
        return self.provider.parse_list(await self.send(request), page=page, limit=limit)

    @property
    def lists_jobs(self) -> bool:
        """Whether one request lists the account's jobs in every state (`recent_jobs`)."""
        return RemoteState.RUNNING in self.provider.listable

    async def recent_jobs(self) -> Mapping[str, Polled]:
        """Every job on the newest page of the account's jobs (100), by remote id, as a poll
        of it would answer. One request: this is the scheduler's `Lister`."""
        listing = await self.list(limit=100)
        return {} if listing is None else {i.remote_id: i.polled for i in listing.items}

    async def cancel(self, remote_id: str) -> Polled | None:
        """Cancel a job where the provider documents how; None where it does not."""
        request = self.provider.cancel_request(remote_id)
        if request is None:
            return None
        return self.provider.parse_poll(await self.send(request))

    async def poll(self, remote_id: str) -> Polled:
        request = self.provider.poll_request(remote_id)
        response = await self.send(request, empty_ok=self.provider.empty_poll_statuses)
        return self.provider.parse_poll(response)

    async def send(
        self,
        request: HttpRequest,
        *,
        wire: Wire | None = None,
        empty_ok: frozenset[int] = frozenset(),
    ) -> HttpResponse:
        """Send one request; a 2xx answer comes back, anything else is raised as an error.

        A 2xx answer must carry a JSON object, except an empty body with a status in
        `empty_ok` (xAI's 202 "still running"), which comes back with `body` None.
        """
        name = self.provider.name
        wire = wire if wire is not None else self.wire()
        headers = {"Accept": "application/json", **request.headers}
        headers.update(self.provider.auth_headers(self._key))
        kwargs: dict[str, Any] = {
            "headers": headers,
            "params": request.params,
            "extensions": {"trace": wire.trace},
        }
        if request.json is not None:
            kwargs["json"] = request.json
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        try:
            raw = await self.http.request(request.method, self.base_url + request.path, **kwargs)
        except httpx.TransportError as exc:
            if isinstance(exc, NOT_SENT) or not wire.sent:
                raise TransientError(
                    self._clean(f"could not connect to {self.base_url}: {_describe(exc)}"),
                    provider=name,
                    request_sent=False,
                ) from None
            # The request may have reached the provider: a submit here is ambiguous.
            raise TransientError(
                self._clean(f"no answer from {self.base_url}: {_describe(exc)}"),
                provider=name,
                request_sent=True,
            ) from None
        response = _response(raw)
        if raw.is_redirect:
            target = clean_text(raw.headers.get("location", "?"), 200)
            raise ProtocolError(
                self._clean(
                    f"{self.base_url} redirects to {target}: set that as the base URL "
                    "(a client following a cross-host redirect drops the API key)"
                ),
                provider=name,
                status_code=raw.status_code,
                # 301/307/308 say "not here": nothing was processed. 302/303 after a POST
                # are how some servers answer "done, see there": maybe created.
                not_created=raw.status_code in (301, 307, 308),
            )
        if not raw.is_success:
            error = self.provider.error_for(response)
            raise _cleaned(error, self._key)
        if raw.status_code in empty_ok and not response.text.strip():
            return response
        if not isinstance(response.body, dict):
            raise ProtocolError(
                self._clean(f"expected a JSON object, got: {clean_text(repr(response.text), 200)}"),
                provider=name,
                status_code=raw.status_code,
            )
        return response

    def _clean(self, text: str) -> str:
        return redact(text, [self._key])


def _response(raw: httpx.Response) -> HttpResponse:
    text = raw.text
    try:
        body = json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        body = None
    return HttpResponse(raw.status_code, body, dict(raw.headers), text)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _cleaned(error: ProviderError, key: str) -> ProviderError:
    """The same error with any echo of the key removed from its message."""
    if key and key in str(error):
        error.args = (redact(str(error), [key]),)
    return error
