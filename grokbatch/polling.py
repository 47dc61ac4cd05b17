"""Asking the provider how a job is doing, until it has finished.

The interval starts at `poll_initial`, grows by `poll_factor` to `poll_max`, with a little
jitter; a failed check is retried after the decision in `retry.after_poll_error`. The
provider's own status name is recorded whenever it changes; a name no adapter knows counts
as "still running" and is reported once per provider.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .books import Books
from .control import Control
from .errors import GrokbatchError, NotFoundError
from .jobs import Job
from .providers.client import ProviderClient
from .providers.wire import Polled
from .retry import Backoff, Do, after_poll_error


@dataclass(frozen=True)
class PollSettings:
    initial: float = 2.0
    maximum: float = 30.0
    factor: float = 1.5
    job_timeout: float = 3600.0  # a job still running after this is left for a rerun
    retries: int = 5


class Poller:
    """Polls one job at a time, each in its own task."""

    def __init__(
        self,
        *,
        clients: Mapping[str, ProviderClient],
        control: Control,
        books: Books,
        settings: PollSettings,
        backoff: Backoff,
    ) -> None:
        self.clients = clients
        self.control = control
        self.books = books
        self.settings = settings
        self.backoff = backoff
        self._unknown: set[tuple[str, str]] = set()

    async def until_finished(
        self, job: Job, remote_id: str, *, at_once: bool = False
    ) -> Polled | None:
        """The job's final status at the provider; None when it cannot be told now (the run
        is stopping, the checks keep failing, or it runs past the job timeout)."""
        client = self.clients[job.provider]
        settings = self.settings
        interval = 0.0 if at_once else settings.initial
        deadline = time.monotonic() + settings.job_timeout
        failures = 0
        last: str | None = None
        while True:
            if await self.control.pause(interval * (1 + 0.1 * random.random())):
                return None
            if not await self.control.turn(job.provider):
                return None
            try:
                polled = await client.poll(remote_id)
            except GrokbatchError as error:
                failures += 1
                decision = after_poll_error(
                    error, failures=failures, retries=settings.retries, backoff=self.backoff
                )
                self.control.cool_down(job.provider, decision.cool_down)
                if decision.do is Do.FAIL and isinstance(error, NotFoundError):
                    self.books.fail(
                        job, NotFoundError(f"the provider no longer knows job {remote_id}: {error}")
                    )
                    return None
                if decision.do is not Do.RETRY:
                    self.books.note(
                        "unfinished", job, f"status check failed: {error}; a rerun re-attaches"
                    )
                    return None
                interval = decision.delay
                continue
            failures = 0
            if polled.status != last:
                last = polled.status
                self.books.status(job, polled)
                self._check_name(job, polled)
            if polled.state.finished:
                return polled
            if time.monotonic() > deadline:
                self.books.note(
                    "unfinished",
                    job,
                    f"still {polled.status} after {settings.job_timeout:g}s; a rerun re-attaches",
                )
                return None
            interval = min(max(interval, settings.initial) * settings.factor, settings.maximum)

    def _check_name(self, job: Job, polled: Polled) -> None:
        if polled.recognised or (job.provider, polled.status.lower()) in self._unknown:
            return
        self._unknown.add((job.provider, polled.status.lower()))
        self.books.note("unknown_status", job, f"{polled.status!r}: treated as running")
