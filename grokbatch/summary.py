"""How a run ended: the summary `run` prints, returns and stores with the run.

Its exit code is the one the CLI exits with; the precedence is interrupted (130) over
budget or credits exhausted (3) over a refused key (2) over failed, ambiguous or unfinished
jobs (1) over success.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import providers
from .budget import BudgetStatus
from .control import Control, Stop
from .errors import EXIT_BUDGET, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_JOBS_FAILED, EXIT_OK
from .state.base import JobState

if TYPE_CHECKING:
    from .books import Books

LISTED = 1000  # failed and ambiguous jobs listed in a summary, at most, each


@dataclass
class RunSummary:
    run_id: int
    manifest: str
    total: int
    counts: dict[str, int]
    ambiguous: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    budget: BudgetStatus | None
    budget_stopped: bool
    credits_exhausted: bool
    interrupted: bool
    elapsed: float
    submitted: int = 0  # submits sent by this run
    refused_keys: dict[str, str] = field(default_factory=dict)  # provider → its key variable
    failures_stopped: bool = False  # --max-failures stopped the submissions
    max_failures: str | None = None  # as given: "3" or "10%"
    failed_this_run: int = 0
    report: str | None = None  # the HTML report written after the run, if any
    changed: int = 0  # job state changes this run made (none: the last report still holds)

    @property
    def unfinished(self) -> int:
        return self.total - sum(self.counts.get(s.value, 0) for s in JobState if s.finished)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.budget_stopped or self.credits_exhausted:
            return EXIT_BUDGET
        if self.refused_keys:
            return EXIT_INVALID
        if self.failed or self.ambiguous or self.unfinished or self.failures_stopped:
            return EXIT_JOBS_FAILED
        return EXIT_OK

    def format(self) -> str:
        """The closing lines of a run: states, spending, what needs attention, the report."""
        states = ", ".join(
            f"{self.counts[s.value]} {s.value}" for s in JobState if self.counts.get(s.value)
        )
        lines = [
            f"{self.manifest}: {self.total} jobs: {states or 'none'}; "
            f"{self.submitted} submitted this run in {self.elapsed:.1f}s"
        ]
        if self.budget is not None:
            lines.append(f"credits: {self.budget.format()}")
        if self.budget_stopped:
            lines.append("stopped at the budget: raise --max-credits to go on (exit 3)")
        if self.credits_exhausted:
            lines.append("the provider is out of credits: top up and run again (exit 3)")
        if self.failures_stopped:
            lines.append(
                f"stopped submitting after {self.failed_this_run} failed jobs "
                f"(--max-failures {self.max_failures}): see why with grokbatch status, "
                "fix it and run again (exit 1)"
            )
        for provider, variable in self.refused_keys.items():
            lines.append(f"{provider} refused the key in {variable}: set a valid one (exit 2)")
        if self.ambiguous:
            lines.append(
                f"{len(self.ambiguous)} ambiguous: sent, answer lost, maybe paid; not resent "
                "(grokbatch status lists them; --resubmit-ambiguous sends them again)"
            )
        if self.failed:
            lines.append(
                f"{len(self.failed)} failed (grokbatch status; --retry-failed submits them "
                "again and pays again)"
            )
        if self.interrupted:
            lines.append("interrupted: run again to resume")
        if self.report:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        budget = self.budget
        return {
            "run_id": self.run_id,
            "manifest": self.manifest,
            "jobs": self.total,
            "states": self.counts,
            "unfinished": self.unfinished,
            "submitted_this_run": self.submitted,
            "credits": budget.to_json()["providers"] if budget else {},
            "usd": budget.to_json()["usd"] if budget else None,
            "budget_stopped": self.budget_stopped,
            "credits_exhausted": self.credits_exhausted,
            "refused_keys": self.refused_keys,
            "interrupted": self.interrupted,
            "failures_stopped": self.failures_stopped,
            "max_failures": self.max_failures,
            "failed_this_run": self.failed_this_run,
            "ambiguous": self.ambiguous,
            "failed": self.failed,
            "elapsed_seconds": round(self.elapsed, 3),
            "report": self.report,
            "exit_code": self.exit_code,
        }

    @property
    def status(self) -> str:
        """The run's status as stored in the runs table."""
        names = {EXIT_OK: "completed", EXIT_BUDGET: "budget", EXIT_INTERRUPTED: "interrupted"}
        return names.get(self.exit_code, "failed")


def summarise(
    books: Books,
    control: Control,
    *,
    keys: set[str],
    elapsed: float,
    max_failures: str | None = None,
) -> RunSummary:
    """The summary of a run, from what the store holds of this manifest's current jobs."""
    counts: Counter[str] = Counter()
    attention: dict[JobState, list[dict[str, Any]]] = {JobState.AMBIGUOUS: [], JobState.FAILED: []}
    # Every job of this run is stored (the run recorded them first). When the store holds
    # no other job of the manifest (an older version's, or outside --only), its counts
    # are this run's; else the keys and states are read and the others left out. Only the
    # rows that need attention are read in full: a rerun of 100,000 done jobs reads no JSON.
    stored = books.store.counts(books.manifest)
    if sum(stored.values()) == len(keys):
        counts.update({state.value: n for state, n in stored.items() if n})
    else:
        for key, state in books.store.states(books.manifest).items():
            if key in keys:
                counts[state.value] += 1
    for row in books.store.jobs(books.manifest, states=tuple(attention)):
        if row.key not in keys:
            continue
        listed = attention.get(row.state)
        if listed is not None and len(listed) < LISTED:
            listed.append(
                {
                    "key": row.key,
                    "coords": row.coords,
                    "error_kind": row.error_kind,
                    "error": row.error,
                    "remote_id": row.remote_id,
                }
            )
    return RunSummary(
        run_id=books.run_id,
        manifest=books.manifest,
        total=len(keys),
        counts=dict(counts),
        ambiguous=attention[JobState.AMBIGUOUS],
        failed=attention[JobState.FAILED],
        budget=books.budget(),
        budget_stopped=control.stopped(Stop.BUDGET),
        credits_exhausted=control.stopped(Stop.CREDITS),
        interrupted=control.stopped(Stop.INTERRUPTED),
        elapsed=elapsed,
        submitted=books.submitted,
        changed=books.changed,
        refused_keys={name: providers.get(name).key_env for name in control.refused},
        failures_stopped=control.stopped(Stop.FAILURES),
        max_failures=max_failures,
        failed_this_run=books.failures,
    )
