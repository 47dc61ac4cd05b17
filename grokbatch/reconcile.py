"""What became of a submit whose answer was lost: pure decisions, from facts to a verdict.

A lost submit may or may not have made (and charged) a job. Where the provider lets a
client find out, the facts are a listing of the account's jobs; the verdict is

* `Found(remote_id)`: the job it made; attach it and carry on (it is paid once);
* `NotCreated`: it certainly made nothing; release its reservation and submit it again;
* `CannotTell(reason, retry_at)`: not now (the job may still appear: look again at
  `retry_at`) or not by grokbatch (`retry_at` None: a person settles it).

| provider  | method     | found                            | certainly not created                |
|-----------|------------|----------------------------------|--------------------------------------|
| AI/ML API | REQUEST_ID | the log row with its request id  | no such row, `settle_window` after   |
| Vydra     | TIME       | the unknown job made meanwhile   | no unknown job made while on the wire|
| APIFrame  | REPLAY     | the job its Idempotency-Key replays (within 24 h)                       |
| others    | NONE       | —: a person checks the dashboard (`attach` / `not-created`)             |

Matching by time never gives one remote job to two local jobs, never a remote id the state
knows (any job, any manifest), and never a job that a submit still in doubt elsewhere
(another run, another manifest) may have made. Lost submits of identical requests (the
takes of one prompt) are interchangeable: which take gets which clip does not matter.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from .jobs import Job
from .providers.base import Provider


class Method(enum.Enum):
    """How a provider lets a client find out what a lost submit did."""

    REQUEST_ID = "request id"  # its log lists the id each submit carried (AI/ML API)
    TIME = "time"  # it lists the account's jobs with their creation time (Vydra)
    REPLAY = "replay"  # an Idempotency-Key replays the job already made (APIFrame)
    NONE = "none"  # no way (AI Video API, PixelDojo, xAI)


def method_of(provider: Provider) -> Method:
    """The lookup a provider's adapter supports."""
    if provider.idempotent_submit:
        return Method.REPLAY
    if provider.list_request() is None:
        return Method.NONE
    probe = Job("0" * 64, 0, provider.name, None, "", "", {}, {}, "")
    return Method.REQUEST_ID if provider.client_request_id(probe, 1) else Method.TIME


@dataclass(frozen=True)
class Settings:
    # AI/ML API logs a generation only once it completes; a clip takes about 1 min 47 s
    # (providers.md). Ten minutes is that five times over plus a queue, before "no row"
    # is read as "never made".
    settle_window: float = 600.0
    # Margin on each side of a submit's time on the wire, for the provider's clock and for
    # a server that creates the job a moment after the client gave up on it.
    clock_skew: float = 30.0
    # The longest a submit can have been on the wire: the request timeout and the grace a
    # stopping run gives it (RunSettings.request_timeout + submit_grace).
    wire_time: float = 70.0
    # APIFrame remembers an Idempotency-Key for 24 h; an hour's margin.
    replay_window: float = 23 * 3600.0
    max_pages: int = 50  # list pages read per provider and lookup, newest first


@dataclass(frozen=True)
class Lost:
    """A submit in doubt: one of ours to decide, or another one to weigh (`ours` False)."""

    key: str
    body: str  # the request as sent: equal bodies are interchangeable (takes)
    claimed_at: float  # epoch seconds, just before it was sent
    lost_at: float | None  # when its answer was found lost; None: in flight, or unknown
    request_id: str | None = None
    ours: bool = True
    label: str = ""  # how messages name it, e.g. "job 1a2b3c4d5e6f of campaign"

    def window(self, settings: Settings) -> tuple[float, float]:
        """When a job it made can have been created, as the provider's clock may say."""
        end = self.claimed_at + settings.wire_time
        if self.lost_at is not None:
            end = min(end, self.lost_at)
        return self.claimed_at - settings.clock_skew, end + settings.clock_skew


@dataclass(frozen=True)
class Seen:
    """A job as the provider's list shows it."""

    remote_id: str
    created_at: float | None  # epoch seconds; None: the row does not say
    request_id: str | None = None


Holds = Callable[[Lost, Seen], bool]  # whether a claim's window holds a listed job


@dataclass(frozen=True)
class Looked:
    """One reading of a provider's list: what it showed, and how far back it is complete."""

    seen: tuple[Seen, ...]
    since: float  # every job created at or after this is in `seen` (-inf: every job)
    at: float  # when it was read (its first page)
    known: frozenset[str] = frozenset()  # of the seen ids, those the state already has


@dataclass(frozen=True)
class Found:
    remote_id: str
    reason: str


@dataclass(frozen=True)
class NotCreated:
    reason: str


