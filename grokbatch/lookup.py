"""The lookup step: ask the provider what became of each lost submit, and record the verdict.

    facts      store.doubts(provider)      every submit in doubt there, any manifest
               client.list / client.submit the provider's list (newest first), or a replay
    decision   reconcile.by_*              pure: facts → Found / NotCreated / CannotTell
    record     Books.attached / not_created / a `looked_up` event

A run looks its lost submits up twice: once before it sends anything (`begin`: what earlier
runs left in doubt, including SUBMITTING jobs of a run that died), and again after its own
jobs are through (`follow_up`), as many times as windows still open need, running what
settles (a job found is polled and downloaded, one never made is submitted). Nothing new is
sent while `begin` reads a list: a job this run makes could otherwise look like the one a
lost submit made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace

from . import providers
from .books import Books
from .control import Control
from .errors import AmbiguousSubmitError, GrokbatchError, StateConflictError, TransientError
from .jobs import Job, canonical_json
from .providers.client import ProviderClient
from .providers.parse import epoch
from .reconcile import (
    CannotTell,
    Found,
    Looked,
    Lost,
    Method,
    NotCreated,
    Remedy,
    Seen,
    Settings,
    Verdict,
    by_replay,
    by_request_id,
    by_time,
    method_of,
    no_lookup,
    remedy,
)
from .resume import Action
from .state.base import Doubt, JobRow, JobState, StateStore

CUT_OFF = "a previous run sent this submit and stopped before recording the answer"
PAGE = 100
FAILED_READS = 5  # lookups in a row that could not read the list, before a run gives up


def job_of(row: JobRow) -> Job:
    """The job as stored: enough to send it again, poll it and write its output."""
    request = row.request
    return Job(
        key=row.key,
        index=0,
        provider=row.provider,
        model=request.get("model", row.model),
        prompt=request.get("prompt", ""),
        prompt_id=row.prompt_id,
        params=request.get("params", {}),
        coords=row.coords,
        output=row.output_path,
        credits=row.estimated_credits,
        usd=row.estimated_usd,
        price_basis=row.price_basis,
    )


def claim_of(doubt: Doubt, client: ProviderClient, *, ours: bool) -> Lost:
    request_id = doubt.client_request_id
    if request_id is None:  # sent before grokbatch recorded it: the adapter's own scheme
        probe = Job(doubt.key, 0, doubt.provider, None, "", "", {}, {}, "")
        request_id = client.provider.client_request_id(probe, doubt.attempt)
    return Lost(
        key=f"{doubt.manifest}\n{doubt.key}",
        body=canonical_json(doubt.request),
        claimed_at=epoch(doubt.claimed_at) or 0.0,
        lost_at=epoch(doubt.lost_at),
        request_id=request_id,
        ours=ours,
        label=f"job {doubt.key[:12]} of {doubt.manifest}",
    )


class _Stopped(Exception):
    """The run stopped while a list was being read."""


async def read_list(
    client: ProviderClient,
    *,
    since: float,
    settings: Settings,
    turn: Callable[[], Awaitable[bool]],
) -> Looked:
    """The provider's jobs, newest first, back to `since` (or as far as the list goes)."""
    at = time.time()
    horizon = client.provider.list_horizon
    reach = -math.inf if horizon is None else at - horizon
    seen: list[Seen] = []
    page: str | None = None
    for _ in range(settings.max_pages):
        if not await turn():
            raise _Stopped
        listing = await client.list(page=page, limit=PAGE)
        if listing is None:
            break
        seen += [Seen(i.remote_id, i.created_at, i.client_request_id) for i in listing.items]
        times = [i.created_at for i in listing.items if i.created_at is not None]
        if listing.next_page is None:
            return Looked(tuple(seen), since=reach, at=at)
        if times and min(times) < since:
            return Looked(tuple(seen), since=max(reach, min(times)), at=at)
        page = listing.next_page
    oldest = min((s.created_at for s in seen if s.created_at is not None), default=at)
    return Looked(tuple(seen), since=max(reach, oldest), at=at)


@dataclass(frozen=True)
class Outcome:
    doubt: Doubt
    verdict: Verdict
    unread: bool = False  # the provider could not be asked (an error, not an answer)


