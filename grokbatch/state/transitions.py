"""The one table of a job's allowed state changes, and what each change does to its books.

Every backend applies this table through a single `_transition`: the job row is locked,
its state and its holder checked against the event's from-states and claim rule (else
StateConflictError), the columns below are written with the new state and holder, and the
event is appended, all in one transaction.

| event      | from              | to         | holder | books                              |
|------------|-------------------|------------|--------|------------------------------------|
| reserved   | pending           | submitting | —      | estimate reserved, attempts + 1    |
| submitted  | submitting        | running    | this   | a charge reported at submit spent  |
| released   | submitting        | pending    | this   | reservation returned               |
| refused    | submitting        | failed     | this   | reservation returned               |
| ambiguous  | submitting        | ambiguous  | this   | reservation kept (maybe paid)      |
| status     | running, ready    | (same)     | this   | —                                  |
| ready      | running           | ready      | this   | settled to the reported charge     |
| done       | ready             | done       | this   | —                                  |
| failed     | in flight         | failed     | this   | settled; refunded: nothing spent   |
| reopened   | done              | ready      | —      | — (paid once; fetched again free)  |
| reset      | failed, ambiguous | pending    | —      | reservation becomes spent          |
| taken_over | in flight         | (same)     | lapsed | —                                  |
| left       | in flight         | (same)     | this   | — (held by nobody afterwards)      |
| attached   | ambiguous         | running    | —      | reservation kept: charged once     |
| not_created| ambiguous         | pending    | —      | reservation returned               |

In flight: submitting, running or ready. Holder (who must hold the job for the change to
apply): "this", the runner making the change; "lapsed", nobody or a runner whose lease has
run out (or that stopped); "—", nobody (the job is not in flight).

A job in flight is held by the runner whose transition put it there, or by nobody once that
runner `left` it (it stopped working on it: a job timeout, a stop); a job in any other
state is held by nobody. A caller that names no runner (a single-process tool, a test) is
the runner `None`, and holds what it claims the same way.

The functions below compute each event's column changes from the job's current row; they
are pure, so the SQLite and PostgreSQL stores share them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StateConflictError
from .base import JobRow, JobState

P, S, RUN, RDY, D, F, A = (
    JobState.PENDING,
    JobState.SUBMITTING,
    JobState.RUNNING,
    JobState.READY,
    JobState.DONE,
    JobState.FAILED,
    JobState.AMBIGUOUS,
)


class Event(enum.Enum):
    """A change to a job; its value is the kind written to the event log."""

    RESERVED = "reserved"
    SUBMITTED = "submitted"
    RELEASED = "released"
    REFUSED = "refused"
    AMBIGUOUS = "ambiguous"
    STATUS = "status"
    READY = "ready"
    DONE = "done"
    FAILED = "failed"
    REOPENED = "reopened"
    RESET = "reset"
    ATTACHED = "attached"  # a lost submit's job found at the provider (or named by a person)
    NOT_CREATED = "not_created"  # a lost submit certainly made nothing (or a person says so)
    TAKEN_OVER = "taken_over"
    LEFT = "left"


class Claim(enum.Enum):
    """Who must hold a job for a transition to apply to it."""

    NONE = "none"  # nobody: the job is not in flight
    OWN = "own"  # the runner making the change
    LAPSED = "lapsed"  # nobody, or a runner whose lease has lapsed: it may be taken over


@dataclass(frozen=True)
class Transition:
    sources: frozenset[JobState]
    target: JobState | None  # None: the state stays as it is
    claim: Claim
    lets_go: bool = False  # the job is held by nobody afterwards, in flight or not

    def allows(self, state: JobState) -> bool:
        return state in self.sources

    def holder_after(self, state: JobState, runner: str | None) -> str | None:
        """Who holds the job after the change: the runner, while it stays in flight."""
        return runner if (self.target or state).in_flight and not self.lets_go else None


def _t(
    sources: tuple[JobState, ...], target: JobState | None, claim: Claim, lets_go: bool = False
) -> Transition:
    return Transition(frozenset(sources), target, claim, lets_go)


NONE, OWN, LAPSED = Claim.NONE, Claim.OWN, Claim.LAPSED

TRANSITIONS: Mapping[Event, Transition] = {
    Event.RESERVED: _t((P,), S, NONE),
    Event.SUBMITTED: _t((S,), RUN, OWN),
    Event.RELEASED: _t((S,), P, OWN),
    Event.REFUSED: _t((S,), F, OWN),
    Event.AMBIGUOUS: _t((S,), A, OWN),
    Event.STATUS: _t((RUN, RDY), None, OWN),
    Event.READY: _t((RUN,), RDY, OWN),
    Event.DONE: _t((RDY,), D, OWN),
    Event.FAILED: _t((S, RUN, RDY), F, OWN),
    Event.REOPENED: _t((D,), RDY, NONE),
    Event.RESET: _t((F, A), P, NONE),
    Event.TAKEN_OVER: _t((S, RUN, RDY), None, LAPSED),
    Event.LEFT: _t((S, RUN, RDY), None, OWN, lets_go=True),
    Event.ATTACHED: _t((A,), RUN, NONE),
    Event.NOT_CREATED: _t((A,), P, NONE),
}


def check(
    event: Event,
    manifest: str,
    key: str,
    state: JobState | None,
    *,
    owner: str | None = None,
    runner: str | None = None,
    lapsed: bool = False,
) -> Transition:
    """The event's transition, or StateConflictError when the job is not in one of its
    from-states or not held as its claim rule requires.

    `owner` holds the job now, `runner` makes the change, `lapsed`: the owner's lease ran out.
    """
    transition = TRANSITIONS[event]
    if state is None:
        raise StateConflictError(f"job {key} of {manifest} is unknown")
    if not transition.allows(state):
        expected = " or ".join(s.value for s in JobState if s in transition.sources)
        raise StateConflictError(
            f"job {key} of {manifest} is {state.value}, not {expected} ({event.value})"
        )
    if transition.claim is Claim.OWN and owner != runner:
        raise StateConflictError(
            f"job {key} of {manifest} is held by {_name(owner)}, not by {_name(runner)} "
            f"({event.value})"
        )
    if transition.claim is Claim.LAPSED and owner not in (None, runner) and not lapsed:
        raise StateConflictError(
            f"job {key} of {manifest} is held by runner {owner}, whose lease is live "
            f"({event.value})"
        )
    return transition


def _name(runner: str | None) -> str:
    return f"runner {runner}" if runner is not None else "no runner"


def r(value: float) -> float:
    """Stored sums keep the precision prices have, so 2.4 * 6 reads back as 14.4."""
    return round(value, 6)


# --- the books of each event --------------------------------------------------------------


def reserved(credits: float, usd: float | None, at: str) -> dict[str, Any]:
    return {
        "reserved_credits": r(credits),
        "reserved_usd": r(usd or 0.0),
        "attempts": Raw("attempts + 1"),
        "submitted_at": at,
        "charged_credits": None,
        "charged_usd": None,
    }


def submitted(row: JobRow, remote_id: str, charged: float | None) -> dict[str, Any]:
    changes: dict[str, Any] = {"remote_id": remote_id}
    if charged is not None:
        # A provider may charge more than estimated: spent is the truth.
        changes["spent_credits"] = r(row.spent_credits + charged)
        changes["reserved_credits"] = r(max(0.0, row.reserved_credits - charged))
        changes["charged_credits"] = charged
    return changes


def released(error: str, error_kind: str, at: str | None) -> dict[str, Any]:
    return {
        "reserved_credits": 0.0,
        "reserved_usd": 0.0,
        "error": error,
        "error_kind": error_kind,
        "finished_at": at,
    }


def settle(
    row: JobRow, credits: float | None, usd: float | None, *, refunded: bool
) -> dict[str, Any]:
    """Budget columns once an attempt's cost is known; earlier attempts stay spent.

    `charged_*` on the row is what this attempt was charged so far (at submit); spent holds
    earlier attempts' cost plus that. Refunded: this attempt costs nothing. Else it costs the
    reported charge, or the one reported at submit, or the whole reservation.
    """
    changes: dict[str, Any] = {"reserved_credits": 0.0, "reserved_usd": 0.0}
    for unit, reported in (("credits", credits), ("usd", usd)):
        spent, reserved_ = getattr(row, f"spent_{unit}"), getattr(row, f"reserved_{unit}")
        charged_before = getattr(row, f"charged_{unit}")
        earlier = spent - (charged_before or 0.0)
        if refunded:
            cost = 0.0
        elif reported is not None:
            cost = reported
        elif charged_before is not None:
            cost = charged_before  # reported at submit; the rest of the estimate is freed
        else:
            cost = reserved_
        changes[f"spent_{unit}"] = r(earlier + cost)
        # What this attempt was charged, as the ledger counts it: 0 once refunded.
        changes[f"charged_{unit}"] = (
            0.0 if refunded else (reported if reported is not None else charged_before)
        )
    return changes


def reset(row: JobRow) -> dict[str, Any]:
    return {
        # An ambiguous submit may have been paid: its reservation becomes spent, so that
        # resubmitting can never free budget.
        "spent_credits": r(row.spent_credits + row.reserved_credits),
        "spent_usd": r(row.spent_usd + row.reserved_usd),
        "reserved_credits": 0.0,
        "reserved_usd": 0.0,
        # The next attempt's charges are its own.
        "charged_credits": None,
        "charged_usd": None,
        "remote_id": None,
        "remote_status": None,
        "error": None,
        "error_kind": None,
        "finished_at": None,
    }


def attached(remote_id: str) -> dict[str, Any]:
    # The reservation stays: the job found is the one the lost submit paid for, and it
    # settles to its charge when it finishes, like any running job.
    return {
        "remote_id": remote_id,
        "remote_status": None,
        "error": None,
        "error_kind": None,
        "finished_at": None,
    }


def not_created(row: JobRow) -> dict[str, Any]:
    # As a reset, but nothing was made, so nothing was paid: the reservation is returned.
    return reset(row) | {"spent_credits": row.spent_credits, "spent_usd": row.spent_usd}


class Raw(str):
    """A SQL expression, not a value, in a transition's changes."""