@dataclass(frozen=True)
class CannotTell:
    reason: str
    retry_at: float | None = None  # look again from then; None: only a person can settle it


@dataclass(frozen=True)
class Replay:
    reason: str


Verdict = Found | NotCreated | CannotTell


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + "Z"


def no_lookup(title: str) -> CannotTell:
    return CannotTell(f"{title} offers no way to look up a submit")


# --- AI/ML API: the request id --------------------------------------------------------------


def by_request_id(lost: Lost, looked: Looked, *, settings: Settings) -> Verdict:
    """Its verdict from the log rows: the one carrying its request id, or none in time."""
    rid = lost.request_id
    if rid is None:
        return CannotTell("its submit carried no request id to look up")
    ids = sorted({s.remote_id for s in looked.seen if s.request_id == rid})
    if len(ids) > 1:
        return CannotTell(f"{len(ids)} jobs carry its request id {rid}: {', '.join(ids)}")
    if ids:
        if ids[0] in looked.known:
            return CannotTell(f"the job carrying its request id, {ids[0]}, is another job's")
        return Found(ids[0], f"listed with its request id {rid}")
    start, end = lost.window(settings)
    if start < looked.since:
        return CannotTell(f"the list reaches back to {clock(looked.since)} only")
    settled = end + settings.settle_window
    if looked.at < settled:
        return CannotTell(
            f"no job carries its request id yet; one would be listed by {clock(settled)}",
            retry_at=settled,
        )
    return NotCreated(f"no job carries its request id {rid}, {settings.settle_window:g}s on")


# --- APIFrame: the replay -------------------------------------------------------------------


def by_replay(lost: Lost, *, now: float, settings: Settings) -> Replay | CannotTell:
    """Whether resending with the same Idempotency-Key returns the job already made."""
    if now - lost.claimed_at < settings.replay_window:
        return Replay("its Idempotency-Key returns the job it made (or makes it now, once)")
    return CannotTell(
        "it was sent more than a day ago, and APIFrame keeps an Idempotency-Key 24 h: "
        "a resend would make a second job"
    )


# --- Vydra: the time ------------------------------------------------------------------------


def by_time(claims: Sequence[Lost], looked: Looked, *, settings: Settings) -> dict[str, Verdict]:
    """Verdicts for our lost submits (`ours`), weighing every submit in doubt at the provider.

    A job unknown to the state, created while submits were on the wire, was made by one of
    them. Claims and listed jobs form groups (linked by "created within its window"); a
    group is decided only when every way of giving its jobs to its submits agrees, up to
    swapping identical requests. Any claim that is not ours to decide, or not ready (its
    window still open), leaves its group undecided. Everything is judged as of the time
    the list was read (`looked.at`).
    """
    fresh = list({s.remote_id: s for s in looked.seen if s.remote_id not in looked.known}.values())
    windows = {c.key: c.window(settings) for c in claims}
    verdicts: dict[str, Verdict] = {}
    ready: set[str] = set()
    for c in claims:
        if not c.ours:
            continue
        start, end = windows[c.key]
        if start < looked.since:
            verdicts[c.key] = CannotTell(f"the list reaches back to {clock(looked.since)} only")
        elif looked.at < end:
            verdicts[c.key] = CannotTell(
                f"its submit could still make a job until {clock(end)}", retry_at=end
            )
        else:
            ready.add(c.key)

    def holds(c: Lost, s: Seen) -> bool:
        start, end = windows[c.key]
        return s.created_at is None or start <= s.created_at <= end

    for group, seen in _groups(claims, fresh, holds):
        mine = [c for c in group if c.key in ready]
        if not mine:
            continue
        if not seen:  # a group without listed jobs is one claim that made nothing
            start, end = windows[mine[0].key]
            verdicts[mine[0].key] = NotCreated(
                f"no job unknown to grokbatch was made between {clock(start)} and {clock(end)}"
            )
            continue
        verdicts |= _share(group, seen, ready, holds, read_at=looked.at, windows=windows)
    return verdicts


def _groups(
    claims: Sequence[Lost], seen: Sequence[Seen], holds: Holds
) -> Iterator[tuple[list[Lost], list[Seen]]]:
    """Claims and listed jobs, in connected groups."""
    left = list(claims)
    while left:
        group, found = [left.pop(0)], []
        grew = True
        while grew:
            grew = False
            for s in seen:
                if s not in found and any(holds(c, s) for c in group):
                    found.append(s)
                    grew = True
            for c in list(left):
                if any(holds(c, s) for s in found):
                    group.append(c)
                    left.remove(c)
                    grew = True
        yield group, found


MAX_GROUP = 6  # lost submits told apart at once; beyond, the ways to match them explode


