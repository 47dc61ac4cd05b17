"""Feeding a batch's jobs to the workers, with any number of runners sharing the batch.

The walk: every job once, in the manifest's order, with the action `resume.decide` gives
it; a job in flight at another runner whose lease is live is left to that runner. Beside
it, from the start, the sweep: every few seconds it looks at the jobs in flight elsewhere
and takes over those whose holder stopped or died (its lease lapsed); once the walk is
over it keeps the runner there while jobs of the batch are in flight here or elsewhere. So
a batch that several runners drain is finished even when one is killed, and every runner
ends with the batch's final state.

Invariants:

* A runner takes a job over only if it never held it in this run: a job it gave up on is
  not taken back from itself, so two runners can never pass one job to and fro for ever;
  and one job never has two workers in one runner.
* A worker that stops short of finishing a job it holds lets it go (`Books.leave`), so a
  live runner never sits on a job nobody works on while another waits for it.
* The walk yields to the event loop at every job, so the lease's heartbeat and the live
  display keep running through a walk of a million finished jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from .books import Books
from .control import Control, JobSlot
from .errors import AmbiguousSubmitError, StateConflictError, StateError
from .jobs import Job
from .lifecycle import Lifecycle
from .resume import Action, actions
from .state.base import JobRow


@dataclass(frozen=True)
class FeedSettings:
    output_dir: Path
    retry_failed: bool = False
    resubmit_ambiguous: bool = False
    check_every: float = 2.0  # seconds between looks at the jobs other runners hold


class Feed:
    """Starts one worker per job that needs work; one instance per run."""

    def __init__(
        self,
        *,
        books: Books,
        control: Control,
        lifecycle: Lifecycle,
        workers: TaskGroup,
        settings: FeedSettings,
        after: Callable[[], None] = lambda: None,
    ) -> None:
        self.books = books
        self.after = after  # called as each job ends, still holding its slot
        self.control = control
        self.lifecycle = lifecycle
        self.workers = workers
        self.settings = settings
        self.running: set[str] = set()  # keys with a worker starting or started, not ended
        self.walked = False
        self._idle = anyio.Event()  # set when the walk or the last running worker ends
        self._drained = anyio.Event()  # set when the last running worker ends

    async def walk(self, jobs: Iterable[Job]) -> None:
        """Every job once: start what needs work, leave to others what they hold."""
        held: set[str] = set()
        try:
            for job, row, action in self._actions(jobs):
                await anyio.lowlevel.checkpoint()
                if self.control.stopping:
                    return
                if action is Action.SKIP_HELD:
                    assert row is not None and row.owner is not None
                    held.add(row.owner)
                    continue
                await self._start(job, row, action)
            if held:
                self.books.note(
                    "elsewhere", None, f"jobs in flight at {', '.join(sorted(held))}: left to them"
                )
        finally:
            self.walked = True
            self._idle.set()

    async def sweep(self, jobs: Iterable[Job], keys: Collection[str]) -> None:
        """Take over the jobs of runners that stop or die, from the start of the run; once
        the walk is over, stay while jobs of the batch are in flight here or elsewhere."""
        told: frozenset[str] = frozenset()
        while not self.control.stopping:
            elsewhere = self.books.elsewhere(keys)
            held = [row for row in elsewhere if self.books.held(row)]
            busy = self.books.touched | self.running
            free = {r.key for r in elsewhere if r.key not in busy and not self.books.held(r)}
            if free:
                for job, row, action in self._actions(j for j in jobs if j.key in free):
                    if action.takes_over:
                        await self._start(job, row, action)
            elif self.walked and not held and not self.running:
                return
            owners = frozenset(row.owner or "" for row in held)
            if self.walked and held and owners != told:
                self.books.note(
                    "waiting",
                    None,
                    f"{len(held)} jobs in flight at {', '.join(sorted(owners))}; "
                    "taking over any whose runner stops",
                )
                told = owners
            # Woken early when the walk ends or this runner's last worker does.
            self._idle = anyio.Event()
            with anyio.move_on_after(self.settings.check_every):
                await self._idle.wait()

    def _actions(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, JobRow | None, Action]]:
        return actions(
            jobs,
            self.books.get,
            output_dir=self.settings.output_dir,
            retry_failed=self.settings.retry_failed,
            resubmit_ambiguous=self.settings.resubmit_ambiguous,
            held=self.books.held,
        )

    async def drained(self) -> None:
        """Return once no worker of this runner is at work."""
        while self.running:
            self._drained = anyio.Event()
            await self._drained.wait()

    async def start(self, job: Job, action: Action, row: JobRow | None) -> None:
        """Start a worker for a job settled outside the walk (a lost submit looked up)."""
        await self._start(job, row, action)

    async def _start(self, job: Job, row: JobRow | None, action: Action) -> None:
        if action.skips:
            return
        if action is Action.MARK_AMBIGUOUS:
            assert row is not None
            self._abandoned(job, row)
            return
        if action.submits and not self.control.may_submit(job.provider):
            return
        if job.key in self.running:  # the walk and the sweep both came across it
            return
        self.running.add(job.key)
        try:
            slot = await self.control.admit(job.provider)
        except BaseException:
            self.running.discard(job.key)
            raise
        self.workers.start_soon(self._work, slot, job, action, row)

    async def _work(self, slot: JobSlot, job: Job, action: Action, row: JobRow | None) -> None:
        try:
            async with slot:
                await self.lifecycle.run(job, action, row)
                self.after()  # still holding the slot: no job starts before a stop it calls for
            try:
                self.books.leave(job, "this runner stopped working on it")
            except StateError as exc:  # the store is unavailable: the lease ends it anyway
                self.books.note("elsewhere", job, f"could not let it go: {exc}")
        finally:
            self.running.discard(job.key)
            if not self.running:
                self._idle.set()
                self._drained.set()

    def _abandoned(self, job: Job, row: JobRow) -> None:
        """A submit its runner sent and never saw answered: maybe paid, so ambiguous."""
        who = f"its runner ({row.owner})" if row.owner else "a previous run"
        try:
            self.books.take_over(job, row)
            self.books.ambiguous(
                job,
                AmbiguousSubmitError(
                    f"{who} sent this submit and stopped before recording the answer"
                ),
            )
        except StateConflictError as exc:
            self.books.note("elsewhere", job, f"another runner has it: {exc}")
