"""What a run does with each job, given what the state database remembers of it.

This table is the resume contract (the README's "Resume" section describes it):

| stored state          | action                                                          |
|-----------------------|-----------------------------------------------------------------|
| none, PENDING         | submit (reserving its credits first)                            |
| in flight, held by a  | skip: another runner is working on it (its lease is live)       |
| live runner           |                                                                 |
| SUBMITTING            | take over, then: idempotent provider: resend with the same key  |
|                       | (safe); otherwise: mark AMBIGUOUS and report (maybe paid)       |
| RUNNING               | take over, re-attach: poll its remote id                        |
| READY                 | take over, poll once for a fresh URL, download                  |
| DONE, file verified   | skip (its stat matches; else, or with --verify, re-hashed)      |
| DONE, file gone/bad   | reopen (no charge), poll for a URL, download again              |
| FAILED                | skip; with --retry-failed: reset and submit (paid again)        |
| AMBIGUOUS             | skip and report; with --resubmit-ambiguous: reset and submit    |

A job in flight that no live runner holds was left by a runner that died or stopped (its
lease lapsed): the runner that comes across it takes it over (`Action.takes_over`), in
the state it was left in. What then happens to a SUBMITTING job is `take_over`'s choice:
where its provider allows, a SUBMITTING or AMBIGUOUS job is then looked up at the
provider (`lookup.Reconciler`) before anything is sent: a job found is RUNNING by then,
and one certainly never made is PENDING.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from . import providers
from .download import FileStat, Verdict, check_output
from .jobs import Job
from .state.base import JobRow, JobState


class Action(enum.Enum):
    SUBMIT = "submit"
    RESEND = "resend"  # SUBMITTING at an idempotent provider: send again, same key
    MARK_AMBIGUOUS = "mark_ambiguous"
    ATTACH = "attach"  # RUNNING: poll
    FETCH = "fetch"  # READY: poll for a URL, download
    REFETCH = "refetch"  # DONE but the file is gone: reopen, then FETCH
    RETRY = "retry"  # FAILED + --retry-failed: reset, submit
    RESUBMIT = "resubmit"  # AMBIGUOUS + --resubmit-ambiguous: reset, submit
    SKIP_DONE = "skip_done"
    SKIP_FAILED = "skip_failed"
    SKIP_AMBIGUOUS = "skip_ambiguous"
    SKIP_HELD = "skip_held"  # in flight at another runner whose lease is live

    @property
    def submits(self) -> bool:
        """The job is (or may be) sent to the provider, and pays."""
        return self in (Action.SUBMIT, Action.RESEND, Action.RETRY, Action.RESUBMIT)

    @property
    def pays(self) -> bool:
        """A new submission, with a new charge (a resend replays one already reserved)."""
        return self in (Action.SUBMIT, Action.RETRY, Action.RESUBMIT)

    @property
    def skips(self) -> bool:
        return self in (
            Action.SKIP_DONE,
            Action.SKIP_FAILED,
            Action.SKIP_AMBIGUOUS,
            Action.SKIP_HELD,
        )

    @property
    def takes_over(self) -> bool:
        """The job is in flight, left by a runner that is gone: take it over first."""
        return self in (Action.RESEND, Action.MARK_AMBIGUOUS, Action.ATTACH, Action.FETCH)


def decide(
    row: JobRow | None,
    *,
    idempotent: bool,
    retry_failed: bool,
    resubmit_ambiguous: bool,
    output_ok: Callable[[JobRow], bool],
    held: bool = False,
) -> Action:
    """The action for one job at the start of a run. `held`: another runner whose lease is
    live holds it (the job is in flight there)."""
    if row is None or row.state is JobState.PENDING:
        return Action.SUBMIT
    state = row.state
    if state.in_flight:
        return Action.SKIP_HELD if held else take_over(row, idempotent=idempotent)
    if state is JobState.DONE:
        return Action.SKIP_DONE if output_ok(row) else Action.REFETCH
    if state is JobState.FAILED:
        return Action.RETRY if retry_failed else Action.SKIP_FAILED
    return Action.RESUBMIT if resubmit_ambiguous else Action.SKIP_AMBIGUOUS


def take_over(row: JobRow, *, idempotent: bool) -> Action:
    """What a job left in flight by a runner that is gone needs, once taken over.

    A SUBMITTING job's submit may have been sent and its answer lost. Resending is safe only
    with an idempotency key; otherwise it is ambiguous (maybe paid) and never resent
    blindly. This is where a look-up of lost submits at the provider will decide instead.
    """
    if row.state is JobState.SUBMITTING:
        return Action.RESEND if idempotent else Action.MARK_AMBIGUOUS
    if row.state is JobState.RUNNING:
        return Action.ATTACH
    return Action.FETCH


def actions(
    jobs: Iterable[Job],
    stored: Callable[[str], JobRow | None],
    *,
    output_dir: Path,
    retry_failed: bool,
    resubmit_ambiguous: bool,
    held: Callable[[JobRow], bool] = lambda row: False,
    rehash: bool = False,
    verified: Callable[[JobRow, FileStat], None] | None = None,
) -> Iterator[tuple[Job, JobRow | None, Action]]:
    """Each job with its stored row (looked up by key) and what a run does with it now.

    `run` and `plan` both walk the batch through this, so the plan prices exactly what the
    run will submit. A done job's file is trusted when its stat matches the one recorded
    (`rehash`: read and hash every file instead); `verified` hears of each file that was
    hashed again and found unchanged, with its new stat. `held(row)`: whether a live runner
    other than this one holds the job.
    """

    def output_ok(row: JobRow) -> bool:
        verdict, stat = check_output(
            output_dir / row.output_path,
            size=row.size or 0,
            sha256=row.sha256 or "",
            mtime_ns=row.output_mtime_ns,
            inode=row.output_inode,
            rehash=rehash,
        )
        if verdict is Verdict.VERIFIED and stat is not None and verified is not None:
            verified(row, stat)
        return verdict is not Verdict.CHANGED

    for job in jobs:
        row = stored(job.key)
        action = decide(
            row,
            idempotent=providers.get(job.provider).idempotent_submit,
            retry_failed=retry_failed,
            resubmit_ambiguous=resubmit_ambiguous,
            output_ok=output_ok,
            held=row is not None and row.state.in_flight and held(row),
        )
        yield job, row, action