async def look_up(
    client: ProviderClient,
    doubts: list[Doubt],
    ours: Collection[str],
    *,
    books: Books,
    settings: Settings,
    turn: Callable[[], Awaitable[bool]],
) -> list[Outcome]:
    """Verdicts for the AMBIGUOUS jobs among `doubts` whose keys are in `ours` (this
    manifest's), weighing every other submit in doubt at the provider."""
    provider = client.provider
    mine = [
        d
        for d in doubts
        if d.manifest == books.manifest and d.key in ours and d.state is JobState.AMBIGUOUS
    ]
    if not mine:
        return []
    method = method_of(provider)
    if method is Method.NONE:
        return [Outcome(d, no_lookup(provider.title)) for d in mine]
    if method is Method.REPLAY:
        return [await _replay(client, d, books, settings, turn) for d in mine]
    claims = [claim_of(d, client, ours=d in mine) for d in doubts]
    since = min(c.window(settings)[0] for c in claims if c.ours)
    try:
        looked = await read_list(client, since=since, settings=settings, turn=turn)
    except GrokbatchError as error:
        retry = time.time() + max(1.0, settings.clock_skew)
        again = retry if isinstance(error, TransientError) else None
        why = CannotTell(f"the list could not be read: {error}", again)
        return [Outcome(d, why, unread=True) for d in mine]
    known = books.store.known_remote_ids(provider.name, (s.remote_id for s in looked.seen))
    looked = replace(looked, known=frozenset(known))
    if method is Method.REQUEST_ID:
        verdicts = {c.key: by_request_id(c, looked, settings=settings) for c in claims if c.ours}
    else:
        verdicts = by_time(claims, looked, settings=settings)
    return [Outcome(d, verdicts[f"{d.manifest}\n{d.key}"]) for d in mine]


async def _replay(
    client: ProviderClient,
    doubt: Doubt,
    books: Books,
    settings: Settings,
    turn: Callable[[], Awaitable[bool]],
) -> Outcome:
    """Resend with the same Idempotency-Key: the job it made comes back, or is made now."""
    row = books.get(doubt.key)
    first = by_replay(claim_of(doubt, client, ours=True), now=time.time(), settings=settings)
    if isinstance(first, CannotTell) or row is None:
        return Outcome(doubt, first if isinstance(first, CannotTell) else CannotTell("gone"))
    if not await turn():
        raise _Stopped
    try:
        submitted = await client.submit(job_of(row), doubt.attempt)
    except GrokbatchError as error:
        again = time.time() + max(1.0, settings.clock_skew)
        transient = isinstance(error, TransientError)
        why = CannotTell(f"the replay failed: {error}", again if transient else None)
        return Outcome(doubt, why, unread=transient)
    return Outcome(doubt, Found(submitted.remote_id, "its Idempotency-Key returned the job"))


