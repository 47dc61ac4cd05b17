"""What the user sees while a batch runs.

On a terminal: a live panel (jobs by state, credits spent / reserved / budget, elapsed,
ETA) with notable events printed above it. Without a terminal (CI, a log file): one plain
line per event. In --json mode: nothing until the final summary. Nothing shown here ever
contains a key: reporters only see jobs, states and provider error messages, which the
provider client has already redacted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from .budget import BudgetStatus
from .jobs import Job
from .state.base import JobState

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
}


class Reporter:
    """The base reporter shows nothing; subclasses pick what to show."""

    def start(self, *, manifest: str, total: int) -> None:
        self.manifest = manifest
        self.total = total
        self.started = time.monotonic()

    def event(self, kind: str, job: Job | None, detail: str = "") -> None:
        """Something happened to a job (or to the run, when job is None)."""

    def tick(self, counts: Mapping[str, int], budget: BudgetStatus | None) -> None:
        """The periodic snapshot."""

    def finish(self) -> None:
        """The run is over; release the terminal."""


class PlainReporter(Reporter):
    """One line per event, for logs and CI."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def event(self, kind: str, job: Job | None, detail: str = "") -> None:
        stamp = time.strftime("%H:%M:%S")
        parts = [stamp, f"{kind:<10}"]
        if job is not None:
            parts += [job.describe(), job.provider]
        if detail:
            parts.append(detail)
        print("  ".join(parts), file=self.stream, flush=True)


class RichReporter(Reporter):
    """A live panel on a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=stream if stream is not None else sys.stderr)
        self._live: Any = None
        self._counts: Mapping[str, int] = {}
        self._budget: BudgetStatus | None = None

    def start(self, *, manifest: str, total: int) -> None:
        from rich.live import Live

        super().start(manifest=manifest, total=total)
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=False
        )
        self._live.start()

    def event(self, kind: str, job: Job | None, detail: str = "") -> None:
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

    def finish(self) -> None:
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
            _duration(elapsed) + (f"   ETA {eta(finished, total, elapsed)}" if finished else ""),
        )
        return table


def eta(finished: int, total: int, elapsed: float) -> str:
    if finished <= 0 or finished >= total:
        return "-"
    return _duration(elapsed / finished * (total - finished))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def make_reporter(*, json_mode: bool = False, stream: IO[str] | None = None) -> Reporter:
    """Silent for --json, live on a terminal, plain lines otherwise."""
    if json_mode:
        return Reporter()
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        return RichReporter(out)
    return PlainReporter(out)
