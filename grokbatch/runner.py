"""The runner: records a batch's jobs, decides what each needs, and runs them under the limits.

    decisions (resume.decide, retry.after_*,   pure: facts → what to do
               timing, agenda, reconcile)
        ↓
    control (Control)                          slots, request turns, stopping
        ↓
    feed (Feed), lookup (Reconciler)           which jobs need work, here and now
    lifecycle (Lifecycle, Scheduler)           one job: claim → submit → poll → download
        ↓
    books (Books) → state (StateStore)         one transition + one event per change
    providers (ProviderClient, adapters)       the only HTTP to providers

Invariants, each one the reason a user can leave a paid batch running unattended:

* Never pay twice: see lifecycle.py (claim at the wire, remote id committed at once, a lost
  answer is ambiguous) and resume.py (a rerun never resends a SUBMITTING job blindly).
* Never spend past the budget: the store reserves a job's credits in the transaction that
  claims it, over every run of the manifest; the first job that does not fit closes
  submissions, what is in flight finishes, and the run exits 3.
* Signals only call `Control.stop()`: the first stops new work at the next safe point, the
  second cancels everything at once; every transition is its own transaction.
* Several runners may share a batch (one SQLite file, or one PostgreSQL database): each
  registers with a lease that one background task renews, holds the jobs it claims, and
  stays until the batch's jobs in flight elsewhere are finished or taken over (feed.py).
  A run that ends, however it ends short of SIGKILL, ends its lease at once.
* Lost submits are looked up at the provider where it allows (lookup.py) before anything is
  sent, and again once this runner's own jobs are through while a window is still open;
  what settles runs as any other job.
* A rerun costs a stat per done job: the batch is expanded once (by the caller) and the
  store read once (`StateStore.index`); a done job whose file's stat matches is skipped
  without reading its row or its file, and only new or changed jobs are written.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from .books import Books
from .budget import BudgetPolicy
from .control import Control, Stop
from .download import FileStat
from .errors import StateError
from .feed import Feed, FeedSettings, record
from .halt import FailureLimit
from .jobs import Job
from .lifecycle import JobSettings, Lifecycle
from .lookup import Reconciler
from .progress import Reporter
from .providers.client import ProviderClient
from .reconcile import Settings as LookupSettings
from .retry import Backoff
from .scheduler import Lister, Scheduler
from .state.base import JobRow, StateStore
from .summary import RunSummary, summarise
from .timing import Learned, PollSettings
from .workspace import collector_paused


@dataclass(frozen=True)
class RunSettings:
    output_dir: Path
    concurrency: int = 8
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    requests_per_minute: Mapping[str, float] = field(default_factory=dict)
    retries: int = 5
    retry_failed: bool = False
    resubmit_ambiguous: bool = False
    verify: bool = False  # re-hash every done job's file, whatever its stat says
    # Status checks (timing.py): the latest first check (None: the low end of the completion
    # times learned, or the provider's prior), the shortest and longest gap between two
    # checks of a job, and without progress the next check at elapsed × (1 + epsilon).
    poll_initial: float | None = None
    poll_min: float = 0.02
    poll_max: float = 60.0
    poll_epsilon: float = 0.1
    request_timeout: float = 60.0
    job_timeout: float = 3600.0
    download_timeout: float = 600.0
    submit_grace: float = 10.0  # how long a first Ctrl-C waits for a sent submit's answer
    handle_signals: bool = True
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_failures: FailureLimit | None = None  # stop submitting after this many failed jobs
    settle_window: float = 600.0  # AI/ML API: how long a lost submit's log row may take
    clock_skew: float = 30.0  # margin around a lost submit's time on the wire (Vydra)
    # Seconds without a heartbeat after which other runners take this one's jobs over.
    lease: float = 60.0

    def options(self) -> dict[str, Any]:
        """What the runs table records of these settings."""
        return {
            "output_dir": str(self.output_dir),
            "concurrency": self.concurrency,
            "provider_concurrency": dict(self.provider_concurrency),
            "requests_per_minute": dict(self.requests_per_minute),
            "retries": self.retries,
            "retry_failed": self.retry_failed,
            "resubmit_ambiguous": self.resubmit_ambiguous,
            "verify": self.verify,
            "max_failures": str(self.max_failures) if self.max_failures else None,
        }

    def polling(self) -> PollSettings:
        return PollSettings(
            first=self.poll_initial,
            min_gap=self.poll_min,
            max_gap=self.poll_max,
            epsilon=self.poll_epsilon,
            job_timeout=self.job_timeout,
            retries=self.retries,
        )


async def run_batch(
    *,
    manifest: str,
    manifest_path: str,
    jobs: Sequence[Job],
    store: StateStore,
    clients: Mapping[str, ProviderClient],
    files: httpx.AsyncClient,
    policy: BudgetPolicy,
    settings: RunSettings,
    reporter: Reporter,
    units: Mapping[str, str],
    usd_missing: Collection[str] = (),
    listers: Mapping[str, Lister] | None = None,
) -> RunSummary:
    """Run every job of the batch (expanded once by the caller); returns how it ended.

    `listers`: per provider, where one request lists its finished jobs (see `Lister`).
    """
    started = time.monotonic()
    options = settings.options() | {
        "max_credits": dict(policy.max_credits),
        "max_usd": policy.max_usd,
    }
    run_id = store.start_run(manifest=manifest, manifest_path=manifest_path, options=options)
    books = Books(
        store,
        manifest=manifest,
        run_id=run_id,
        policy=policy,
        units=units,
        usd_missing=usd_missing,
        reporter=reporter,
    )
    with collector_paused():
        keys = {job.key for job in jobs}
        trusted = record(books, jobs, output_dir=settings.output_dir, rehash=settings.verify)
    books.register(lease=settings.lease)
    control = Control(
        concurrency=settings.concurrency,
        provider_concurrency=settings.provider_concurrency,
        requests_per_minute=settings.requests_per_minute,
    )
    backoff = Backoff(base=settings.backoff_base, cap=settings.backoff_cap, rng=random.Random())
    learned = Learned(store.completion_times())
    scheduler = Scheduler(
        clients=clients,
        control=control,
        books=books,
        settings=settings.polling(),
        backoff=backoff,
        learned=learned,
        listers=listers,
    )
    lifecycle = Lifecycle(
        books=books,
        control=control,
        clients=clients,
        files=files,
        scheduler=scheduler,
        settings=JobSettings(
            output_dir=settings.output_dir,
            retries=settings.retries,
            request_timeout=settings.request_timeout,
            submit_grace=settings.submit_grace,
            download_timeout=settings.download_timeout,
        ),
        backoff=backoff,
    )
    reconciler = Reconciler(
        books=books,
        clients=dict(clients),
        control=control,
        settings=LookupSettings(
            settle_window=settings.settle_window,
            clock_skew=settings.clock_skew,
            wire_time=settings.request_timeout + settings.submit_grace,
        ),
        manifest_path=manifest_path,
    )
    verified: list[tuple[str, int, int, int]] = []

    def reverified(row: JobRow, stat: FileStat) -> None:
        verified.append((row.key, stat.size, stat.mtime_ns, stat.inode))

    feeding = FeedSettings(
        output_dir=settings.output_dir,
        retry_failed=settings.retry_failed,
        resubmit_ambiguous=settings.resubmit_ambiguous,
        check_every=min(settings.lease / 4, 2.0),
        rehash=settings.verify,
        verified=reverified,
    )
    halt = _halt_on_failures(books, control, settings.max_failures, total=len(keys))
    reporter.start(manifest=manifest, total=len(keys), run_id=run_id)
    summary: RunSummary | None = None
    try:
        async with anyio.create_task_group() as tg:
            control.bind(tg.cancel_scope)
            if settings.handle_signals and threading.current_thread() is threading.main_thread():
                tg.start_soon(_watch_signals, control, reporter)
            tg.start_soon(_tick, books, reporter)
            tg.start_soon(_heartbeat, books, settings.lease / 3)
            # Before anything is sent: a job made now must not pass for a lost submit's.
            await reconciler.begin(keys)
            async with scheduler, anyio.create_task_group() as workers:
                feed = Feed(
                    books=books,
                    control=control,
                    lifecycle=lifecycle,
                    workers=workers,
                    settings=feeding,
                    after=halt,
                )
                workers.start_soon(feed.sweep, jobs, keys)
                await feed.walk(job for job in jobs if job.key not in trusted)
                await feed.drained()
                # The run's own jobs are through: lost submits a lookup settles (those
                # cut now too) run like any other job.
                await reconciler.follow_up(keys, feed.start)
            tg.cancel_scope.cancel()  # stop the ticker, the heartbeat and the signal watcher
        with collector_paused():
            summary = summarise(
                books,
                control,
                keys=keys,
                elapsed=time.monotonic() - started,
                max_failures=str(settings.max_failures) if settings.max_failures else None,
            )
    finally:
        store.record_output_stats(manifest, verified)
        store.save_completion_times(learned.changed())
        books.retire()
        reporter.tick(books.counts(), books.budget())
        reporter.finish(summary)
    store.finish_run(run_id, status=summary.status, summary=summary.to_json())
    return summary


async def _heartbeat(books: Books, every: float) -> None:
    """Renew the runner's lease: one UPDATE of its row, however many jobs it holds."""
    last = time.monotonic()
    while True:
        await anyio.sleep(every)
        try:
            if not books.renew():
                books.note(
                    "lease",
                    None,
                    f"this runner's lease had lapsed ({time.monotonic() - last:.1f}s since it "
                    "was renewed): other runners may have taken some of its jobs over",
                )
            last = time.monotonic()
        except StateError as exc:  # a busy or unreachable database: try again next beat
            books.note("lease", None, f"could not renew the lease: {exc}")


def _halt_on_failures(
    books: Books, control: Control, limit: FailureLimit | None, *, total: int
) -> Callable[[], None]:
    """What each job does when it ends: with --max-failures, the failure that reaches the
    limit closes submissions (what is in flight finishes)."""
    at = limit.of(total) if limit is not None else None

    def check() -> None:
        if at is not None and books.failures >= at and control.close(Stop.FAILURES):
            books.note(
                "max_failures",
                None,
                f"{books.failures} jobs failed in this run (--max-failures {limit}): "
                "no new submissions; finishing what is in flight",
            )

    return check


async def _tick(books: Books, reporter: Reporter) -> None:
    while True:
        reporter.tick(books.counts(), books.budget())
        await anyio.sleep(0.5)


async def _watch_signals(control: Control, reporter: Reporter) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if control.stop():
                reporter.event("interrupted", None, "second signal: stopping now")
                return
            reporter.event(
                "interrupted",
                None,
                "finishing sends in flight; press Ctrl-C again to stop at once "
                "(state stays consistent)",
            )
