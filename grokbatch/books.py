"""A run's books: every state change of its jobs, as one store transition and one report event.

The lifecycle decides; the books record. Each method is one transition of the store (see
`state/transitions.py`), whose returned row feeds the live counts, and one event for the
user, which carries the row the transition returned (so an event log shows the ledger's
figures, not estimates). A job's bad end is recorded from the exception that says why
(`errors.kind_of`), so the stored kind is always the name of a real class in `errors.py`.

Every transition is made as this run's runner (`runner`), which holds the jobs it claims;
one made on a job another runner holds raises StateConflictError and changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .budget import BudgetPolicy, BudgetStatus, budget_status
from .download import Downloaded
from .errors import GrokbatchError, StateConflictError, StateError, kind_of
from .jobs import Job
from .progress import Reporter
from .providers.wire import Polled, Submitted
from .state.base import JobRecord, JobRow, JobState, StateStore

_RELOOK = 0.1  # seconds: how often an unknown holder sends Books.held back to the store


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
        # Kept as the states change: the progress display asks every tick, and counting
        # 100,000 states afresh took 7.6 ms a tick, for the whole of a long run.
        self._counts: Counter[JobState] = Counter()

    def see(self, key: str, state: JobState) -> None:
        old = self._states.get(key)
        if old is not None:
            self._counts[old] -= 1
        self._states[key] = state
        self._counts[state] += 1

    def state(self, key: str) -> JobState:
        """The job's state as last seen (PENDING if never)."""
        return self._states.get(key, JobState.PENDING)

    def counts(self) -> dict[str, int]:
        return {s.value: self._counts[s] for s in JobState if self._counts[s]}


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
        runner: str | None = None,
        liveness_ttl: float = 2.0,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.run_id = run_id
        self.policy = policy
        self.units = units
        self.usd_missing = tuple(usd_missing)
        self.reporter = reporter
        self.runner = runner  # this run's id as a holder of jobs (None: a lone caller)
        self.tally = Tally()
        self.submitted = 0  # submits this run sent and saw answered
        self.failures = 0  # jobs this run recorded as failed (for --max-failures)
        self.touched: set[str] = set()  # keys this runner has held at some point
        self._liveness_ttl = liveness_ttl  # how long a look at the live runners is trusted
        self._live: frozenset[str] = frozenset()
        self._live_at = float("-inf")
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

    def note(
        self, kind: str, job: Job | None, detail: str = "", *, row: JobRow | None = None
    ) -> None:
        """Tell the user something that changes no state (a retry, a re-attach)."""
        self.reporter.event(kind, job, detail, row=row)

    # --- runners --------------------------------------------------------------------------
    def register(self, *, lease: float) -> str:
        """Become a runner holding a lease of `lease` seconds; from now on every transition is
        made as it. (After `add`: recording a large batch must not eat into the lease.)"""
        self.runner = self.store.register_runner(
            run_id=self.run_id, manifest=self.manifest, lease=lease
        )
        self._liveness_ttl = min(self._liveness_ttl, lease / 4)
        return self.runner

    def retire(self) -> None:
        """End the lease now: what this runner leaves in flight is free for others at once.

        Never raises: with the database out of reach, the lease simply runs out."""
        if self.runner is None:
            return
        try:
            self.store.retire_runner(self.runner)
        except StateError as exc:
            self.note("lease", None, f"could not end the lease ({exc}): it runs out by itself")

    def held(self, row: JobRow) -> bool:
        """Whether another runner whose lease is live holds this job now.

        A stale answer is safe either way: a job wrongly thought free is not taken over
        (the store checks the lease again), one wrongly thought held is looked at again.
        """
        if row.owner is None or row.owner == self.runner:
            return False
        age = time.monotonic() - self._live_at
        # A holder not seen live may have started since the last look: look again soon.
        if age > self._liveness_ttl or (row.owner not in self._live and age > _RELOOK):
            self._live = frozenset(r.id for r in self.store.runners(live=True))
            self._live_at = time.monotonic()
        return row.owner in self._live

    def elsewhere(self, keys: Collection[str]) -> list[JobRow]:
        """Jobs of `keys` in flight at other runners (live or not)."""
        in_flight = [s for s in JobState if s.in_flight]
        return [
            row
            for row in self.store.jobs(self.manifest, states=in_flight)
            if row.key in keys and row.owner != self.runner
        ]

    def renew(self) -> bool:
        """Renew this runner's lease; False when it had lapsed (its jobs may be gone)."""
        if self.runner is None:
            return True
        return self.store.renew_lease(self.runner)

    def leave(self, job: Job, reason: str) -> JobRow | None:
        """Let go of a job this runner holds in flight but stops working on (None: it does
        not hold it, e.g. it finished or was taken over)."""
        if self.runner is None or not self.tally.state(job.key).in_flight:
            return None
        try:
            row = self.store.leave(
                self.manifest, job.key, run_id=self.run_id, runner=self.runner, reason=reason
            )
        except StateConflictError:
            return None
        return self._seen(row)

    def take_over(self, job: Job, row: JobRow) -> JobRow:
        """Hold a job a runner that is gone left in flight (StateConflictError: still held)."""
        assert self.runner is not None
        new = self.store.take_over(self.manifest, job.key, run_id=self.run_id, runner=self.runner)
        if row.owner is not None:
            self.reporter.event(
                "taken_over", job, f"{new.state.value}, from {row.owner} (its lease lapsed)"
            )
        return self._seen(new)

    def _seen(self, row: JobRow) -> JobRow:
        self.tally.see(row.key, row.state)
        if row.owner is not None and row.owner == self.runner:
            self.touched.add(row.key)
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
                runner=self.runner,
            )
        )

    def tagged(self, job: Job, attempt: int, request_id: str | None) -> None:
        """Record the id a submit carries for the provider to keep (AI/ML API), before it
        is sent: a submit whose answer is lost is looked up by what it really carried."""
        if request_id is not None:
            self.store.record_submit(
                self.manifest, job.key, attempt=attempt, client_request_id=request_id
            )

    def attached(self, job: Job, remote_id: str, how: Mapping[str, Any]) -> JobRow:
        """A lost submit's job, found at the provider: the job runs on, paid once."""
        row = self.store.attach(
            self.manifest,
            job.key,
            run_id=self.run_id,
            remote_id=remote_id,
            detail=how,
            runner=self.runner,
        )
        self.reporter.event("found", job, f"id={remote_id}: {how.get('reason', '')}")
        return self._seen(row)

    def not_created(self, job: Job, how: Mapping[str, Any]) -> JobRow:
        """A lost submit made nothing: pending again, its reservation returned."""
        row = self.store.not_created(
            self.manifest, job.key, run_id=self.run_id, detail=how, runner=self.runner
        )
        self.reporter.event("not_created", job, f"{how.get('reason', '')}; submitting it again")
        return self._seen(row)

    def submitted_as(self, job: Job, submitted: Submitted) -> JobRow:
        """The remote id, durable before anything else is awaited.

        If the job was taken over meanwhile (this runner's lease lapsed while the submit was
        on the wire), the remote id still goes into the event log, never lost, and the
        StateConflictError is raised.
        """
        try:
            row = self.store.mark_submitted(
                self.manifest,
                job.key,
                run_id=self.run_id,
                remote_id=submitted.remote_id,
                charged=submitted.charged,
                runner=self.runner,
            )
        except StateConflictError as exc:
            self.store.log(
                run_id=self.run_id,
                kind="late_answer",
                manifest=self.manifest,
                key=job.key,
                detail={"remote_id": submitted.remote_id, "runner": self.runner, "why": str(exc)},
            )
            self.reporter.event(
                "late_answer", job, f"id={submitted.remote_id} arrived after the job was taken over"
            )
            raise
        self.submitted += 1
        self.reporter.event("submitted", job, f"id={submitted.remote_id}", row=row)
        return self._seen(row)

    def release(self, job: Job, error: GrokbatchError) -> JobRow:
        """Nothing was created: the job is pending again and its reservation returned."""
        return self._seen(self._release(job, *_why(error), failed=False))

    def refuse(self, job: Job, error: GrokbatchError) -> JobRow:
        """The provider refused this request (nothing created): the job failed, nothing spent."""
        message, kind = _why(error)
        row = self._release(job, message, kind, failed=True)
        self.failures += 1
        self.reporter.event("failed", job, f"{kind}: {message}", row=row)
        return self._seen(row)

    def _release(self, job: Job, message: str, kind: str, *, failed: bool) -> JobRow:
        return self.store.release(
            self.manifest,
            job.key,
            run_id=self.run_id,
            error=message,
            error_kind=kind,
            failed=failed,
            runner=self.runner,
        )

    def ambiguous(self, job: Job, error: GrokbatchError) -> JobRow:
        """The submit may have created (and charged) a job: keep the reservation, tell."""
        message, kind = _why(error)
        row = self.store.mark_ambiguous(
            self.manifest,
            job.key,
            run_id=self.run_id,
            error=message,
            error_kind=kind,
            runner=self.runner,
        )
        self.reporter.event(
            "ambiguous",
            job,
            f"{message}: it may have been paid; not resent (see --resubmit-ambiguous)",
            row=row,
        )
        return self._seen(row)

    def reset(self, job: Job, reason: str) -> JobRow:
        return self._seen(
            self.store.reset(
                self.manifest, job.key, run_id=self.run_id, reason=reason, runner=self.runner
            )
        )

    # --- after the submit -----------------------------------------------------------------
    def status(self, job: Job, polled: Polled) -> JobRow:
        return self._seen(
            self.store.record_status(
                self.manifest,
                job.key,
                run_id=self.run_id,
                remote_status=polled.status,
                runner=self.runner,
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
                runner=self.runner,
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
            runner=self.runner,
            mtime_ns=got.mtime_ns,
            inode=got.inode,
        )
        self.reporter.event("done", job, f"{job.output} ({got.size:,} bytes)", row=row)
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
            runner=self.runner,
        )
        self.failures += 1
        self.reporter.event("failed", job, f"{kind}: {message}", row=row)
        return self._seen(row)

    def reopen(self, job: Job, reason: str) -> JobRow:
        row = self.store.reopen(
            self.manifest, job.key, run_id=self.run_id, reason=reason, runner=self.runner
        )
        self.reporter.event("refetch", job, f"{reason}; no charge", row=row)
        return self._seen(row)


def _why(error: BaseException) -> tuple[str, str]:
    """(message, kind) to store for a job's error."""
    return str(error), kind_of(error)
