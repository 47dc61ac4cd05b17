"""What the user sees while a batch runs.

On a terminal: a live panel (jobs by state, credits spent / reserved / budget, elapsed,
ETA) with notable events printed above it. Without a terminal (CI, a log file): one plain
line per event, and every `progress_every` seconds a progress line (done / total, spent,
ETA). In --json mode: nothing until the final summary. `Tee` sends the events to several
reporters (the display and an event log, see events.py). Nothing shown here ever contains
a key: reporters only see jobs, rows, states and provider error messages, which the
provider client has already redacted.

The ETA counts only the jobs this run finished: jobs a resumed run finds done say nothing
about how fast the rest will go.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from .budget import BudgetStatus
from .jobs import Job
from .state.base import JobRow, JobState

if TYPE_CHECKING:
    from .summary import RunSummary

NOTABLE = {
    "failed",
    "ambiguous",
    "found",  # a lost submit's job, found at the provider
    "not_created",  # a lost submit that made nothing, submitted again
    "budget",
    "out_of_credits",
    "unfinished",
    "interrupted",
    "unknown_status",
    "auth_failed",
    "expired",
    "max_failures",
}
FINISHING = {"done", "failed", "ambiguous"}  # events that end a job in this run
PROGRESS_EVERY = 30.0  # seconds between progress lines without a terminal


class Reporter:
    """The base reporter shows nothing; subclasses pick what to show."""

    def start(self, *, manifest: str, total: int, run_id: int | None = None) -> None:
        self.manifest = manifest
        self.total = total
        self.run_id = run_id
        self.started = time.monotonic()

    def event(
        self, kind: str, job: Job | None, detail: str = "", *, row: JobRow | None = None
    ) -> None:
        """Something happened to a job (or to the run, when job is None); `row` is the job
        as the transition that made the event left it in the state database, if any."""

    def tick(self, counts: Mapping[str, int], budget: BudgetStatus | None) -> None:
        """The periodic snapshot."""

    def finish(self, summary: RunSummary | None = None) -> None:
        """The run is over (`summary`: how it ended; None if it broke off); release the
        terminal."""


class Tee(Reporter):
    """Every call to each of several reporters, in order."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def start(self, *, manifest: str, total: int, run_id: int | None = None) -> None:
        for reporter in self.reporters:
            reporter.start(manifest=manifest, total=total, run_id=run_id)

    def event(
        self, kind: str, job: Job | None, detail: str = "", *, row: JobRow | None = None
    ) -> None:
        for reporter in self.reporters:
            reporter.event(kind, job, detail, row=row)

    def tick(self, counts: Mapping[str, int], budget: BudgetStatus | None) -> None:
        for reporter in self.reporters:
            reporter.tick(counts, budget)

    def finish(self, summary: RunSummary | None = None) -> None:
        for reporter in self.reporters:
            reporter.finish(summary)


class PlainReporter(Reporter):
    """One line per event, and a progress line every `every` seconds, for logs and CI."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        every: float = PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every = every  # 0: no progress lines
        self._clock = clock
        self._last = clock()
        self._finished = 0  # jobs this run finished

    def start(self, *, manifest: str, total: int, run_id: int | None = None) -> None:
        super().start(manifest=manifest, total=total, run_id=run_id)
        self.started = self._last = self._clock()

    def event(
        self, kind: str, job: Job | None, detail: str = "", *, row: JobRow | None = None
    ) -> None:
        if kind in FINISHING:
            self._finished += 1
        parts = [f"{kind:<10}"]
        if job is not None:
            parts += [job.describe(), job.provider]
        if detail:
            parts.append(detail)
        self._print(parts)

    def tick(self, counts: Mapping[str, int], budget: BudgetStatus | None) -> None:
        now = self._clock()
        if not self.every or now - self._last < self.every:
            return
        self._last = now
        total = getattr(self, "total", 0)
        elapsed = now - getattr(self, "started", now)
        finished = sum(counts.get(s.value, 0) for s in JobState if s.finished)
        parts = [f"{counts.get(JobState.DONE.value, 0)}/{total} done"]
        parts += [f"{counts[s]} {s}" for s in ("failed", "ambiguous") if counts.get(s)]
        flying = sum(counts.get(s.value, 0) for s in JobState if s.in_flight)
        if flying:
            parts.append(f"{flying} in flight")
        if budget is not None:
            parts.append(budget.format())
        when = f"{_duration(elapsed)} elapsed"
        left = eta(finished, total, elapsed, this_run=self._finished)
        parts.append(when + (f", ETA {left}" if left != "-" else ""))
        self._print([f"{'progress':<10}", " · ".join(parts)])

    def _print(self, parts: list[str]) -> None:
        print("  ".join([time.strftime("%H:%M:%S"), *parts]), file=self.stream, flush=True)


class RichReporter(Reporter):
    """A live panel on a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=stream if stream is not None else sys.stderr)
        self._live: Any = None
        self._counts: Mapping[str, int] = {}
        self._budget: BudgetStatus | None = None
        self._finished = 0  # jobs this run finished

    def start(self, *, manifest: str, total: int, run_id: int | None = None) -> None:
        from rich.live import Live

        super().start(manifest=manifest, total=total, run_id=run_id)
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=False
        )
        self._live.start()

    def event(
        self, kind: str, job: Job | None, detail: str = "", *, row: JobRow | None = None
    ) -> None:
        if kind in FINISHING:
            self._finished += 1
        if kind in NOTABLE:
            where = f"{job.describe()} ({job.provider})" if job is not None else ""
            style = "red" if kind in ("failed", "auth_failed") else "yellow"
            self.console.print(
                f"[{style}]{kind}[/] {where} {detail}".rstrip(), markup=True, highlight=False
            )

    def tick(self, counts: Mapping[str, int], budget: BudgetStatus | None) -> None:
        self._counts = counts
        self._budget = budget
        if self._live is not None:
            self._live.update(self._render())

    def finish(self, summary: RunSummary | None = None) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def _render(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        total = getattr(self, "total", 0)
        finished = sum(self._counts.get(s.value, 0) for s in JobState if s.finished)
        elapsed = time.monotonic() - getattr(self, "started", time.monotonic())
        states = "  ".join(
            f"{s.value} {self._counts[s.value]}" for s in JobState if self._counts.get(s.value)
        )
        table.add_row(
            "[bold]" + getattr(self, "manifest", "") + "[/]", f"{finished}/{total} finished"
        )
        table.add_row("jobs", states or "starting")
        if self._budget is not None:
            table.add_row("credits", self._budget.format())
        table.add_row(
            "elapsed",
            _duration(elapsed)
            + (
                f"   ETA {eta(finished, total, elapsed, this_run=self._finished)}"
                if finished
                else ""
            ),
        )
        return table


def eta(finished: int, total: int, elapsed: float, *, this_run: int | None = None) -> str:
    """Time left for the `total - finished` jobs, at the pace this run finished `this_run`
    of them in `elapsed` seconds (default: all `finished`); "-" when it cannot be told."""
    pace = finished if this_run is None else this_run
    if pace <= 0 or finished >= total:
        return "-"
    return _duration(elapsed / pace * (total - finished))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def make_reporter(
    *,
    json_mode: bool = False,
    stream: IO[str] | None = None,
    progress_every: float = PROGRESS_EVERY,
) -> Reporter:
    """Silent for --json, live on a terminal, plain lines otherwise (with a progress line
    every `progress_every` seconds; 0: none)."""
    if json_mode:
        return Reporter()
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        return RichReporter(out)
    return PlainReporter(out, every=progress_every)
