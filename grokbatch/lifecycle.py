"""One job's way through a run: reserve → submit → poll → download, and every way it ends.

`Run` holds what the jobs of one run share (limits, clients, the store, the reporter) and
walks each job through its life; `runner.run_batch` feeds it jobs. The invariants that make
a paid batch safe to leave unattended live here:

* The credits are reserved, and the intent to submit recorded, in one transaction before
  the request is sent; the remote id is committed with `mark_submitted` before anything
  else is awaited.
* A submit is resent only when the provider certainly did not take it (refused connection,
  429, 503) or an Idempotency-Key makes the resend safe; a lost answer is AMBIGUOUS.
* A first Ctrl-C stops new work at the next safe point but lets a sent submit finish, so
  its answer is recorded.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx

from .budget import BudgetPolicy, BudgetStatus, budget_status
from .download import download
from .errors import (
    AuthenticationError,
    DownloadError,
    InsufficientCreditsError,
    NotFoundError,
    OutputExpiredError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from .jobs import Job
from .limits import ProviderLimits
from .progress import Reporter
from .providers.base import Polled, RemoteState, Submitted
from .providers.client import ProviderClient
from .resume import Action
from .retry import Backoff
from .state.base import JobRow, JobState, StateConflictError, StateStore


@dataclass(frozen=True)
class RunSettings:
    output_dir: Path
    concurrency: int = 8
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    requests_per_minute: Mapping[str, float] = field(default_factory=dict)
    retries: int = 5
    retry_failed: bool = False
    resubmit_ambiguous: bool = False
    poll_initial: float = 2.0
    poll_max: float = 30.0
    poll_factor: float = 1.5
    request_timeout: float = 60.0
    job_timeout: float = 3600.0
    download_timeout: float = 600.0
    submit_grace: float = 10.0  # how long a first Ctrl-C waits for a sent submit's answer
    handle_signals: bool = True
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


class Run:
    """One run's shared state; one instance per run_batch call."""

    def __init__(
        self,
        *,
        manifest: str,
        store: StateStore,
        clients: Mapping[str, ProviderClient],
        http: httpx.AsyncClient,
        policy: BudgetPolicy,
        settings: RunSettings,
        reporter: Reporter,
        units: Mapping[str, str],
        run_id: int,
    ) -> None:
        self.manifest = manifest
        self.store = store
        self.clients = clients
        self.http = http
        self.policy = policy
        self.settings = settings
        self.reporter = reporter
        self.units = units
        self.run_id = run_id
        self.slots = anyio.Semaphore(settings.concurrency)
        self.provider_slots = {
            name: anyio.Semaphore(n) for name, n in settings.provider_concurrency.items()
        }
        self.rate = ProviderLimits(settings.requests_per_minute)
        self.backoff = Backoff(
            base=settings.backoff_base, cap=settings.backoff_cap, rng=random.Random()
        )
        self.states: dict[str, str] = {}  # key → JobState value, for the live counts
        self.stopping = anyio.Event()  # first Ctrl-C: no new work, pollers return
        self.stop_submitting = False
        self.budget_stopped = False
        self.credits_exhausted = False
        self.interrupted = False
        self.refused: set[str] = set()  # providers whose key was refused
        self.submitted = 0
        self.unknown_statuses: set[tuple[str, str]] = set()

    # --- bookkeeping ------------------------------------------------------------------------

    def set_state(self, job: Job, state: JobState) -> None:
        self.states[job.key] = state.value

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.states.values()))

    def budget(self) -> BudgetStatus:
        return budget_status(self.store, self.manifest, self.policy, self.units)

    async def pause(self, seconds: float) -> bool:
        """Sleep, or return early (True) when the run is stopping."""
        with anyio.move_on_after(seconds):
            await self.stopping.wait()
        return self.stopping.is_set()

    def stop_new_submissions(self, kind: str, job: Job | None, detail: str) -> None:
        if not self.stop_submitting:
            self.reporter.event(kind, job, detail)
        self.stop_submitting = True

    # --- one job ----------------------------------------------------------------------------

    async def work(self, job: Job, action: Action, row: JobRow | None) -> None:
        try:
            sem = self.provider_slots.get(job.provider)
            if sem is None:
                await self.handle(job, action, row)
            else:
                async with sem:
                    await self.handle(job, action, row)
        finally:
            self.slots.release()

    async def handle(self, job: Job, action: Action, row: JobRow | None) -> None:
        if self.stopping.is_set():
            return
        polled: Polled | None
        if action in (Action.SUBMIT, Action.RETRY, Action.RESUBMIT, Action.RESEND):
            if action in (Action.RETRY, Action.RESUBMIT):
                self.store.reset(
                    self.manifest,
                    job.key,
                    run_id=self.run_id,
                    reason="--retry-failed" if action is Action.RETRY else "--resubmit-ambiguous",
                )
                self.set_state(job, JobState.PENDING)
            resend_attempt = row.attempts if action is Action.RESEND and row else None
            submitted = await self.submit(job, resend_attempt=resend_attempt)
            if submitted is None:
                return
            remote_id = submitted.remote_id
            polled = submitted.result
            if polled is None:
                polled = await self.poll_until_finished(job, remote_id)
        else:
            assert row is not None and row.remote_id is not None
            remote_id = row.remote_id
            if action is Action.REFETCH:
                self.store.reopen(
                    self.manifest,
                    job.key,
                    run_id=self.run_id,
                    reason="output file missing or changed",
                )
                self.set_state(job, JobState.READY)
                self.reporter.event("refetch", job, "output missing or changed; no charge")
            if action is Action.ATTACH:
                self.reporter.event("attach", job, f"id={remote_id}")
                polled = await self.poll_until_finished(job, remote_id)
            else:
                polled = await self.poll_until_finished(job, remote_id, ready=True)
        if polled is None:
            return
        await self.finish(job, remote_id, polled)

    async def finish(self, job: Job, remote_id: str, polled: Polled) -> None:
        current = self.store.get(self.manifest, job.key)
        state = current.state if current else None
        if polled.state is RemoteState.FAILED:
            kind = "ModerationError" if polled.moderated else "RemoteJobFailedError"
            message = polled.error or f"the provider reports {polled.status}"
            self._fail(job, message, kind, polled=polled)
            return
        if state is JobState.RUNNING:
            self.store.mark_ready(
                self.manifest,
                job.key,
                run_id=self.run_id,
                charged_credits=polled.charged,
                charged_usd=polled.usd,
            )
            self.set_state(job, JobState.READY)
        await self.fetch(job, remote_id, polled)

    # --- submit -----------------------------------------------------------------------------

    async def submit(self, job: Job, *, resend_attempt: int | None) -> Submitted | None:
        """Reserve, send, record. `resend_attempt`: a SUBMITTING job's attempt, resent as is."""
        client = self.clients[job.provider]
        idempotent = client.provider.idempotent_submit
        retries = self.settings.retries
        resend = resend_attempt is not None
        number = resend_attempt or 1  # which deliberate submission of the job this is
        for attempt in range(retries + 1):
            if self.stop_submitting or job.provider in self.refused or self.stopping.is_set():
                return None
            if not resend:
                try:
                    fits = self.store.reserve(
                        self.manifest,
                        job.key,
                        run_id=self.run_id,
                        credits=job.credits,
                        usd=job.usd,
                        limits=self.policy.limits_for(job.provider),
                    )
                except StateConflictError:
                    return None  # another runner has this job
                if not fits:
                    self.budget_stopped = True
                    self.stop_new_submissions(
                        "budget",
                        job,
                        f"would pass the budget ({self.budget().format()}); "
                        "no more submissions, finishing what is in flight",
                    )
                    return None
                self.set_state(job, JobState.SUBMITTING)
                claimed = self.store.get(self.manifest, job.key)
                number = claimed.attempts if claimed else 1
            await self.rate[job.provider].wait()
            try:
                # A first Ctrl-C cancels nothing (it only stops new work), so a sent submit
                # is awaited and its answer recorded; a second one cancels it, leaving the
                # job SUBMITTING, which the next run reports as ambiguous.
                with anyio.move_on_after(
                    self.settings.request_timeout + self.settings.submit_grace
                ):
                    submitted = await client.submit(job, number)
                    self.submitted += 1
                    # The never-pay-twice invariant: the remote id is durable before anything
                    # else is awaited.
                    self.store.mark_submitted(
                        self.manifest,
                        job.key,
                        run_id=self.run_id,
                        remote_id=submitted.remote_id,
                        charged=submitted.charged,
                    )
                    self.set_state(job, JobState.RUNNING)
                    self.reporter.event("submitted", job, f"id={submitted.remote_id}")
                    return submitted
                raise TransientError("no answer to the submit in time", provider=job.provider)
            except RateLimitedError as exc:
                self.rate[job.provider].cool_down(exc.retry_after or 0.0)
                resend = self._not_accepted(job, exc, idempotent)
                delay = self.backoff.delay(attempt, exc.retry_after)
            except InsufficientCreditsError as exc:
                self._release(job, exc, failed=False)
                self.credits_exhausted = True
                self.stop_new_submissions("out_of_credits", job, str(exc))
                return None
            except AuthenticationError as exc:
                self._release(job, exc, failed=True)
                self.refused.add(job.provider)
                self.reporter.event("auth_failed", job, f"{exc}; check {client.provider.key_env}")
                return None
            except TransientError as exc:
                certain = not exc.request_sent or exc.status_code == 503
                if certain or idempotent:
                    resend = self._not_accepted(job, exc, idempotent)
                    delay = self.backoff.delay(attempt, exc.retry_after)
                else:
                    self._ambiguous(job, exc)
                    return None
            except ProtocolError as exc:
                if idempotent:
                    resend = True
                    delay = self.backoff.delay(attempt)
                else:
                    self._ambiguous(job, exc)
                    return None
            except ProviderError as exc:  # invalid request, conflict, not found
                self._release(job, exc, failed=True)
                self.set_state(job, JobState.FAILED)
                self.reporter.event("failed", job, f"{type(exc).__name__}: {exc}")
                return None
            self.reporter.event("retry", job, f"submit in {delay:.1f}s")
            if await self.pause(delay):
                return None
        self.reporter.event("unfinished", job, f"submit still refused after {retries} retries")
        return None

    def _not_accepted(self, job: Job, exc: ProviderError, idempotent: bool) -> bool:
        """The provider did not take the submit: keep the claim (idempotent) or release it."""
        if idempotent:
            return True  # stays SUBMITTING; the same Idempotency-Key makes a resend safe
        self._release(job, exc, failed=False)
        return False

    def _release(self, job: Job, exc: BaseException, *, failed: bool) -> None:
        self.store.release(
            self.manifest,
            job.key,
            run_id=self.run_id,
            error=str(exc),
            error_kind=type(exc).__name__,
            failed=failed,
        )
        self.set_state(job, JobState.FAILED if failed else JobState.PENDING)

    def _ambiguous(self, job: Job, exc: BaseException) -> None:
        self.store.mark_ambiguous(
            self.manifest,
            job.key,
            run_id=self.run_id,
            error=f"submit sent, answer lost: {exc}",
            error_kind=type(exc).__name__,
        )
        self.set_state(job, JobState.AMBIGUOUS)
        self.reporter.event(
            "ambiguous",
            job,
            "submit sent but its answer was lost: it may "
            "have been paid; not resent (see --resubmit-ambiguous)",
        )
        return None

    # --- poll -------------------------------------------------------------------------------

    async def poll_until_finished(
        self, job: Job, remote_id: str, *, ready: bool = False
    ) -> Polled | None:
        """Poll with growing intervals until the job finishes; None if it cannot be told."""
        client = self.clients[job.provider]
        interval = 0.0 if ready else self.settings.poll_initial
        deadline = time.monotonic() + self.settings.job_timeout
        failures = 0
        last_status: str | None = None
        while True:
            jitter = interval * 0.1 * random.random()
            if await self.pause(interval + jitter):
                return None
            await self.rate[job.provider].wait()
            try:
                polled = await client.poll(remote_id)
            except NotFoundError as exc:
                message = f"the provider no longer knows job {remote_id}: {exc}"
                self._fail(job, message, "NotFoundError")
                return None
            except (TransientError, ProtocolError) as exc:
                failures += 1
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(exc, RateLimitedError):
                    self.rate[job.provider].cool_down(retry_after or 0.0)
                if failures > self.settings.retries:
                    self.reporter.event(
                        "unfinished",
                        job,
                        f"polling failed {failures} times ({exc}); a rerun re-attaches",
                    )
                    return None
                interval = self.backoff.delay(failures, retry_after)
                continue
            except ProviderError as exc:
                self.reporter.event("unfinished", job, f"{exc}; a rerun re-attaches")
                return None
            failures = 0
            if polled.status != last_status:
                last_status = polled.status
                if self.states.get(job.key) in ("running", "ready"):
                    self.store.record_status(
                        self.manifest, job.key, run_id=self.run_id, remote_status=polled.status
                    )
                self._check_status_name(job, polled)
            if polled.state.finished:
                return polled
            if time.monotonic() > deadline:
                self.reporter.event(
                    "unfinished",
                    job,
                    f"still {polled.status} after "
                    f"{self.settings.job_timeout:g}s; a rerun re-attaches",
                )
                return None
            interval = min(
                max(interval, self.settings.poll_initial) * self.settings.poll_factor,
                self.settings.poll_max,
            )

    def _check_status_name(self, job: Job, polled: Polled) -> None:
        if polled.recognised:
            return
        name = polled.status.lower()
        if (job.provider, name) not in self.unknown_statuses:
            self.unknown_statuses.add((job.provider, name))
            self.reporter.event("unknown_status", job, f"{polled.status!r}: treated as running")

    # --- download ---------------------------------------------------------------------------

    async def fetch(self, job: Job, remote_id: str, polled: Polled) -> None:
        dest = self.settings.output_dir / job.output
        refreshed = False
        for attempt in range(self.settings.retries + 1):
            if not polled.output_urls:
                self._fail(
                    job, "the provider reported success but gave no output URL", "ProtocolError"
                )
                return
            try:
                got = await download(
                    self.http,
                    polled.output_urls[0],
                    dest,
                    kind=job.type,
                    timeout=self.settings.download_timeout,
                )
            except OutputExpiredError as exc:
                if refreshed:
                    self._fail(
                        job, f"output URL expired before download: {exc}", "OutputExpiredError"
                    )
                    return
                refreshed = True
                fresh = await self.poll_until_finished(job, remote_id, ready=True)
                if fresh is None or fresh.state is not RemoteState.SUCCEEDED:
                    if fresh is not None:
                        self._fail(
                            job,
                            "output URL expired and the provider no longer reports the job done",
                            "OutputExpiredError",
                        )
                    return
                polled = fresh
                continue
            except TransientError as exc:
                if await self.pause(self.backoff.delay(attempt, exc.retry_after)):
                    return
                continue
            except DownloadError as exc:
                self._fail(job, str(exc), "DownloadError")
                return
            self.store.mark_done(
                self.manifest,
                job.key,
                run_id=self.run_id,
                output_path=job.output,
                size=got.size,
                sha256=got.sha256,
            )
            self.set_state(job, JobState.DONE)
            self.reporter.event("done", job, f"{job.output} ({got.size:,} bytes)")
            return
        self.reporter.event("unfinished", job, "download kept failing; a rerun retries it")

    def _fail(self, job: Job, message: str, kind: str, *, polled: Polled | None = None) -> None:
        """Record a job as failed. Unless the provider says it refunds (`polled`), its charge
        stays spent: a clip that was made but could not be fetched was still paid for."""
        self.store.mark_failed(
            self.manifest,
            job.key,
            run_id=self.run_id,
            error=message,
            error_kind=kind,
            refunded=polled.refunded if polled else False,
            charged_credits=polled.charged if polled else None,
            charged_usd=polled.usd if polled else None,
        )
        self.set_state(job, JobState.FAILED)
        self.reporter.event("failed", job, f"{kind}: {message}")
