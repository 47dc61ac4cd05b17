"""One API request at an emulated provider: auth, faults, then submit, poll, list or cancel.

Faults are drawn from one seeded random stream, so a run with a seed is reproducible. The
order is the real services': the key is checked first, then the rate limit, then the
request may meet a server error; a 5xx on a submit may come after the job was created
(and charged), exactly as a lost answer does (except at APIFrame, whose 503 is documented as
"nothing was queued"), and both are counted in the stats.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Mapping
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from .base import Answer, EmulatedProvider, Query, Spec, View
from .config import PROVIDERS, EmulatorConfig, coerce
from .files import Files
from .jobs import EmuJob
from .ledger import Ledger

IDEMPOTENCY_WINDOW = 24 * 3600.0  # APIFrame remembers a key for 24 h


class Backend:
    """Everything a request handler needs, shared by every handler thread."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.ledger = Ledger(config)
        self.providers: dict[str, EmulatedProvider] = {
            name: import_module(f".{name}", __package__).PROVIDER for name in PROVIDERS
        }
        self.files = Files(self.ledger, self.providers)
        self.rng = random.Random(config.seed)
        self.rng_lock = threading.Lock()
        self.config_lock = threading.Lock()
        # Held from recalling an Idempotency-Key to remembering it, so that two concurrent
        # submits with one key create one job.
        self.idempotency_lock = threading.Lock()
        self.list_times: dict[str, deque[float]] = {p: deque() for p in PROVIDERS}

    @property
    def root(self) -> str:
        return self.files.root

    @root.setter
    def root(self, value: str) -> None:
        self.files.root = value

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
        clean = {name: coerce(name, value) for name, value in changes.items()}
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

    # --- one request ------------------------------------------------------------------------

    def api(
        self,
        provider: EmulatedProvider,
        method: str,
        path: str,
        query: Query,
        headers: dict[str, str],
        raw: bytes,
    ) -> Answer | None:
        """One API request; None means: close the connection without answering."""
        cfg = self.config
        name = provider.name
        refused = provider.auth(headers, cfg.key_for(name))
        if refused is not None:
            self.ledger.count(name, "rejected")
            return refused
        route, job_id = self._route(provider, method, path, query)
        if route is None:
            return provider.error(404, f"No route {method} {path}", "not_found")
        if self.chance(cfg.rate_limit_rate) or (route == "list" and self._list_limited(provider)):
            self.ledger.count(name, "rate_limited")
            return provider.rate_limited(cfg.retry_after)
        if self.chance(cfg.server_error_rate):
            self.ledger.count(name, "server_errors")
            status = self.pick(provider.server_errors)
            if route == "submit":  # the client cannot tell whether it made a job
                self.ledger.count(name, "submit_server_errors")
            if route == "submit" and provider.submit_5xx_may_create and self.chance(0.5):
                _, created = self._submit(provider, headers, raw, quiet=True)
                if created is not None:
                    self.ledger.count(name, "server_errors_created")
            return provider.server_error(status)
        if route == "submit":
            return self.submit(provider, headers, raw)
        if route == "list":
            return self.listing(provider, query)
        if route == "cancel":
            return self.cancel(provider, job_id)
        return self.poll(provider, job_id)

    def _route(
        self, provider: EmulatedProvider, method: str, path: str, query: Query
    ) -> tuple[str | None, str]:
        if method == "POST" and path == provider.submit_path:
            return "submit", ""
        if method == "GET" and provider.list_path is not None and path == provider.list_path:
            return "list", ""
        if method == "GET":
            job_id = provider.poll_id(path, query)
            if job_id is not None:
                return "poll", job_id
        if method == "DELETE" and provider.cancel_path is not None:
            m = provider.cancel_path.match(path)
            if m:
                return "cancel", m.group(1)
        return None, ""

    def _list_limited(self, provider: EmulatedProvider) -> bool:
        """The list endpoint's own rate limit, where the provider documents one."""
        if provider.list_rate is None:
            return False
        most, window = provider.list_rate
        now = time.time()
        with self.rng_lock:
            times = self.list_times[provider.name]
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= most:
                return True
            times.append(now)
        return False

    # --- submit -------------------------------------------------------------------------------

    def submit(
        self, provider: EmulatedProvider, headers: dict[str, str], raw: bytes
    ) -> Answer | None:
        """Validate, create and answer (None: the answer is lost)."""
        return self._submit(provider, headers, raw, quiet=False)[0]

    def _submit(
        self, provider: EmulatedProvider, headers: dict[str, str], raw: bytes, quiet: bool
    ) -> tuple[Answer | None, EmuJob | None]:
        """(answer, the job this request created); `quiet`: a 5xx will replace the answer."""
        name = provider.name
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            self.ledger.count(name, "rejected")
            return provider.invalid(["the body is not valid JSON"]), None
        problems, spec = provider.validate(body)
        if problems or spec is None:
            self.ledger.count(name, "rejected")
            return provider.invalid(problems or ["invalid body"]), None
        body_key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        request_id = provider.client_request_id(headers)
        idem = headers.get("idempotency-key") if name == "apiframe" else None
        if idem is None:
            return self._create_and_answer(provider, spec, body, body_key, request_id, quiet)
        if len(idem) > 255:
            self.ledger.count(name, "rejected")
            return provider.invalid(["Idempotency-Key must be at most 255 characters"]), None
        with self.idempotency_lock:
            seen = self.ledger.recall_key(name, idem, within=IDEMPOTENCY_WINDOW)
            if seen is None:
                return self._create_and_answer(
                    provider, spec, body, body_key, request_id, quiet, idem
                )
        if seen[0] != body_key:
            self.ledger.count(name, "rejected")
            conflict = provider.error(409, "Idempotency-Key reused with a different body", "")
            return conflict, None
        self.ledger.count(name, "replays")
        job = self.ledger.get(seen[1])
        assert job is not None  # keys are forgotten together with jobs
        return provider.accepted(job, self.root + "/" + name), None

    def _create_and_answer(
        self,
        provider: EmulatedProvider,
        spec: Spec,
        body: Any,
        body_key: str,
        request_id: str | None,
        quiet: bool,
        idem: str | None = None,
    ) -> tuple[Answer | None, EmuJob | None]:
        name = provider.name
        job = self._create(provider, spec, body, body_key, request_id)
        if job is None:
            self.ledger.count(name, "rejected")
            return provider.insufficient(spec.price, self.ledger.balance[name], self.chance), None
        if idem is not None:
            self.ledger.remember_key(name, idem, body_key, job.id)
        if not quiet and self.chance(self.config.lost_response_rate):
            self.ledger.count(name, "lost_responses")
            return None, job
        if spec.synchronous and not quiet:
            self.ledger.observed([job], poll=False, now=time.time())
        return provider.accepted(job, self.root + "/" + name), job

    def _create(
        self,
        provider: EmulatedProvider,
        spec: Spec,
        body: Any,
        body_key: str,
        request_id: str | None,
    ) -> EmuJob | None:
        """A new job with its fate drawn now, or None when the balance does not cover it."""
        cfg = self.config
        outcome = "ok"
        if self.chance(cfg.failure_rate):
            outcome = "failed"
        elif self.chance(cfg.moderation_rate):
            outcome = "moderated"
        latency = cfg.latency
        if cfg.latency_jitter > 0:
            with self.rng_lock:
                latency += self.rng.uniform(-cfg.latency_jitter, cfg.latency_jitter)
        seq = self.ledger.next_seq()
        now = time.time()
        job = EmuJob(
            id=provider.new_id(seq),
            seq=seq,
            provider=provider.name,
            body_key=body_key,
            created=now,
            latency=0.0 if spec.synchronous else max(latency, 0.0),
            url_ttl=cfg.url_ttl,
            price=spec.price,
            kind=spec.kind,
            outcome=outcome,
            charge_at_submit=provider.charge_at_submit,
            refunds_failures=provider.refunds_failures,
            bills_moderated=provider.bills_moderated,
            client_request_id=request_id,
            details={
                "model": spec.model,
                "duration": spec.duration,
                "resolution": spec.resolution,
                "aspect_ratio": spec.aspect_ratio,
                "input": body,
                **spec.extra,
                **provider.draw(self.chance),
            },
        )
        if not self.ledger.add(job):
            return None
        self.ledger.update(job, balance=self.ledger.balance[provider.name])
        if spec.synchronous:
            self.ledger.settle(job)
            self.ledger.update(job, url=self.files.url(job))
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
            now = time.time()
            self.ledger.settle(job, now)
            answer = provider.polled(job, self.view(job, now))
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

    # --- poll, list, cancel -------------------------------------------------------------------

    def view(self, job: EmuJob, now: float) -> View:
        phase, progress = job.phase(now)
        ok = phase == "final" and job.outcome == "ok" and job.cancelled is None
        return View(
            phase=phase,
            progress=progress,
            now=now,
            url=self.files.url(job) if ok else None,
            poster=self.files.url(job, poster=True) if ok and job.details.get("poster") else None,
            expired=ok and job.expired(now),
            config=self.config,
            chance=self.chance,
        )

    def poll(self, provider: EmulatedProvider, job_id: str) -> Answer:
        job = self.ledger.get(job_id)
        if job is None or job.provider != provider.name:
            return provider.not_found(job_id)
        self.ledger.count(provider.name, "polls")
        now = time.time()
        self.ledger.settle(job, now)
        answer = provider.polled(job, self.view(job, now))
        self.ledger.observed([job], poll=True, now=now)
        return answer

    def listing(self, provider: EmulatedProvider, query: Query) -> Answer:
        self.ledger.count(provider.name, "list_requests")
        now = time.time()
        jobs = self.ledger.of(provider.name)
        for job in jobs:
            if not job.settled:
                self.ledger.settle(job, now)
        answer, shown = provider.listed(jobs, query, lambda j: self.view(j, now), self.config)
        self.ledger.observed(shown, poll=False, now=now)
        return answer

    def cancel(self, provider: EmulatedProvider, job_id: str) -> Answer:
        job = self.ledger.get(job_id)
        if job is None or job.provider != provider.name:
            return provider.not_found(job_id)
        now = time.time()
        done = self.ledger.cancel(job, now)
        return provider.cancelled(job, done)
