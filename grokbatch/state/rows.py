"""The values a StateStore keeps and hands back: job states, rows, records, budgets.

Plain frozen dataclasses (and one enum), so that the runner, the reports and every backend
share them without importing a store.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple


class JobState(enum.Enum):
    """Where a job stands in grokbatch's own bookkeeping.

    The members' order is the one display order: every listing of states (the live panel,
    `status`, the summary, the report) follows it.
    """

    PENDING = "pending"  # known, not submitted (or certainly not accepted)
    SUBMITTING = "submitting"  # credits reserved, submit sent or about to be: answer unknown
    RUNNING = "running"  # remote id recorded; the provider is working on it
    READY = "ready"  # the provider finished it; output not yet downloaded and verified
    DONE = "done"  # output downloaded, size and sha256 recorded
    FAILED = "failed"  # the provider failed it, or it cannot be completed
    AMBIGUOUS = "ambiguous"  # a submit was sent and its answer lost: maybe paid, not resent

    @property
    def in_flight(self) -> bool:
        return self in (JobState.SUBMITTING, JobState.RUNNING, JobState.READY)

    @property
    def finished(self) -> bool:
        """Nothing more happens to the job in this run without a flag or a person."""
        return self in (JobState.DONE, JobState.FAILED, JobState.AMBIGUOUS)


@dataclass(frozen=True)
class JobRecord:
    """What a runner registers about a job before any work starts."""

    key: str
    provider: str
    model: str | None
    prompt_id: str
    coords: Mapping[str, Any]
    request: Mapping[str, Any]  # provider, model, prompt, params: never a secret
    output_path: str  # relative to the output directory
    estimated_credits: float
    estimated_usd: float | None
    price_basis: str


@dataclass(frozen=True)
class JobRow:
    """A job as stored."""

    manifest: str
    key: str
    provider: str
    model: str | None
    prompt_id: str
    coords: dict[str, Any]
    request: dict[str, Any]
    output_path: str
    state: JobState
    remote_id: str | None
    remote_status: str | None
    attempts: int  # submits sent (or about to be) for this job, across runs
    estimated_credits: float
    estimated_usd: float | None
    price_basis: str
    reserved_credits: float
    spent_credits: float
    reserved_usd: float
    spent_usd: float
    charged_credits: float | None  # what the provider reported, when it did
    charged_usd: float | None
    size: int | None
    sha256: str | None
    error: str | None
    error_kind: str | None  # the errors.py class name, e.g. "ModerationError"
    created_at: str
    updated_at: str
    submitted_at: str | None
    finished_at: str | None
    owner: str | None = None  # the runner holding the job while it is in flight
    # The output file's stat when it was written or last verified: a rerun trusts a file
    # whose size, mtime and inode still match without reading it.
    output_mtime_ns: int | None = None
    output_inode: int | None = None


@dataclass(frozen=True)
class RunnerInfo:
    """A runner process as the `runners` table knows it: who it is and whether it lives."""

    id: str  # e.g. "run12@build-3:4711": the run, the host, the process
    run_id: int
    manifest: str
    hostname: str
    pid: int
    started_at: str
    heartbeat_at: str
    lease_seconds: float
    stopped_at: str | None
    live: bool  # its lease has not lapsed (by the database's clock) and it has not stopped


@dataclass(frozen=True)
class Doubt:
    """A job whose last submit may or may not have made a job at its provider: SUBMITTING
    (in flight, or left by a run that died) or AMBIGUOUS (its answer was lost)."""

    manifest: str
    key: str
    provider: str
    state: JobState
    attempt: int  # the submit in doubt (JobRow.attempts)
    request: dict[str, Any]  # what was sent, as JobRow.request
    claimed_at: str | None  # when it was claimed, just before it was sent
    lost_at: str | None  # when its answer was found lost (the ambiguous event), if it was
    client_request_id: str | None  # the id the submit carried, where the provider takes one
    run_id: int | None  # the run that last changed it


class Known(NamedTuple):
    """What a rerun needs to know of a stored job to skip it, and nothing more (a tuple:
    100,000 of them fit in a few tens of MB)."""

    state: JobState
    output_path: str
    coords: str  # as stored (JSON), to tell whether a job's coordinates changed
    size: int | None
    sha256: str | None
    mtime_ns: int | None
    inode: int | None


@dataclass(frozen=True)
class Usage:
    """A provider's claim on a manifest's budget."""

    spent_credits: float = 0.0
    reserved_credits: float = 0.0
    spent_usd: float = 0.0
    reserved_usd: float = 0.0

    @property
    def committed_credits(self) -> float:
        return self.spent_credits + self.reserved_credits

    @property
    def committed_usd(self) -> float:
        return self.spent_usd + self.reserved_usd


@dataclass(frozen=True)
class Limits:
    """The budget a reservation must fit in; None means no limit of that kind."""

    max_credits: float | None = None  # for the job's provider
    max_usd: float | None = None  # over every provider of the manifest
