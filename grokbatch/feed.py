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

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from .books import Books, record_for
from .control import Control, JobSlot
from .download import FileStat
from .errors import AmbiguousSubmitError, StateConflictError, StateError
from .jobs import Job
from .lifecycle import Lifecycle
from .resume import Action, actions
from .state.base import JobRow, JobState, Known
from .state.sqlbase import to_json, to_json_list


@dataclass(frozen=True)
class FeedSettings:
    output_dir: Path
    retry_failed: bool = False
    resubmit_ambiguous: bool = False
    check_every: float = 2.0  # seconds between looks at the jobs other runners hold
    rehash: bool = False  # --verify: read and hash every done job's file
    # Hears of each done file hashed again and found unchanged, with its new stat.
    verified: Callable[[JobRow, FileStat], None] | None = None


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
            rehash=self.settings.rehash,
            verified=self.settings.verified,
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
                await self.lifecycle.run(job, action, row, slot)
                self.after()  # a job failed at the provider holds its slot: none starts first
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


def record(books: Books, jobs: Sequence[Job], *, output_dir: Path, rehash: bool) -> set[str]:
    """Store the jobs the store does not know as they are now; the keys of the done jobs
    whose file's stat still matches (none with `rehash`), which need nothing more."""
    known = books.store.index(books.manifest)
    stored = [known.get(job.key) for job in jobs]
    del known
    books.store.add_jobs(
        books.manifest, (record_for(job) for job in _changed(jobs, stored)), run_id=books.run_id
    )
    trusted: set[str] = set()
    if rehash:
        return trusted
    base = os.path.join(str(output_dir), "")  # ends with a separator: paths are relative
    for job, was in zip(jobs, stored, strict=True):
        if was is not None and _intact(was, job, base):
            trusted.add(job.key)
            books.tally.see(job.key, JobState.DONE)
    return trusted


def _changed(jobs: Sequence[Job], stored: Sequence[Known | None]) -> list[Job]:
    """The jobs the store has not, or has with another output path or coordinates."""
    # Lists built and compared whole: a generator over the pairs costs four times as much.
    known = [was for was in stored if was is not None]
    if len(known) == len(jobs) and [w.output_path for w in known] == [j.output for j in jobs]:
        # Every job known at its path: one encode of all their coordinates, compared whole,
        # costs a fifth of one per job (100,000 jobs: 0.1 s against 0.5 s).
        now = to_json_list([job.coords for job in jobs])
        if now == "[" + ", ".join([w.coords for w in known]) + "]":
            return []
    return [
        job
        for job, was in zip(jobs, stored, strict=True)
        if was is None or was.output_path != job.output or was.coords != to_json(job.coords)
    ]


def _intact(stored: Known, job: Job, output_dir: str) -> bool:
    """Done, and its file has the size, mtime and inode it had when it was written."""
    if stored.state is not JobState.DONE or stored.output_path != job.output:
        return False
    if stored.mtime_ns is None or stored.inode is None:
        return False
    # A plain string path (output_dir ends with a separator, job.output is relative and
    # normal): pathlib, or even os.path.join, costs more than the stat, 100,000 times over.
    try:
        st = os.stat(output_dir + job.output)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns, st.st_ino) == (stored.size, stored.mtime_ns, stored.inode)
