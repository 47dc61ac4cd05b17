"""Which running job to check next, when, and whether one list request can check several.

Pure: every method takes the time as an argument, so the scheduler's decisions are tested
on a fake clock (tests/test_agenda.py). The scheduler (scheduler.py) carries them out.

Invariants:

* Every watched job is in exactly one place: in the heap (waiting for its due time), out
  (its check is under way, in its own task), or in a list request (whose answer reschedules
  or resolves it). A heap entry whose watch moved on is skipped (its `version` changed).
* One list request per provider at a time. A list covers only jobs that may plausibly have
  finished (past the low end of their completion times) and are not overdue (past the high
  end, learned or prior, × OVERDUE): those are checked one by one.
* A job a list shows running counts as checked then: its next check is timed from that
  moment, as after a poll that said "running". A job a list does not show at all may have
  fallen off its page: it is polled, never listed again.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .jobs import Job
from .providers.wire import Polled, RemoteState
from .timing import (
    Estimate,
    Learned,
    Origin,
    PollSettings,
    Reading,
    completion_time,
    first_check,
    kind_of,
    next_check,
    origin,
)

OVERDUE = 1.5  # past estimate.high × this, a job is polled on its own (lists skip failures)
MIN_COVER = 2  # a list is worth a request when it answers for at least this many jobs


@dataclass(eq=False)
class Watch:
    """One running job the scheduler keeps an eye on."""

    job: Job
    remote_id: str
    label: str  # whose completion times it shares (timing.Origin)
    kind: str
    estimate: Estimate
    started: float  # clock time of its submit: elapsed times count from here
    watched: float  # clock time this run began watching it (the job timeout counts from here)
    teaches: bool  # submitted by this run: timed from its submit's answer, and learned from
    readings: list[Reading] = field(default_factory=list)
    last_running: float | None = None  # elapsed at the last check that found it running
    checks: int = 0
    due: float = 0.0
    version: int = 0
    where: str = "heap"  # heap | due (being released) | out | list | gone
    found: Polled | None = None  # a list answer that showed it finished
    poll_only: bool = False  # a list showed it finished without its URL: a poll must tell
    taught: bool = False  # its completion time was learned
    handle: Any = None  # the scheduler's own (its wake-up event)

    @property
    def provider(self) -> str:
        return self.job.provider

    def elapsed(self, now: float) -> float:
        return now - self.started


class Agenda:
    """The heap of due times, with the decisions that fill and empty it."""

    def __init__(
        self,
        settings: PollSettings,
        learned: Learned,
        origins: Mapping[str, Origin] | None = None,
    ) -> None:
        self.settings = settings
        self.learned = learned
        self.origins = dict(origins or {})  # by provider; else the provider's own figures
        self._heap: list[tuple[float, int, int, Watch]] = []
        self._order = itertools.count()
        self._watches: dict[int, Watch] = {}
        self._listing: set[str] = set()  # providers with a list request under way

    # --- watching ---------------------------------------------------------------------------
    def watch(
        self,
        job: Job,
        remote_id: str,
        *,
        now: float,
        since: float = 0.0,
        at_once: bool = False,
        teaches: bool = True,
    ) -> Watch:
        """Start watching a job submitted `since` seconds ago; its first check is due at once
        (`at_once`) or near the low end of its kind's completion times."""
        where = self._origin(job.provider)
        kind = kind_of(job)
        estimate = self.learned.estimate(where, kind)
        watch = Watch(
            job, remote_id, where.label, kind, estimate, started=now - since, watched=now,
            teaches=teaches,
        )  # fmt: skip
        self._watches[id(watch)] = watch
        first = 0.0 if at_once else first_check(estimate, self.settings)
        self._push(watch, max(now, watch.started + first))
        return watch

    def running(self, watch: Watch, *, now: float, progress: float | None) -> float:
        """A check found the job still running: note it, and schedule the next; its due time."""
        elapsed = watch.elapsed(now)
        self._refresh(watch)
        watch.checks += 1
        watch.last_running = elapsed
        watch.readings.append(Reading(elapsed, progress))
        del watch.readings[:-4]  # a rate needs two; a few more are history
        gap = next_check(
            elapsed, watch.estimate, watch.readings, self.settings, exact=watch.teaches
        )
        due = now + gap
        self._push(watch, due)
        return due

    def retry(self, watch: Watch, *, at: float) -> None:
        """A check failed and is to be tried again at `at` (a backoff)."""
        self._push(watch, at)

    def finished(self, watch: Watch, *, now: float) -> float | None:
        """The job was seen finished (successfully): what it teaches, if anything."""
        watch.checks += 1
        self.drop(watch)
        return self._learn(watch, now)

    def _learn(self, watch: Watch, now: float) -> float | None:
        if not watch.teaches or watch.taught:
            return None  # re-attached: timed from its record, which may be off by its submit
        watch.taught = True
        seconds = completion_time(watch.last_running, watch.elapsed(now), watch.readings)
        self.learned.add(watch.label, watch.kind, seconds)
        return seconds

    def drop(self, watch: Watch) -> None:
        """Stop watching (finished, given up, or its task ended)."""
        watch.where = "gone"
        watch.version += 1
        self._watches.pop(id(watch), None)

    def watches(self) -> list[Watch]:
        return list(self._watches.values())

    # --- the clock --------------------------------------------------------------------------
    def next_due(self) -> float | None:
        """When the earliest waiting check is due (None: nothing waits)."""
        while self._heap:
            due, _, version, watch = self._heap[0]
            if watch.where == "heap" and version == watch.version:
                return due
            heapq.heappop(self._heap)
        return None

    def release(
        self, now: float, *, listers: Collection[str] = ()
    ) -> tuple[list[Watch], dict[str, list[Watch]]]:
        """The checks due at `now`: jobs to poll one by one, and per provider with a lister
        the jobs one list request should cover instead."""
        due: list[Watch] = []
        while (at := self.next_due()) is not None and at <= now:
            _, _, _, watch = heapq.heappop(self._heap)
            watch.where = "due"
            due.append(watch)
        polls: list[Watch] = []
        lists: dict[str, list[Watch]] = {}
        for provider in {w.provider for w in due}:
            mine = [w for w in due if w.provider == provider]
            if provider in listers and provider in self._listing:
                # A list is under way: the next one answers for these, not a poll each.
                for w in mine:
                    if self._listable(w, now):
                        self._push(w, now + self.settings.min_gap)
                mine = [w for w in mine if w.where == "due"]
            covered = self._cover(provider, mine, now) if provider in listers else []
            if covered:
                lists[provider] = covered
                self._listing.add(provider)
                for w in covered:
                    w.where = "list"
                    w.version += 1
            polls += [w for w in mine if w.where == "due"]
        for w in polls:
            w.where = "out"
        return sorted(polls, key=lambda w: w.due), lists

    def _cover(self, provider: str, due: list[Watch], now: float) -> list[Watch]:
        fits = [w for w in due if self._listable(w, now)]
        if not fits:
            return []
        # Every other job of the provider that may have finished by now, or within the
        # shortest gap: the list answers for them at no extra cost.
        soon = now + self.settings.min_gap
        also = [
            w
            for w in self._watches.values()
            if w.provider == provider and w.where == "heap" and self._listable(w, now)
            and w.elapsed(soon) >= w.estimate.low
        ]  # fmt: skip
        covered = fits + also
        return covered if len(covered) >= MIN_COVER else []

    def _listable(self, watch: Watch, now: float) -> bool:
        # Overdue by the prior too: early in a run only the fast jobs have taught anything.
        high = max(watch.estimate.high, self._origin(watch.provider).prior.high)
        return not watch.poll_only and watch.elapsed(now) <= high * OVERDUE

    def listed(
        self, provider: str, covered: list[Watch], found: Mapping[str, Polled] | None, now: float
    ) -> list[Watch]:
        """A list request's answer (None: it failed): the covered jobs it shows finished
        (each with `found` set) are returned to be woken; the others are rescheduled, or,
        when the list failed, polled one by one at once."""
        self._listing.discard(provider)
        shown: list[Watch] = []
        rest: list[Watch] = []
        for watch in covered:
            if watch.where != "list":
                continue  # dropped meanwhile (the run stopped, its task ended)
            polled = (found or {}).get(watch.remote_id)
            if found is None:
                self._push(watch, now)
            elif polled is None:
                # Not on the page: newer jobs pushed it off (other runners, other batches),
                # and no later page will show it. It is polled from now on.
                watch.poll_only = True
                self._push(watch, now)
            elif not polled.state.finished:
                rest.append(watch)
            elif polled.output_urls or polled.state is RemoteState.FAILED:
                watch.found = polled
                watch.where = "out"
                shown.append(watch)
                if polled.state is RemoteState.SUCCEEDED:
                    self._learn(watch, now)  # before the rest are rescheduled: they use it
            else:
                watch.poll_only = True  # finished, but the row lacks the URL: poll it
                self._push(watch, now)
        for watch in rest:
            elapsed = watch.elapsed(now)
            self._refresh(watch)
            watch.checks += 1
            watch.last_running = elapsed
            gap = next_check(
                elapsed, watch.estimate, watch.readings, self.settings, exact=watch.teaches
            )
            self._push(watch, now + gap)
        return shown

    def _origin(self, provider: str) -> Origin:
        return self.origins.get(provider) or origin(provider)

    def _refresh(self, watch: Watch) -> None:
        """What its kind's jobs taught since it was submitted times its next checks."""
        watch.estimate = self.learned.estimate(self._origin(watch.provider), watch.kind)

    def _push(self, watch: Watch, due: float) -> None:
        if watch.where == "gone":
            return
        watch.version += 1
        watch.due = due
        watch.where = "heap"
        heapq.heappush(self._heap, (due, next(self._order), watch.version, watch))


def wait_for(due: float | None, now: float) -> float:
    """Seconds to sleep until `due` (forever when nothing is due)."""
    return math.inf if due is None else max(0.0, due - now)
