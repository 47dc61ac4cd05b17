"""A run's books: every state change of its jobs, as one store transition and one report event.

The lifecycle decides; the books record. Each method is one transition of the store (see
`state/transitions.py`), whose returned row feeds the live counts, and one event for the
user. A job's bad end is recorded from the exception that says why (`errors.kind_of`), so
the stored kind is always the name of a real class in `errors.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping

from .budget import BudgetPolicy, BudgetStatus, budget_status
from .download import Downloaded
from .errors import GrokbatchError, kind_of
from .jobs import Job
from .progress import Reporter
from .providers.wire import Polled, Submitted
from .state.base import JobRecord, JobRow, JobState, StateStore


def record_for(job: Job) -> JobRecord:
    """What the store keeps of a job before any work starts."""
    return JobRecord(
        key=job.key,
        provider=job.provider,
        model=job.model,
        prompt_id=job.prompt_id,
        coords=dict(job.coords),
        request=job.request_record(),
        output_path=job.output,
        estimated_credits=job.credits,
        estimated_usd=job.usd,
        price_basis=job.price_basis,
    )


class Tally:
    """How many of the run's jobs are in each state, kept from the rows transitions return."""

    def __init__(self) -> None:
        self._states: dict[str, JobState] = {}

    def see(self, key: str, state: JobState) -> None:
        self._states[key] = state

    def counts(self) -> dict[str, int]:
        found = Counter(s for s in self._states.values())
        return {s.value: found[s] for s in JobState if found[s]}


class Books:
    """One run's transitions on one manifest's jobs."""

    def __init__(
        self,
        store: StateStore,
        *,
        manifest: str,
        run_id: int,
        policy: BudgetPolicy,
        units: Mapping[str, str],
        usd_missing: Collection[str] = (),
        reporter: Reporter,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.run_id = run_id
        self.policy = policy
        self.units = units
        self.usd_missing = tuple(usd_missing)
        self.reporter = reporter
        self.tally = Tally()
        self.submitted = 0  # submits this run sent and saw answered
        self.changed = 0  # transitions this run made

    # --- reading --------------------------------------------------------------------------
    def add(self, jobs: Iterable[Job]) -> None:
        self.store.add_jobs(self.manifest, (record_for(j) for j in jobs), run_id=self.run_id)

    def get(self, key: str) -> JobRow | None:
        row = self.store.get(self.manifest, key)
        self.tally.see(key, row.state if row else JobState.PENDING)
        return row

    def budget(self) -> BudgetStatus:
        return budget_status(
            self.store, self.manifest, self.policy, self.units, usd_missing=self.usd_missing
        )

    def counts(self) -> dict[str, int]:
        return self.tally.counts()

    def note(self, kind: str, job: Job | None, detail: str = "") -> None:
        """Tell the user something that changes no state (a retry, a refetch)."""
        self.reporter.event(kind, job, detail)

    def _seen(self, row: JobRow) -> JobRow:
        self.tally.see(row.key, row.state)
        self.changed += 1
        return row

    # --- submitting -----------------------------------------------------------------------
    def claim(self, job: Job) -> JobRow:
        """Reserve the job's credits and claim it: the last step before it goes on the wire.

        BudgetExceededError when it would pass the budget; StateConflictError when another
        runner has it.
        """
        return self._seen(
            self.store.reserve(
                self.manifest,
                job.key,
                run_id=self.run_id,
                credits=job.credits,
                usd=job.usd,
                limits=self.policy.limits_for(job.provider),
            )
        )

    def submitted_as(self, job: Job, submitted: Submitted) -> JobRow:
        """The remote id, durable before anything else is awaited."""
        row = self.store.mark_submitted(
            self.manifest,
            job.key,
            run_id=self.run_id,
            remote_id=submitted.remote_id,
            charged=submitted.charged,
        )
        self.submitted += 1
        self.reporter.event("submitted", job, f"id={submitted.remote_id}")
        return self._seen(row)

    def release(self, job: Job, error: GrokbatchError) -> JobRow:
        """Nothing was created: the job is pending again and its reservation returned."""
        message, kind = _why(error)
        row = self.store.release(
            self.manifest, job.key, run_id=self.run_id, error=message, error_kind=kind, failed=False
        )
        return self._seen(row)

    def refuse(self, job: Job, error: GrokbatchError) -> JobRow:
        """The provider refused this request (nothing created): the job failed, nothing spent."""
        message, kind = _why(error)
        row = self.store.release(
            self.manifest, job.key, run_id=self.run_id, error=message, error_kind=kind, failed=True
        )
        self.reporter.event("failed", job, f"{kind}: {message}")
        return self._seen(row)

    def ambiguous(self, job: Job, error: GrokbatchError) -> JobRow:
        """The submit may have created (and charged) a job: keep the reservation, tell."""
        message, kind = _why(error)
        row = self.store.mark_ambiguous(
            self.manifest, job.key, run_id=self.run_id, error=message, error_kind=kind
        )
        self.reporter.event(
            "ambiguous",
            job,
            f"{message}: it may have been paid; not resent (see --resubmit-ambiguous)",
        )
        return self._seen(row)

    def reset(self, job: Job, reason: str) -> JobRow:
        return self._seen(
            self.store.reset(self.manifest, job.key, run_id=self.run_id, reason=reason)
        )

    # --- after the submit -----------------------------------------------------------------
    def status(self, job: Job, polled: Polled) -> JobRow:
        return self._seen(
            self.store.record_status(
                self.manifest, job.key, run_id=self.run_id, remote_status=polled.status
            )
        )

    def ready(self, job: Job, polled: Polled) -> JobRow:
        return self._seen(
            self.store.mark_ready(
                self.manifest,
                job.key,
                run_id=self.run_id,
                charged_credits=polled.charged,
                charged_usd=polled.usd,
            )
        )

    def done(self, job: Job, got: Downloaded) -> JobRow:
        row = self.store.mark_done(
            self.manifest,
            job.key,
            run_id=self.run_id,
            output_path=job.output,
            size=got.size,
            sha256=got.sha256,
            mtime_ns=got.mtime_ns,
            inode=got.inode,
        )
        self.reporter.event("done", job, f"{job.output} ({got.size:,} bytes)")
        return self._seen(row)

    def fail(self, job: Job, error: GrokbatchError, *, polled: Polled | None = None) -> JobRow:
        """The job ended without an output. Unless the provider says it refunds (`polled`),
        its charge stays spent: a clip that was made but could not be fetched was paid for."""
        message, kind = _why(error)
        row = self.store.mark_failed(
            self.manifest,
            job.key,
            run_id=self.run_id,
            error=message,
            error_kind=kind,
            refunded=polled.refunded if polled else False,
            charged_credits=polled.charged if polled else None,
            charged_usd=polled.usd if polled else None,
        )
        self.reporter.event("failed", job, f"{kind}: {message}")
        return self._seen(row)

    def reopen(self, job: Job, reason: str) -> JobRow:
        row = self.store.reopen(self.manifest, job.key, run_id=self.run_id, reason=reason)
        self.reporter.event("refetch", job, f"{reason}; no charge")
        return self._seen(row)


def _why(error: BaseException) -> tuple[str, str]:
    """(message, kind) to store for a job's error."""
    return str(error), kind_of(error)
