"""One scheduler for a run's status checks: which job to check next, when, poll or list.

A job's task asks `until_finished(job, remote_id)` and sleeps until the scheduler's one
task wakes it at its due time (agenda.py decides; timing.py times), then polls it (taking
the provider's request turn behind any submit: `Turn.POLL`), and hands the answer back to
be rescheduled. Where a provider can list its finished jobs (`Lister`), one list request,
made by the scheduler, answers for every running job it covers.

Invariants:

* A check is a request from the provider's one budget; a failed one is retried after the
  decision in `retry.after_poll_error`, never in a tight loop.
* The provider's status name is recorded whenever it changes; a name no adapter knows
  counts as "still running" and is reported once per provider.
* Nothing here ends the batch: an error in one job's check ends in that job's task (the
  lifecycle records it); a failing list falls back to polling the jobs one by one.
* The completion times learned are saved by the runner when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Protocol

import anyio
import anyio.abc

from .agenda import Agenda, Watch, wait_for
from .books import Books
from .control import Control, Turn
from .errors import GrokbatchError, NotFoundError, RateLimitedError
from .jobs import Job
from .providers.client import ProviderClient
from .providers.wire import Polled, RemoteState
from .retry import Backoff, Do, after_poll_error
from .timing import Learned, PollSettings, origin

LIST_PAUSE = 60.0  # after a failed list request, that provider's jobs are polled for this long


class Lister(Protocol):
    """A provider's list of the account's jobs, newest first, read one page per request.

    Vydra `GET /api/v1/jobs?limit=100`, APIFrame `GET /v2/jobs?limit=100`: one request
    tells which of many running jobs finished. The scheduler takes the provider's request
    turn (`Turn.LIST`) before each call; an implementation sends exactly one request per
    call.
    """

    async def recent_jobs(self) -> Mapping[str, Polled]:
        """Every job on the newest page, by remote id, each as a poll of it would have
        answered (with its output URLs once it succeeded), whatever its state. A job not
        on it may have fallen off the page: it is polled. Raises GrokbatchError as a poll
        does."""
        ...


Clock = Callable[[], float]


class Scheduler:
    """A run's status checks: one heap of due times and one task; `async with` runs it."""

    def __init__(
        self,
        *,
        clients: Mapping[str, ProviderClient],
        control: Control,
        books: Books,
        settings: PollSettings,
        backoff: Backoff,
        learned: Learned | None = None,
        listers: Mapping[str, Lister] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.clients = clients
        self.control = control
        self.books = books
        self.settings = settings
        self.backoff = backoff
        self.learned = learned if learned is not None else Learned()
        self.listers = dict(listers or {})
        self.clock = clock
        origins = {
            name: origin(name, client.base_url, client.provider.default_base_url)
            for name, client in clients.items()
        }
        self.agenda = Agenda(settings, self.learned, origins)
        self._changed = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._unknown: set[tuple[str, str]] = set()
        self._list_paused: dict[str, float] = {}
        control.on_stop(self._wake_all)

    # --- running ------------------------------------------------------------------------------
    async def __aenter__(self) -> Scheduler:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._loop)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # the loop and any list request under way
        return await self._tg.__aexit__(kind, exc, tb)

    async def _loop(self) -> None:
        while True:
            now = self.clock()
            listers = [p for p in self.listers if self._list_paused.get(p, 0.0) <= now]
            polls, lists = self.agenda.release(now, listers=listers)
            for watch in polls:
                self._wake(watch)
            for provider, covered in lists.items():
                assert self._tg is not None
                self._tg.start_soon(self._list, provider, covered)
            self._changed = anyio.Event()
            with anyio.move_on_after(wait_for(self.agenda.next_due(), self.clock())):
                await self._changed.wait()

    def _nudge(self) -> None:
        self._changed.set()

    @staticmethod
    def _wake(watch: Watch) -> None:
        event = watch.handle
        assert isinstance(event, anyio.Event)
        event.set()

    def _wake_all(self) -> None:
        for watch in self.agenda.watches():
            self._wake(watch)
        self._nudge()

    # --- one job ------------------------------------------------------------------------------
    async def until_finished(
        self, job: Job, remote_id: str, *, at_once: bool = False, since: float | None = None
    ) -> Polled | None:
        """The job's final status at the provider; None when it cannot be told now (the run
        is stopping, the checks keep failing, or it runs past the job timeout).

        `since`: seconds since it was submitted, for a job this run did not submit (its
        progress is read against that); `at_once`: check it now (a fresh URL is wanted).
        """
        if self.control.stopping:
            return None
        watch = self.agenda.watch(
            job,
            remote_id,
            now=self.clock(),
            since=since or 0.0,
            at_once=at_once,
            teaches=since is None and not at_once,
        )
        watch.handle = anyio.Event()
        self._nudge()
        try:
            return await self._follow(watch)
        finally:
            self.agenda.drop(watch)
            self._nudge()

    async def _follow(self, watch: Watch) -> Polled | None:
        job = watch.job
        client = self.clients[job.provider]
        failures = 0
        last: str | None = None
        while True:
            await watch.handle.wait()
            watch.handle = anyio.Event()
            if self.control.stopping:
                return None
            polled, watch.found = watch.found, None
            if polled is None:
                if not await self.control.turn(job.provider, Turn.POLL):
                    return None
                try:
                    polled = await client.poll(watch.remote_id)
                except GrokbatchError as error:
                    failures += 1
                    if not self._failed(watch, error, failures):
                        return None
                    continue
                failures = 0
            if polled.status != last:
                last = polled.status
                self.books.status(job, polled)
                self._check_name(job, polled)
            now = self.clock()
            if polled.state.finished:
                if polled.state is RemoteState.SUCCEEDED:
                    self.agenda.finished(watch, now=now)
                return polled
            if now - watch.watched > self.settings.job_timeout:
                timeout = f"{self.settings.job_timeout:g}s"
                self.books.note(
                    "unfinished", job, f"still {polled.status} after {timeout}; a rerun re-attaches"
                )
                return None
            self.agenda.running(watch, now=now, progress=polled.progress)
            self._nudge()

    def _failed(self, watch: Watch, error: GrokbatchError, failures: int) -> bool:
        """A failed check: True if it is to be tried again (rescheduled)."""
        job = watch.job
        decision = after_poll_error(
            error, failures=failures, retries=self.settings.retries, backoff=self.backoff
        )
        self.control.cool_down(job.provider, decision.cool_down)
        if decision.do is Do.FAIL and isinstance(error, NotFoundError):
            self.books.fail(
                job, NotFoundError(f"the provider no longer knows job {watch.remote_id}: {error}")
            )
            return False
        if decision.do is not Do.RETRY:
            self.books.note("unfinished", job, f"status check failed: {error}; a rerun re-attaches")
            return False
        self.agenda.retry(watch, at=self.clock() + decision.delay)
        self._nudge()
        return True

    def _check_name(self, job: Job, polled: Polled) -> None:
        if polled.recognised or (job.provider, polled.status.lower()) in self._unknown:
            return
        self._unknown.add((job.provider, polled.status.lower()))
        self.books.note("unknown_status", job, f"{polled.status!r}: treated as running")

    # --- many jobs, one request -----------------------------------------------------------
    async def _list(self, provider: str, covered: list[Watch]) -> None:
        found: Mapping[str, Polled] | None = None
        try:
            if not await self.control.turn(provider, Turn.LIST):
                return  # stopping: every watch is woken to see it
            try:
                found = await self.listers[provider].recent_jobs()
            except Exception as error:  # a list is an optimisation: any failure, poll instead
                if isinstance(error, RateLimitedError):
                    self.control.cool_down(provider, error.retry_after)
                self._list_paused[provider] = self.clock() + LIST_PAUSE
                why = str(error) if isinstance(error, GrokbatchError) else repr(error)
                self.books.note("list_failed", None, f"{provider}: {why}; polling instead")
        finally:
            now = self.clock()
            for watch in self.agenda.listed(provider, covered, found, now):
                self._wake(watch)
            self._nudge()
