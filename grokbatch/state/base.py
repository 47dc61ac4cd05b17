"""The state interface: every durable fact about a batch goes through a StateStore.

Invariants every backend keeps (SQLite and PostgreSQL, with any number of runners sharing
one database):

* Each transition is one transaction that also appends its event; a crash leaves either the
  old state or the new one, never half of each.
* Transitions follow the one table in `transitions.py`: each is compare-and-set on the job's
  current state and on who holds it, so two runners can never both claim the same job
  (`reserve` succeeds for exactly one of them), and each returns the job's new row.
* A job in flight (SUBMITTING, RUNNING, READY) is held by the runner that claimed it: its
  `owner` is that runner's id, and only that runner changes it. A runner renews one lease
  (its row in `runners`) while it lives; once the lease has lapsed (the runner died, or
  stopped), another runner may take its jobs over (`take_over`), and never before.
* `reserve` checks the budget and claims the job in the same transaction: spent + reserved,
  summed over every run and every runner of the manifest, never passes the limit, whatever
  is in flight.
* `mark_submitted` is the first write after a provider returns a remote id, and it is
  durable when it returns: the runner awaits nothing in between.
* A job in SUBMITTING whose runner's lease lapsed was sent by a runner that died before
  recording the answer: it is AMBIGUOUS (maybe paid) unless its provider takes an
  idempotency key.
* Secrets never reach the store: callers pass requests without auth headers, and a
  database URL's password is never written, logged or shown.

Budget accounting per job: `reserved` holds credits that may still be charged, `spent`
those known to be charged. A job's claim on the budget is reserved + spent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .rows import (
    Doubt,
    JobRecord,
    JobRow,
    JobState,
    Known,
    Limits,
    RunnerInfo,
    Usage,
)

__all__ = [
    "Doubt",
    "JobRecord",
    "JobRow",
    "JobState",
    "Known",
    "Limits",
    "RunnerInfo",
    "StateStore",
    "Usage",
]


class StateStore(ABC):
    """A batch's durable state. Methods are synchronous and each is one transaction.

    Every transition returns the job's row as it is after the change; a job not in a state
    the transition starts from raises StateConflictError, and changes nothing.
    """

    # --- runs ---------------------------------------------------------------------------
    @abstractmethod
    def start_run(self, *, manifest: str, manifest_path: str, options: Mapping[str, Any]) -> int:
        """Record a run's start; returns its id."""

    @abstractmethod
    def finish_run(self, run_id: int, *, status: str, summary: Mapping[str, Any]) -> None:
        """Record how a run ended (status: completed | failed | budget | interrupted)."""

    # --- jobs ---------------------------------------------------------------------------
    @abstractmethod
    def add_jobs(self, manifest: str, jobs: Iterable[JobRecord], *, run_id: int | None) -> int:
        """Insert jobs not yet known (by manifest and key) as PENDING; returns how many were new.

        Known jobs keep their state; their output path and coordinates are updated, so a
        changed output layout applies to jobs not yet downloaded.
        """

    @abstractmethod
    def get(self, manifest: str, key: str) -> JobRow | None:
        """One job, or None."""

    @abstractmethod
    def jobs(self, manifest: str, *, states: Iterable[JobState] | None = None) -> Iterator[JobRow]:
        """A manifest's jobs, optionally only those in some states, in insertion order."""

    @abstractmethod
    def counts(self, manifest: str) -> dict[JobState, int]:
        """How many jobs are in each state."""

    @abstractmethod
    def usage(self, manifest: str) -> dict[str, Usage]:
        """Spent and reserved credits/USD per provider, over every run of the manifest."""

    # --- transitions (each: one transaction, compare-and-set, one event) ---------------
    @abstractmethod
    def reserve(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        credits: float,
        usd: float | None,
        limits: Limits,
        runner: str | None = None,
    ) -> JobRow:
        """PENDING → SUBMITTING with credits reserved and attempts + 1, if it fits the budget;
        `runner` holds it from now on. A job another runner is claiming at this very moment
        raises StateConflictError at once rather than waiting for it.

        Raises BudgetExceededError (and changes nothing but a `budget_blocked` event) when
        the job would take its provider past `limits.max_credits` or the manifest past
        `limits.max_usd`, counting spent + reserved over every run of the manifest.
        """

    @abstractmethod
    def mark_submitted(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        remote_id: str,
        charged: float | None,
        runner: str | None = None,
    ) -> JobRow:
        """SUBMITTING → RUNNING with the remote id; durable on return.

        A charge reported at submit moves that much from reserved to spent.
        """

    @abstractmethod
    def release(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        error: str,
        error_kind: str,
        failed: bool,
        runner: str | None = None,
    ) -> JobRow:
        """SUBMITTING → PENDING (or FAILED): the provider certainly did not accept the submit.

        The reservation is returned to the budget.
        """

    @abstractmethod
    def mark_ambiguous(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        error: str,
        error_kind: str,
        runner: str | None = None,
    ) -> JobRow:
        """SUBMITTING → AMBIGUOUS: the answer was lost; the reservation is kept."""

    @abstractmethod
    def record_status(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        remote_status: str,
        runner: str | None = None,
    ) -> JobRow:
        """Note the provider's status name (an event only when it changed)."""

    @abstractmethod
    def mark_ready(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        charged_credits: float | None,
        charged_usd: float | None,
        runner: str | None = None,
    ) -> JobRow:
        """RUNNING → READY; settles the budget to the reported charge (the estimate if none)."""

    @abstractmethod
    def mark_done(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        output_path: str,
        size: int,
        sha256: str,
        runner: str | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
    ) -> JobRow:
        """READY → DONE with the verified output (and its stat, when known)."""

    @abstractmethod
    def mark_failed(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int,
        error: str,
        error_kind: str,
        refunded: bool,
        charged_credits: float | None = None,
        charged_usd: float | None = None,
        runner: str | None = None,
    ) -> JobRow:
        """Any in-flight state → FAILED. Refunded: nothing stays spent; else the charge
        (reported, or the estimate) is spent."""

    @abstractmethod
    def reopen(
        self, manifest: str, key: str, *, run_id: int, reason: str, runner: str | None = None
    ) -> JobRow:
        """DONE → READY, held by `runner`: the output file is gone or changed; fetch it
        again, at no charge.

        The job keeps its remote id and its spent credits: it was paid for once.
        """

    @abstractmethod
    def reset(
        self, manifest: str, key: str, *, run_id: int, reason: str, runner: str | None = None
    ) -> JobRow:
        """FAILED or AMBIGUOUS → PENDING, for --retry-failed and --resubmit-ambiguous.

        A failed job's spent credits stay spent (they were paid); an ambiguous job's
        reservation becomes spent (it may have been paid), so retrying never frees budget.
        """

    @abstractmethod
    def attach(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        remote_id: str,
        detail: Mapping[str, Any],
        runner: str | None = None,
    ) -> JobRow:
        """AMBIGUOUS → RUNNING with the remote id of the job its lost submit made, held by
        `runner` (None: a person settling it; the next run takes it over).

        The reservation is kept (the job is paid once, when it settles). StateConflictError
        when another job at the same provider already has this remote id.
        """

    @abstractmethod
    def not_created(
        self,
        manifest: str,
        key: str,
        *,
        run_id: int | None,
        detail: Mapping[str, Any],
        runner: str | None = None,
    ) -> JobRow:
        """AMBIGUOUS → PENDING: its lost submit made nothing; the reservation is returned."""

    # --- lost submits ---------------------------------------------------------------------
    @abstractmethod
    def record_submit(
        self, manifest: str, key: str, *, attempt: int, client_request_id: str | None
    ) -> None:
        """Note what a submit carries for the provider to record, before it is sent."""

    @abstractmethod
    def doubts(self, provider: str) -> list[Doubt]:
        """Every job at `provider`, in any manifest, that is SUBMITTING or AMBIGUOUS."""

    @abstractmethod
    def known_remote_ids(self, provider: str, remote_ids: Iterable[str]) -> set[str]:
        """Those of `remote_ids` that some job at `provider` (any manifest) already has."""

    @abstractmethod
    def take_over(self, manifest: str, key: str, *, run_id: int, runner: str) -> JobRow:
        """An in-flight job whose holder's lease has lapsed (or that nobody holds) is now
        `runner`'s, in the state it was left in; the caller then decides what it needs
        (`resume.decide`). StateConflictError while its holder's lease is live."""

    @abstractmethod
    def leave(self, manifest: str, key: str, *, run_id: int, runner: str, reason: str) -> JobRow:
        """The runner stops working on a job it holds in flight (it gave up polling, or is
        stopping): the job stays as it is, held by nobody, free for another runner to take
        over at once."""

    # --- runners and their leases -------------------------------------------------------
    @abstractmethod
    def register_runner(self, *, run_id: int, manifest: str, lease: float) -> str:
        """Record a runner with a lease of `lease` seconds (by the database's clock);
        returns its id, which then owns the jobs it claims."""

    @abstractmethod
    def renew_lease(self, runner: str) -> bool:
        """Extend the runner's lease by its length from now; False when it had already
        lapsed (other runners may have taken its jobs over in the meantime)."""

    @abstractmethod
    def retire_runner(self, runner: str) -> None:
        """The runner stops: its lease ends now, so its unfinished jobs are free at once."""

    @abstractmethod
    def runners(self, *, live: bool = False) -> list[RunnerInfo]:
        """The runners on record (only those whose lease is live, with `live`), oldest first."""

    # --- events -------------------------------------------------------------------------
    @abstractmethod
    def log(
        self,
        *,
        run_id: int | None,
        kind: str,
        manifest: str | None = None,
        key: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an event that is not a transition (retries, rate limits, warnings)."""

    @abstractmethod
    def events(self, manifest: str, *, key: str | None = None) -> Iterator[dict[str, Any]]:
        """The event log, oldest first."""

    # --- a quick rerun, and what status checks learn (m002_output_stat) ----------------
    @abstractmethod
    def index(self, manifest: str) -> dict[str, Known]:
        """Every stored job of the manifest by key, compactly, in one read."""

    @abstractmethod
    def states(self, manifest: str) -> dict[str, JobState]:
        """Every stored job's state by key, in one read (a run's closing counts)."""

    @abstractmethod
    def record_output_stats(
        self, manifest: str, stats: Iterable[tuple[str, int, int, int]]
    ) -> None:
        """(key, size, mtime_ns, inode) of done jobs whose file was re-hashed and found
        unchanged: the next rerun trusts that stat. Not a transition; no event."""

    @abstractmethod
    def completion_times(self) -> dict[tuple[str, str], list[float]]:
        """Completion times learned by earlier runs, by (provider, kind), oldest first."""

    @abstractmethod
    def save_completion_times(self, times: Mapping[tuple[str, str], Sequence[float]]) -> None:
        """Replace the learned completion times of these (provider, kind) pairs."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