def _share(
    group: list[Lost],
    seen: list[Seen],
    ready: set[str],
    holds: Holds,
    *,
    read_at: float,
    windows: dict[str, tuple[float, float]],
) -> dict[str, Verdict]:
    mine = [c for c in group if c.key in ready]
    blockers = [c for c in group if c.key not in ready]
    if blockers:
        # Ours whose window was still open when the list was read settle by waiting (even
        # if it closed since: it is read again then); any other submit in doubt (another
        # manifest's, another run's) is settled there, or by a person.
        ends = [windows[c.key][1] for c in blockers]
        waits = all(c.ours for c in blockers) and min(ends) > read_at
        other = next((c for c in blockers if not c.ours), blockers[0])
        why = f"a job made then may be the one {other.label or other.key[:12]} made"
        return dict.fromkeys((c.key for c in mine), CannotTell(why, max(ends) if waits else None))
    if any(s.created_at is None for s in seen):
        why = "a job listed then does not say when it was made"
        return dict.fromkeys((c.key for c in mine), CannotTell(why))
    if len(seen) > len(group):
        why = (
            f"{len(seen)} jobs unknown to grokbatch were made while {len(group)} lost "
            "submit(s) were on the wire: not all are grokbatch's"
        )
        return dict.fromkeys((c.key for c in mine), CannotTell(why))
    if len(group) > MAX_GROUP:
        why = f"{len(group)} submits were lost at once: too many to tell apart"
        return dict.fromkeys((c.key for c in mine), CannotTell(why))
    order = sorted(group, key=lambda c: (c.claimed_at, c.key))
    listed = sorted(seen, key=lambda s: (s.created_at or -math.inf, s.remote_id))
    ways = list(_matchings(order, listed, holds))
    if not ways:
        why = "the jobs made then cannot all come from its submits"
        return dict.fromkeys((c.key for c in mine), CannotTell(why))
    bodies = {c.key: c.body for c in group}
    shapes = {tuple(sorted((s, bodies[k]) for k, s in way.items())) for way in ways}
    if len(shapes) > 1:
        why = f"{len(seen)} job(s) made then could be any of {len(group)} different requests"
        return dict.fromkeys((c.key for c in mine), CannotTell(why))
    chosen = ways[0]
    twins = len({c.body for c in group}) == 1 and len(group) > 1
    out: dict[str, Verdict] = {}
    for c in mine:
        rid = chosen.get(c.key)
        if rid is not None:
            how = "one of the identical takes made" if twins else "the only job it can have made"
            out[c.key] = Found(rid, f"{how}: created while its submit was on the wire")
        else:
            out[c.key] = NotCreated(
                f"the {len(seen)} job(s) made then were its identical takes'; it made none"
            )
    return out


def _matchings(claims: list[Lost], seen: list[Seen], holds: Holds) -> Iterator[dict[str, str]]:
    """Every way to give each listed job to a different claim whose window holds it."""

    def walk(i: int, taken: dict[str, str]) -> Iterator[dict[str, str]]:
        if i == len(seen):
            yield dict(taken)
            return
        for c in claims:
            if c.key not in taken and holds(c, seen[i]):
                taken[c.key] = seen[i].remote_id
                yield from walk(i + 1, taken)
                del taken[c.key]

    yield from walk(0, {})


# --- what a person can do ---------------------------------------------------------------------


@dataclass(frozen=True)
class Remedy:
    """What applies to an ambiguous job, for `status` and the run's messages."""

    automatic: bool  # grokbatch settles it itself (now, or when it looks again)
    text: str
    commands: tuple[str, ...] = field(default=())


def remedy(
    method: Method,
    verdict: CannotTell | None,
    *,
    title: str,
    manifest: str,
    key: str,
    sent: float | None = None,
) -> Remedy:
    """Which way out applies: grokbatch looks (again), or a person settles it. `sent`: when
    the submit left (epoch seconds), to find its job by."""
    if method is not Method.NONE and (verdict is None or verdict.retry_at is not None):
        when = "" if verdict is None else f" from {clock(verdict.retry_at or 0)}"
        return Remedy(
            True,
            f"grokbatch looks it up at {title}{when}: the next `grokbatch run` (or "
            f"`grokbatch reconcile {manifest}`) attaches the job it made, or submits it again "
            "if it made none",
        )
    prefix = key[:12]
    when = "when it was sent" if sent is None else f"at about {clock(sent)} (UTC)"
    return Remedy(
        False,
        f"check {title}'s dashboard for a job made {when}, then settle it by hand",
        (
            f"grokbatch attach {manifest} --job {prefix} --remote-id ID",
            f"grokbatch not-created {manifest} --job {prefix}",
        ),
    )
