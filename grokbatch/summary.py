"""How a run ended: the summary `run` prints, returns and stores with the run.

Its exit code is the one the CLI exits with; the precedence is interrupted (130) over
budget or credits exhausted (3) over failed, ambiguous or unfinished jobs (1) over success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .budget import BudgetStatus
from .errors import EXIT_BUDGET, EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK


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
    report: str | None = None  # the HTML report written after the run, if any

    @property
    def unfinished(self) -> int:
        return self.total - sum(self.counts.get(s, 0) for s in ("done", "failed", "ambiguous"))

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.budget_stopped or self.credits_exhausted:
            return EXIT_BUDGET
        if self.failed or self.ambiguous or self.unfinished:
            return EXIT_JOBS_FAILED
        return EXIT_OK

    def format(self) -> str:
        """The closing lines of a run: states, spending, what needs attention, the report."""
        order = ("done", "running", "ready", "pending", "submitting", "failed", "ambiguous")
        states = ", ".join(f"{self.counts[s]} {s}" for s in order if self.counts.get(s))
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
        if self.ambiguous:
            lines.append(
                f"{len(self.ambiguous)} ambiguous: sent, answer lost, maybe paid; not resent "
                "(grokbatch status lists them; --resubmit-ambiguous sends them again)"
            )
        if self.failed:
            lines.append(f"{len(self.failed)} failed (grokbatch status; --retry-failed)")
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
            "credits": {
                name: {"spent": b.spent, "reserved": b.reserved, "limit": b.limit, "unit": b.unit}
                for name, b in (budget.per_provider.items() if budget else ())
            },
            "budget_stopped": self.budget_stopped,
            "credits_exhausted": self.credits_exhausted,
            "interrupted": self.interrupted,
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
