"""The one table of a job's allowed state changes, and what each change does to its books.

Every backend applies this table through a single `_transition`: the job row is locked,
its state checked against the event's from-states (else StateConflictError), the columns
below are written with the new state, and the event is appended, all in one transaction.

| event      | from                          | to         | books                              |
|------------|-------------------------------|------------|------------------------------------|
| reserved   | pending                       | submitting | estimate reserved, attempts + 1    |
| submitted  | submitting                    | running    | a charge reported at submit spent  |
| released   | submitting                    | pending    | reservation returned               |
| refused    | submitting                    | failed     | reservation returned               |
| ambiguous  | submitting                    | ambiguous  | reservation kept (maybe paid)      |
| status     | running, ready                | (same)     | —                                  |
| ready      | running                       | ready      | settled to the reported charge     |
| done       | ready                         | done       | —                                  |
| failed     | submitting, running, ready    | failed     | settled; refunded: nothing spent   |
| reopened   | done                          | ready      | — (paid once; fetched again free)  |
| reset      | failed, ambiguous             | pending    | reservation becomes spent          |
| attached   | ambiguous                     | running    | reservation kept: charged once     |
| not_created| ambiguous                     | pending    | reservation returned               |

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


@dataclass(frozen=True)
class Transition:
    sources: frozenset[JobState]
    target: JobState | None  # None: the state stays as it is

    def allows(self, state: JobState) -> bool:
        return state in self.sources


def _t(sources: tuple[JobState, ...], target: JobState | None) -> Transition:
    return Transition(frozenset(sources), target)


TRANSITIONS: Mapping[Event, Transition] = {
    Event.RESERVED: _t((P,), S),
    Event.SUBMITTED: _t((S,), RUN),
    Event.RELEASED: _t((S,), P),
    Event.REFUSED: _t((S,), F),
    Event.AMBIGUOUS: _t((S,), A),
    Event.STATUS: _t((RUN, RDY), None),
    Event.READY: _t((RUN,), RDY),
    Event.DONE: _t((RDY,), D),
    Event.FAILED: _t((S, RUN, RDY), F),
    Event.REOPENED: _t((D,), RDY),
    Event.RESET: _t((F, A), P),
    Event.ATTACHED: _t((A,), RUN),
    Event.NOT_CREATED: _t((A,), P),
}


def check(event: Event, manifest: str, key: str, state: JobState | None) -> Transition:
    """The event's transition, or StateConflictError when `state` is not a source of it."""
    transition = TRANSITIONS[event]
    if state is None:
        raise StateConflictError(f"job {key} of {manifest} is unknown")
    if not transition.allows(state):
        expected = " or ".join(s.value for s in JobState if s in transition.sources)
        raise StateConflictError(
            f"job {key} of {manifest} is {state.value}, not {expected} ({event.value})"
        )
    return transition


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
