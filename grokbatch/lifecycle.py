"""One job's way through a run: claim → submit → poll → download, and every way it ends.

The invariants that make a paid batch safe to leave unattended live here:

* Every wait (a job slot, the provider's request turn, a backoff) comes before the claim.
  The claim (credits reserved, the job SUBMITTING) is the last step before the request
  goes on the wire, and the remote id is committed (`Books.submitted_as`) before anything
  else is awaited. A submit cut off before its first byte left is released to pending.
* After a failed submit the decision is `retry.after_submit_error`'s: resend only what
  cannot pay twice; a lost answer is AMBIGUOUS, with its reservation kept.
* A first stop lets a submit already on the wire finish, so its answer is recorded.
* A job never takes the batch down: anything unexpected ends that job (failed, or
  ambiguous if its submit may have gone out) with the reason, and the batch goes on.
* Several runners share one batch: a job another runner holds (its claim, or a takeover
  after this runner's lease lapsed) is theirs. A transition that meets one raises
  StateConflictError, and this runner leaves the job to them, saying so.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from .books import Books
from .control import Control, JobSlot, Stop, Turn
from .download import download
from .errors import (
    AmbiguousSubmitError,
    BudgetExceededError,
    DownloadError,
    GrokbatchError,
    InternalError,
    ModerationError,
    OutputExpiredError,
    ProtocolError,
    RemoteJobFailedError,
    StateConflictError,
    TransientError,
)
from .jobs import Job
from .providers.client import ProviderClient, Wire
from .providers.wire import Polled, RemoteState, Submitted
from .resume import Action
from .retry import Backoff, Do, after_download_error, after_submit_error
from .scheduler import Scheduler
from .state.base import JobRow, JobState


@dataclass(frozen=True)
class JobSettings:
    output_dir: Path
    retries: int = 5
    request_timeout: float = 60.0
    submit_grace: float = 10.0  # how long past the timeout a sent submit's answer is awaited
    download_timeout: float = 600.0


class Lifecycle:
    """Walks jobs through their lives; one instance per run, one call of `run` per job."""

    def __init__(
        self,
        *,
        books: Books,
        control: Control,
        clients: Mapping[str, ProviderClient],
        files: httpx.AsyncClient,
        scheduler: Scheduler,
        settings: JobSettings,
        backoff: Backoff,
    ) -> None:
        self.books = books
        self.control = control
        self.clients = clients
        self.files = files  # never carries a key: outputs live on CDNs that redirect
        self.scheduler = scheduler
        self.settings = settings
        self.backoff = backoff

    async def run(
        self, job: Job, action: Action, row: JobRow | None, slot: JobSlot | None = None
    ) -> None:
        """Carry out the resume decision for one job; its `slot` is given back as soon as
        the provider's job has finished, before the download."""
        try:
            await self._walk(job, action, row, slot)
        except StateConflictError as exc:
            self.books.note("elsewhere", job, f"another runner has it: {exc}")
        except Exception as exc:  # a bug, or an answer nobody foresaw: end this job only
            self._crashed(job, exc)

    async def _walk(
        self, job: Job, action: Action, row: JobRow | None, slot: JobSlot | None
    ) -> None:
        if self.control.stopping:
            return
        if action.takes_over:
            assert row is not None
            row = self.books.take_over(job, row)
        polled: Polled | None
        if action.submits:
            if action in (Action.RETRY, Action.RESUBMIT):
                reason = "--retry-failed" if action is Action.RETRY else "--resubmit-ambiguous"
                self.books.reset(job, reason)
            submitted = await self.submit(job, claim=row if action is Action.RESEND else None)
            if submitted is None:
                return
            remote_id = submitted.remote_id
            polled = submitted.result or await self.scheduler.until_finished(job, remote_id)
            running = True
        else:
            assert row is not None and row.remote_id is not None
            remote_id = row.remote_id
            running = action is Action.ATTACH
            if action is Action.REFETCH:
                self.books.reopen(job, "output file missing or changed")
            if running:
                self.books.note("attached", job, f"id={remote_id}", row=row)
            polled = await self.scheduler.until_finished(
                job, remote_id, at_once=not running, since=_since(row.submitted_at)
            )
        if polled is None:
            return
        await self.finish(job, remote_id, polled, running=running, slot=slot)

    # --- submit ---------------------------------------------------------------------------
    async def submit(self, job: Job, *, claim: JobRow | None) -> Submitted | None:
        """Claim the job and send it; the remote id, or None when it was not (or may have
        been) created. `claim`: a SUBMITTING job at an idempotent provider, resent as is."""
        client = self.clients[job.provider]
        idempotent = client.provider.idempotent_submit
        number = claim.attempts if claim is not None else 0
        for attempt in itertools.count():
            if not await self.control.turn(job.provider, Turn.SUBMIT):
                return None
            if not self.control.may_submit(job.provider):
                return None
            if claim is None:
                try:
                    claim = self.books.claim(job)
                except BudgetExceededError as exc:
                    if self.control.close(Stop.BUDGET, exc):
                        self.books.note("budget", job, f"{exc}; finishing what is in flight")
                    return None
                except StateConflictError:
                    return None  # another runner has it
                number = claim.attempts
                self.books.tagged(job, number, client.provider.client_request_id(job, number))
            wire = client.wire()
            try:
                submitted = await self._send(client, job, number, wire)
            except GrokbatchError as exc:
                error = exc
            except anyio.get_cancelled_exc_class():
                if not wire.sent:  # cut off before its first byte left: nothing created
                    self.books.release(job, _unsent("the run was cancelled"))
                raise
            except Exception as exc:
                if not wire.sent:
                    self.books.release(job, _unsent(f"{type(exc).__name__}: {exc}"))
                raise
            else:
                # The never-pay-twice invariant: durable before anything else is awaited.
                self.books.submitted_as(job, submitted)
                return submitted
            decision = after_submit_error(
                error,
                idempotent=idempotent,
                attempt=attempt,
                retries=self.settings.retries,
                backoff=self.backoff,
            )
            self.control.cool_down(job.provider, decision.cool_down)
            if decision.do in (Do.RETRY, Do.STOP_CREDITS, Do.STOP_AUTH) or (
                decision.do is Do.GIVE_UP and not idempotent
            ):
                self.books.release(job, error)
                claim = None
            if decision.do is Do.AMBIGUOUS:
                self.books.ambiguous(
                    job, AmbiguousSubmitError(f"submit sent, answer lost: {error}")
                )
                return None
            if decision.do is Do.FAIL:
                self.books.refuse(job, error)
                return None
            if decision.do is Do.STOP_CREDITS:
                if self.control.close(Stop.CREDITS, error):
                    self.books.note("out_of_credits", job, str(error))
                return None
            if decision.do is Do.STOP_AUTH:
                if self.control.refuse(job.provider, error):
                    key = client.provider.key_env
                    self.books.note("auth_failed", job, f"{error}; check {key}")
                return None
            if decision.do is Do.GIVE_UP:
                self.books.note("unfinished", job, f"submit still refused after {attempt} retries")
                return None
            self.books.note("retry", job, f"submit in {decision.delay:.1f}s: {error}")
            if await self.control.pause(decision.delay):
                return None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, client: ProviderClient, job: Job, number: int, wire: Wire) -> Submitted:
        # A first stop cancels nothing, so a sent submit is awaited and its answer recorded;
        # a second one cancels it (the caller releases it if it never left).
        limit = self.settings.request_timeout + self.settings.submit_grace
        with anyio.move_on_after(limit):
            return await client.submit(job, number, wire=wire)
        raise TransientError(
            f"no answer to the submit in {limit:g}s", provider=job.provider, request_sent=wire.sent
        )

    # --- finish ---------------------------------------------------------------------------
    async def finish(
        self, job: Job, remote_id: str, polled: Polled, *, running: bool, slot: JobSlot | None
    ) -> None:
        if polled.state is RemoteState.FAILED:
            self.books.fail(job, _remote_failure(job, polled), polled=polled)
            return
        if running:
            self.books.ready(job, polled)
        if slot is not None:
            slot.free()  # nothing runs at the provider any more: the next job may start
        await self.fetch(job, remote_id, polled)

    async def fetch(self, job: Job, remote_id: str, polled: Polled) -> None:
        """Download the output; a job whose URL expired is asked once for a fresh one."""
        dest = self.settings.output_dir / job.output
        refreshed = False
        for attempt in itertools.count():
            if not polled.output_urls:
                self.books.fail(
                    job, ProtocolError("the provider reported success but gave no output URL")
                )
                return
            try:
                got = await download(
                    self.files,
                    polled.output_urls[0],
                    dest,
                    kind=job.type,
                    timeout=self.settings.download_timeout,
                )
            except (GrokbatchError, OSError) as error:
                decision = after_download_error(
                    error,
                    attempt=attempt,
                    retries=self.settings.retries,
                    refreshed=refreshed,
                    backoff=self.backoff,
                )
                if decision.do is Do.REFRESH:
                    refreshed = True
                    fresh = await self.scheduler.until_finished(job, remote_id, at_once=True)
                    if fresh is None:
                        return
                    if fresh.state is not RemoteState.SUCCEEDED:
                        self.books.fail(job, _gone(error, fresh))
                        return
                    polled = fresh
                    continue
                if decision.do is Do.RETRY:
                    if await self.control.pause(decision.delay):
                        return
                    continue
                if decision.do is Do.FAIL:
                    failure = (
                        error if isinstance(error, GrokbatchError) else DownloadError(str(error))
                    )
                    self.books.fail(job, failure)
                    return
                self.books.note("unfinished", job, f"download failed ({error}); a rerun retries it")
                return
            self.books.done(job, got)
            return

    # --- the unexpected -------------------------------------------------------------------
    def _crashed(self, job: Job, exc: Exception) -> None:
        error = InternalError(f"{type(exc).__name__}: {exc}")
        row = self.books.get(job.key)
        state = row.state if row else None
        mine = row is not None and row.owner == self.books.runner
        try:
            if state is JobState.SUBMITTING and mine:
                # Its submit may have gone out: never resend it blindly.
                self.books.ambiguous(
                    job, AmbiguousSubmitError(f"the submit's answer was lost: {error}")
                )
            elif state in (JobState.RUNNING, JobState.READY) and mine:
                self.books.fail(job, error)
            else:
                self.books.note("failed", job, f"{error}; a rerun tries again")
        except StateConflictError as conflict:  # taken over meanwhile: theirs now
            self.books.note("elsewhere", job, f"{error}; another runner has it: {conflict}")


def _since(submitted_at: str | None) -> float:
    """Seconds since a stored submit (its progress is read against that); 0 if unknown."""
    try:
        at = dt.datetime.fromisoformat(submitted_at or "")
    except ValueError:
        return 0.0
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return max(0.0, (dt.datetime.now(dt.UTC) - at).total_seconds())


def _unsent(why: str) -> TransientError:
    return TransientError(f"{why} before the request was sent", request_sent=False)


def _remote_failure(job: Job, polled: Polled) -> GrokbatchError:
    message = polled.error or f"the provider reports {polled.status}"
    if polled.moderated:
        return ModerationError(message, provider=job.provider, code=polled.error_code)
    if polled.status.lower() == "expired":
        return OutputExpiredError(
            f"{job.provider} made the clip (and charged it), but it expired before it was "
            f"downloaded: {message}"
        )
    return RemoteJobFailedError(message, provider=job.provider, code=polled.error_code)


def _gone(error: BaseException, fresh: Polled) -> OutputExpiredError:
    return OutputExpiredError(
        f"the output URL expired ({error}) and the provider now reports {fresh.status}"
    )
