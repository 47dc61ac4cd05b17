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

import httpx

from ..errors import MissingKeyError, ProtocolError, ProviderError, TransientError, redact
from ..jobs import Job
from .base import HttpRequest, HttpResponse, Polled, Provider, Submitted

# Failures that happen before a single byte of the request leaves: nothing was created.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def base_url_env(provider: Provider) -> str:
    return f"GROKBATCH_{provider.name.upper()}_BASE_URL"


def resolve_base_url(
    provider: Provider, manifest_url: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """GROKBATCH_<NAME>_BASE_URL, else the manifest's base_url, else the provider's own."""
    env = os.environ if environ is None else environ
    url = env.get(base_url_env(provider)) or manifest_url or provider.default_base_url
    return url.rstrip("/")


def resolve_api_key(provider: Provider, environ: Mapping[str, str] | None = None) -> str:
    """<NAME>_API_KEY from the environment, or MissingKeyError naming the variable."""
    env = os.environ if environ is None else environ
    key = (env.get(provider.key_env) or "").strip()
    if not key:
        raise MissingKeyError(provider.name, provider.key_env)
    return key


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

    async def poll(self, remote_id: str) -> Polled:
        response = await self.send(self.provider.poll_request(remote_id))
        return self.provider.parse_poll(response)

    async def send(self, request: HttpRequest, *, wire: Wire | None = None) -> HttpResponse:
        """Send one request; a 2xx answer comes back, anything else is raised as an error."""
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
            target = raw.headers.get("location", "?")
            raise ProtocolError(
                self._clean(
                    f"{self.base_url} redirects to {target}: set that as the base URL "
                    "(a client following a cross-host redirect drops the API key)"
                ),
                provider=name,
                status_code=raw.status_code,
            )
        if not raw.is_success:
            error = self.provider.error_for(response)
            raise _cleaned(error, self._key)
        if not isinstance(response.body, dict):
            raise ProtocolError(
                self._clean(f"expected a JSON object, got: {response.text[:200]!r}"),
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
    except ValueError:
        body = None
    return HttpResponse(raw.status_code, body, dict(raw.headers), text)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _cleaned(error: ProviderError, key: str) -> ProviderError:
    """The same error with any echo of the key removed from its message."""
    if key and key in str(error):
        error.args = (redact(str(error), [key]),)
    return error
