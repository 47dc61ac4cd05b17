"""The HTTP side of the emulator: routing, auth, faults, balances, files, admin.

Stdlib `ThreadingHTTPServer` in a daemon thread, HTTP/1.1 keep-alive: it serves the CLI's
`grokbatch emulate`, the in-process sandbox, tests and benchmarks alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
import time
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .base import Answer, EmulatedProvider, Spec
from .config import PROVIDERS, EmulatorConfig
from .ledger import EmuJob, Ledger
from .media import mp4_for, png_for

IDEMPOTENCY_WINDOW = 24 * 3600.0  # APIFrame remembers a key for 24 h
FLOATS = (
    "latency",
    "failure_rate",
    "moderation_rate",
    "rate_limit_rate",
    "server_error_rate",
    "lost_response_rate",
    "url_ttl",
    "retry_after",
    "request_latency",
)
EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)


class Backend:
    """Everything a request handler needs, shared by every handler thread."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.ledger = Ledger(config)
        self.providers: dict[str, EmulatedProvider] = {
            name: import_module(f".{name}", __package__).PROVIDER for name in PROVIDERS
        }
        self.rng = random.Random(config.seed)
        self.rng_lock = threading.Lock()
        self.config_lock = threading.Lock()
        # Held from recalling an Idempotency-Key to remembering it, so that two concurrent
        # submits with one key create one job.
        self.idempotency_lock = threading.Lock()
        self.secret = secrets.token_bytes(16)
        self.root = ""  # http://host:port, set once the socket is bound

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.rng_lock:
            return self.rng.random() < rate

    def pick(self, options: tuple[int, ...]) -> int:
        with self.rng_lock:
            return self.rng.choice(options)

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Change settings live; a bad name or value changes nothing and raises ValueError."""
        fields = set(vars(self.config))
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown emulator setting {name!r}")
            clean[name] = _coerce(name, value)
        with self.config_lock:
            for name, value in clean.items():
                setattr(self.config, name, value)
            if "seed" in clean:
                self.reseed()
            if "credits" in clean:
                for p in PROVIDERS:
                    self.ledger.set_balance(p, self.config.balance_for(p))

    def reseed(self) -> None:
        with self.rng_lock:
            self.rng = random.Random(self.config.seed)

    def reset(self) -> None:
        """Forget every job, counter and idempotency key; balances and randomness restart."""
        self.ledger.reset()
        self.reseed()

    # --- output URLs ------------------------------------------------------------------------

    def file_url(self, job: EmuJob) -> str:
        ext = "png" if job.kind == "image" else "mp4"
        path = f"/_files/{job.provider}/{job.id}.{ext}"
        # Milliseconds, so that a url_ttl under a second (tests) expires when it should.
        expires = round(time.time() + self.config.url_ttl, 3) if self.config.url_ttl > 0 else 0.0
        return f"{self.root}{path}?expires={expires:.3f}&sig={self._sign(path, expires)}"

    def _sign(self, path: str, expires: float) -> str:
        signed = hmac.new(self.secret, f"{path}:{expires:.3f}".encode(), hashlib.sha256)
        return signed.hexdigest()[:32]

    def file(self, path: str, query: dict[str, str]) -> Answer:
        try:
            expires = float(query.get("expires", ""))
        except ValueError:
            expires = -1.0
        if not hmac.compare_digest(query.get("sig", ""), self._sign(path, expires)):
            return Answer(
                403, EXPIRED.replace("Request has expired", "Bad signature"), {}, "application/xml"
            )
        if expires <= time.time():
            return Answer(403, EXPIRED, {}, "application/xml")
        _, _, provider, name = path.split("/", 3)
        job_id, _, ext = name.rpartition(".")
        job = self.ledger.get(job_id)
        if job is None or job.provider != provider or job.outcome != "ok":
            return Answer(404, "<Error><Code>NoSuchKey</Code></Error>", {}, "application/xml")
        self.ledger.count(provider, "downloads")
        if ext == "png":
            return Answer(200, png_for(job.id), {}, "image/png")
        return Answer(200, mp4_for(job.id), {}, "video/mp4")

    # --- the provider APIs ------------------------------------------------------------------

    def api(
        self,
        provider: EmulatedProvider,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
    ) -> Answer | None:
        """One API request; None means: close the connection without answering."""
        cfg = self.config
        name = provider.name
        key = provider.key_from(headers)
        if not key or (cfg.api_keys is not None and key not in cfg.api_keys):
            self.ledger.count(name, "rejected")
            return provider.unauthorized()
        is_submit = method == "POST" and path == provider.submit_path
        job_id = provider.poll_id(path, query) if method == "GET" else None
        if not is_submit and job_id is None:
            return provider.error(404, f"No route {method} {path}", "not_found")
        if self.chance(cfg.rate_limit_rate):
            self.ledger.count(name, "rate_limited")
            return provider.rate_limited(cfg.retry_after)
        if self.chance(cfg.server_error_rate):
            self.ledger.count(name, "server_errors")
            # A submit's 5xx is a 503: the request was not processed, nothing was created.
            return provider.server_error(503 if is_submit else self.pick(provider.server_errors))
        if is_submit:
            return self.submit(provider, headers, raw)
        return self.poll(provider, job_id or "")

    def submit(
        self, provider: EmulatedProvider, headers: dict[str, str], raw: bytes
    ) -> Answer | None:
        name = provider.name
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            self.ledger.count(name, "rejected")
            return provider.invalid(["the body is not valid JSON"])
        problems, spec = provider.validate(body)
        if problems or spec is None:
            self.ledger.count(name, "rejected")
            return provider.invalid(problems or ["invalid body"])
        body_key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        idem = headers.get("idempotency-key") if name == "apiframe" else None
        if idem is None:
            return self._create_and_answer(provider, spec, body, body_key)
        if len(idem) > 255:
            self.ledger.count(name, "rejected")
            return provider.invalid(["Idempotency-Key must be at most 255 characters"])
        with self.idempotency_lock:
            seen = self.ledger.recall_key(name, idem, within=IDEMPOTENCY_WINDOW)
            if seen is None:
                return self._create_and_answer(provider, spec, body, body_key, idem)
        if seen[0] != body_key:
            self.ledger.count(name, "rejected")
            return provider.error(409, "Idempotency-Key reused with a different body", "conflict")
        self.ledger.count(name, "replays")
        job = self.ledger.get(seen[1])
        assert job is not None  # keys are forgotten together with jobs
        return provider.accepted(job, self.root + "/" + name)

    def _create_and_answer(
        self,
        provider: EmulatedProvider,
        spec: Spec,
        body: Any,
        body_key: str,
        idem: str | None = None,
    ) -> Answer | None:
        name = provider.name
        job = self._create(provider, spec, body, body_key)
        if job is None:
            self.ledger.count(name, "rejected")
            return provider.insufficient(spec.price, self.ledger.balance[name])
        if idem is not None:
            self.ledger.remember_key(name, idem, body_key, job.id)
        if self.chance(self.config.lost_response_rate):
            self.ledger.count(name, "lost_responses")
            return None
        return provider.accepted(job, self.root + "/" + name)

    def _create(
        self, provider: EmulatedProvider, spec: Spec, body: Any, body_key: str
    ) -> EmuJob | None:
        """A new job with its fate drawn now, or None when the balance does not cover it."""
        cfg = self.config
        outcome = "ok"
        if self.chance(cfg.failure_rate):
            outcome = "failed"
        elif self.chance(cfg.moderation_rate):
            outcome = "moderated"
        job = EmuJob(
            id=provider.new_id(self.ledger.next_id()),
            provider=provider.name,
            body_key=body_key,
            created=time.monotonic(),
            latency=0.0 if spec.synchronous else cfg.latency,
            price=spec.price,
            kind=spec.kind,
            outcome=outcome,
            charge_at_submit=provider.charge_at_submit,
            refunds_failures=provider.refunds_failures,
            details={
                "model": spec.model,
                "duration": spec.duration,
                "input": body,
                "created_at": int(time.time()),
                "created_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
        if not self.ledger.add(job):
            return None
        job.details["balance"] = self.ledger.balance[provider.name]
        if spec.synchronous:
            self.ledger.settle(job)
            job.details["url"] = self.file_url(job)
        callback = body.get("callback_url") if isinstance(body, dict) else None
        if provider.name == "aivideoapi" and isinstance(callback, str):
            self._schedule_callback(provider, job, callback)
        return job

    def _schedule_callback(self, provider: EmulatedProvider, job: EmuJob, url: str) -> None:
        """AI Video API POSTs the final poll body to `callback_url` when the task ends.

        Only loopback targets are called: the emulator never reaches beyond this machine.
        """
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            return

        def fire() -> None:
            phase = self.ledger.settle(job)
            answer = provider.polled(
                job, phase, 100.0, self.file_url(job) if job.outcome == "ok" else None
            )
            event = "task.completed" if job.outcome == "ok" else "task.failed"
            request = urllib.request.Request(
                url,
                data=json.dumps(answer.body).encode(),
                headers={"Content-Type": "application/json", "X-Event": event, "X-Task-Id": job.id},
                method="POST",
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except OSError:
                self.ledger.count(provider.name, "callbacks_failed")
            else:
                self.ledger.count(provider.name, "callbacks")

        timer = threading.Timer(max(job.latency, 0.0) + 0.01, fire)
        timer.daemon = True
        timer.start()

    def poll(self, provider: EmulatedProvider, job_id: str) -> Answer:
        job = self.ledger.get(job_id)
        if job is None or job.provider != provider.name:
            return provider.not_found(job_id)
        self.ledger.count(provider.name, "polls")
        phase = self.ledger.settle(job)
        _, progress = job.phase(time.monotonic())
        url = self.file_url(job) if phase == "final" and job.outcome == "ok" else None
        return provider.polled(job, phase, progress, url)

    # --- admin --------------------------------------------------------------------------------

    def admin(self, method: str, path: str, raw: bytes) -> Answer:
        if path == "/_emulator/stats" and method == "GET":
            return Answer(200, self.ledger.stats())
        if path == "/_emulator/reset" and method == "POST":
            self.reset()
            return Answer(200, {"reset": True})
        if path == "/_emulator/config" and method == "POST":
            try:
                self.configure(json.loads(raw or b"{}"))
            except (ValueError, TypeError) as exc:
                return Answer(400, {"error": str(exc)})
            return Answer(200, {"config": _config_json(self.config)})
        if path == "/_emulator/config" and method == "GET":
            return Answer(200, {"config": _config_json(self.config)})
        return Answer(404, {"error": f"no admin route {method} {path}"})


def _coerce(name: str, value: Any) -> Any:
    """A setting as EmulatorConfig holds it (values may come as JSON from /_emulator/config)."""
    try:
        if name in FLOATS:
            number = float(value)
            if number < 0 or (name.endswith("_rate") and number > 1):
                raise ValueError
            return number
        if name == "seed":
            return None if value is None else int(value)
        if name == "api_keys":
            return None if value is None else frozenset(str(k) for k in value)
        if name == "credits":
            if value is None:
                return None
            if isinstance(value, Mapping):
                return {str(k): float(v) for k, v in value.items()}
            return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad value for emulator setting {name!r}: {value!r}") from None
    return value


def _config_json(config: EmulatorConfig) -> dict[str, Any]:
    out = dict(vars(config))
    if out.get("api_keys") is not None:
        out["api_keys"] = f"{len(out['api_keys'])} keys"  # never echo keys
    if isinstance(out.get("credits"), Mapping):
        out["credits"] = dict(out["credits"])
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, the client's
    # delayed ACK would hold every answer back ~40 ms.
    disable_nagle_algorithm = True
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(Answer(400, {"error": "bad Content-Length"}))
            return
        raw = self.rfile.read(length) if length else b""
        try:
            self._route(method, raw)
        except Exception as exc:  # a bug here must not look like a dropped connection
            self.close_connection = True
            self._send(Answer(500, {"error": f"emulator bug: {type(exc).__name__}: {exc}"}))

    def _route(self, method: str, raw: bytes) -> None:
        backend = self.server.backend
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        path = url.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/_emulator/"):
            self._send(backend.admin(method, path, raw))
            return
        if path.startswith("/_files/"):
            self._send(backend.file(path, query))
            return
        prefix, _, rest = path.lstrip("/").partition("/")
        provider = backend.providers.get(prefix)
        if provider is None:
            self._send(
                Answer(404, {"error": f"no provider {prefix!r}: use one of {', '.join(PROVIDERS)}"})
            )
            return
        if backend.config.request_latency > 0:
            time.sleep(backend.config.request_latency)
        answer = backend.api(provider, method, "/" + rest, query, headers, raw)
        if answer is None:  # a lost answer: the job exists, the client never hears of it
            self.close_connection = True
            return
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        body = answer.body
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        super().__init__(address, Handler)