class Reconciler:
    """One run's lookups of its lost submits, and what it runs once they settle."""

    def __init__(
        self,
        *,
        books: Books,
        clients: dict[str, ProviderClient],
        control: Control,
        settings: Settings,
        manifest_path: str = "MANIFEST",
    ) -> None:
        self.books = books
        self.clients = clients
        self.control = control
        self.settings = settings
        self.manifest_path = manifest_path
        self.waiting: dict[str, float] = {}  # key → when to look again
        self.given_up: set[str] = set()
        self.failures = 0
        self.told: dict[str, str] = {}
        self.results: dict[str, tuple[Verdict, Remedy | None]] = {}  # key → the last verdict

    async def begin(self, keys: Collection[str], *, names: Collection[str] | None = None) -> None:
        """Before anything is sent: mark the submits that runners left unanswered ambiguous
        (at `names`, default every provider with a client), look up every ambiguous job of
        the manifest, and record what is settled.

        A submit still held by a live runner may be on the wire: it is left to that runner.
        One whose runner died, stopped or let go of it is taken over first.
        """
        for name in self.clients if names is None else names:
            if providers.get(name).idempotent_submit:
                continue  # resent with the same key by the run (resume.decide)
            for d in self.books.store.doubts(name):
                ours = d.manifest == self.books.manifest and d.key in keys
                if not ours or d.state is not JobState.SUBMITTING:
                    continue
                row = self.books.get(d.key)
                if row is None or row.state is not JobState.SUBMITTING or self.books.held(row):
                    continue
                job = job_of(row)
                try:
                    if self.books.runner is not None:
                        self.books.take_over(job, row)
                    self.books.ambiguous(job, AmbiguousSubmitError(CUT_OFF))
                except StateConflictError:
                    continue  # another runner took it over first
        await self.round(keys)

    async def round(self, keys: Collection[str]) -> list[tuple[Job, Action, JobRow]]:
        """One lookup of every ambiguous job in `keys` not given up; what now runs."""
        keys = set(keys) - self.given_up
        settled: list[tuple[Job, Action, JobRow]] = []
        self.waiting = {}
        unread = False
        for name, client in self.clients.items():
            doubts = self.books.store.doubts(name)

            async def turn(provider: str = name) -> bool:
                return await self.control.turn(provider)

            try:
                outcomes = await look_up(
                    client, doubts, keys, books=self.books, settings=self.settings, turn=turn
                )
            except _Stopped:
                return settled
            for outcome in outcomes:
                unread |= outcome.unread
                done = self.record(outcome)
                if done is not None:
                    settled.append(done)
        self.failures = self.failures + 1 if unread else 0
        return settled

    def record(self, outcome: Outcome) -> tuple[Job, Action, JobRow] | None:
        """Write one verdict: the job to run now, if it settled."""
        d, verdict = outcome.doubt, outcome.verdict
        row = self.books.get(d.key)
        if row is None:
            return None
        job = job_of(row)
        how = {"reason": verdict.reason, "by": "lookup"}
        self.results[d.key] = (verdict, None)
        try:
            if isinstance(verdict, Found):
                return job, Action.ATTACH, self.books.attached(job, verdict.remote_id, how)
            if isinstance(verdict, NotCreated):
                return job, Action.SUBMIT, self.books.not_created(job, how)
        except StateConflictError as error:  # another runner settled it, or owns the id
            verdict = CannotTell(str(error))
            self.results[d.key] = (verdict, None)
        assert isinstance(verdict, CannotTell)
        retry = verdict.retry_at if self.failures < FAILED_READS else None
        self.books.store.log(
            run_id=self.books.run_id,
            kind="looked_up",
            manifest=self.books.manifest,
            key=d.key,
            detail={"reason": verdict.reason, "retry_at": retry},
        )
        if retry is None:
            self.given_up.add(d.key)
        else:
            self.waiting[d.key] = retry
        way = remedy(
            method_of(self.clients[d.provider].provider),
            replace(verdict, retry_at=retry),
            title=self.clients[d.provider].provider.title,
            manifest=self.manifest_path,
            key=d.key,
            sent=epoch(d.claimed_at),
        )
        self.results[d.key] = (verdict, way)
        text = f"{verdict.reason}; {way.text}" + "".join(f"\n    {c}" for c in way.commands)
        if self.told.get(d.key) != text:
            self.told[d.key] = text
            self.books.note("ambiguous" if retry is None else "lookup", job, text)
        return None

    async def follow_up(
        self,
        keys: Collection[str],
        start: Callable[[Job, Action, JobRow], Awaitable[None]],
    ) -> None:
        """After the run's own jobs: look up its lost submits until each settles or only a
        person can settle it, starting each as it settles (`start` returns once it runs)."""
        while not self.control.stopping:
            settled = await self.round(keys)
            if settled:
                for job, action, row in settled:
                    await start(job, action, row)
                continue
            if not self.waiting:
                return
            # A job can be listed before its window closes: look again now and then.
            every = min(30.0, max(0.5, self.settings.settle_window / 5))
            wait = min(min(self.waiting.values()) - time.time(), every)
            if await self.control.pause(max(0.0, wait)):
                return


def remedy_for(store: StateStore, row: JobRow, manifest_path: str) -> tuple[str | None, Remedy]:
    """For an ambiguous job: why the last lookup could not settle it (None: not looked up
    yet), and which way out applies."""
    last = None
    for event in store.events(row.manifest, key=row.key):
        if event["kind"] == "looked_up":
            last = event["detail"]
        elif event["kind"] == "ambiguous":
            last = None  # a later submit's loss: not looked up yet
    adapter = providers.get(row.provider)
    verdict = None if last is None else CannotTell(last["reason"], last.get("retry_at"))
    way = remedy(
        method_of(adapter),
        verdict,
        title=adapter.title,
        manifest=manifest_path,
        key=row.key,
        sent=epoch(row.submitted_at),
    )
    return (None if verdict is None else verdict.reason), way
