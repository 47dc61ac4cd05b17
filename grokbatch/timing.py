"""When to check a running job next: pure decisions from what was seen, tested from tables.

A status check costs a request from the provider's budget (at xAI, a second's worth), and a
check made too late holds a finished job's slot. So:

* The first check comes near the low end of the completion times seen for this provider
  and kind of job (type, duration, resolution, model). Before anything is seen: a prior per
  provider (`PRIORS`, with its source).
* After it, a provider's `progress` predicts the finish: a job at 40 % after 20 s is done
  near 50 s (two readings give a rate, which also covers a job that waited in a queue).
* Without progress, the checks are spaced so that the expected delay stays a small share
  of the elapsed time: the next at elapsed × (1 + ε).
* Every gap is kept within [min_gap, max_gap].

Each finished job teaches a completion time (`completion_time`), kept per provider and kind
(`Learned`) and saved in the state, so the next run starts informed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .jobs import Job

KEEP = 50  # completion times kept per provider and kind: recent enough to follow a change
ENOUGH = 3  # samples before learned times replace the prior
MARGIN = 0.01  # checks aimed this share after a predicted finish: progress figures round down
MIN_PROGRESS = 1.0  # below this a reading predicts nothing (queued jobs often report 0)
MIN_RISE = 5.0  # progress points between two readings before they give a rate
LOW = 0.05  # the first check at this quantile of the completion times seen
# A job found finished at its first check ended some time before: taken as this share of
# that time. Lower moves the next runs' first checks earlier faster when they come too
# late; higher keeps the fastest few jobs from dragging every first check early.
FOUND_DONE = 0.75


@dataclass(frozen=True)
class Prior:
    """Completion times expected before any is seen (seconds after the submit)."""

    low: float
    high: float
    source: str
    # Without progress, the next check at elapsed × (1 + epsilon); None: the setting's.
    epsilon: float | None = None


# Grok Imagine clips take 60 ± 30 s (issue 12, measured at the providers that report it);
# AI/ML API's own example polls every 15 s and says a clip takes about 1 min 47 s
# (providers.md). An early first check costs one request; with progress it also times
# every later one, so the priors lean early.
_GROK = Prior(30.0, 90.0, "Grok Imagine clips take 60 ± 30 s (issue 12)")
PRIORS: Mapping[str, Prior] = {
    "xai": _GROK,
    "aivideoapi": _GROK,
    "apiframe": _GROK,
    "vydra": _GROK,
    "pixeldojo": _GROK,
    "aimlapi": Prior(60.0, 180.0, "AI/ML API: about 1 min 47 s a clip, polled every 15 s"),
}
DEFAULT_PRIOR = _GROK
# At a base URL of the user's own (an emulator, a mock server, a proxy) the provider's
# timing says nothing: check early, and learn.
# Until the first job there finishes, each wait doubles: 0.25, 0.5, 1, 2 ... s.
ELSEWHERE = Prior(0.25, 60.0, "a base URL of your own: nothing is known until seen", 1.0)


@dataclass(frozen=True)
class Origin:
    """Whose completion times a provider's jobs share: its label in the learned times
    ("xai", or "xai at http://127.0.0.1:8400/xai" for another base URL), and its prior."""

    label: str
    prior: Prior


def origin(provider: str, base_url: str | None = None, default_url: str | None = None) -> Origin:
    """The provider's own figures at its default base URL; a separate, unknown place at
    any other, so that an emulator's times never time the real provider's checks."""
    if base_url is None or base_url.rstrip("/") == (default_url or "").rstrip("/"):
        return Origin(provider, PRIORS.get(provider, DEFAULT_PRIOR))
    return Origin(f"{provider} at {base_url.rstrip('/')}", ELSEWHERE)


@dataclass(frozen=True)
class PollSettings:
    first: float | None = None  # the latest first check, whatever was learned (tests, sandbox)
    min_gap: float = 0.02  # the shortest wait between two checks of one job
    max_gap: float = 60.0  # the longest: a job far slower than expected is still seen
    epsilon: float = 0.1  # without progress: the next check at elapsed × (1 + epsilon)
    job_timeout: float = 3600.0  # a job still running after this is left for a rerun
    retries: int = 5


@dataclass(frozen=True)
class Estimate:
    """Where a kind of job's completion times lie, and what the figures rest on."""

    low: float
    high: float
    basis: str  # "learned" (this kind) | "provider" (other kinds, same provider) | "prior"
    epsilon: float | None = None  # the prior's own, when it has one


@dataclass(frozen=True)
class Reading:
    """One check of a running job: seconds since its submit, and its progress if told."""

    elapsed: float
    progress: float | None = None


def kind_of(job: Job) -> str:
    """The kind of job whose completion times are comparable, e.g. "video 6s 720p"."""
    params = job.params
    parts = [job.type]
    if params.get("duration") is not None:
        parts.append(f"{params['duration']}s")
    if params.get("resolution") is not None:
        parts.append(str(params["resolution"]))
    if job.model:
        parts.append(job.model)
    return " ".join(parts)


class Learned:
    """Completion times seen, per (origin label, kind), newest last, at most KEEP of each."""

    def __init__(self, seen: Mapping[tuple[str, str], Sequence[float]] | None = None) -> None:
        self._times: dict[tuple[str, str], deque[float]] = {
            pair: deque(values, maxlen=KEEP) for pair, values in (seen or {}).items()
        }
        self._changed: set[tuple[str, str]] = set()

    def add(self, label: str, kind: str, seconds: float) -> None:
        pair = (label, kind)
        self._times.setdefault(pair, deque(maxlen=KEEP)).append(max(0.0, seconds))
        self._changed.add(pair)

    def changed(self) -> dict[tuple[str, str], list[float]]:
        """The pairs that learned something since they were loaded, to save."""
        return {pair: list(self._times[pair]) for pair in sorted(self._changed)}

    def estimate(self, where: Origin, kind: str) -> Estimate:
        """The low and high end of what was seen for this kind, else for the provider, else
        the provider's prior."""
        own = list(self._times.get((where.label, kind), ()))
        if len(own) >= ENOUGH:
            return _spread(own, "learned")
        pooled = [s for (p, _), times in self._times.items() if p == where.label for s in times]
        if len(pooled) >= ENOUGH:
            return _spread(pooled, "provider")
        seen = own or pooled
        if seen and where.prior.epsilon is not None:
            # Where nothing was known, the first sighting beats the guess: it sets the
            # scale at once (its high end stays wide: one job says little of the slowest).
            return Estimate(min(seen), max(where.prior.high, *seen), "provider")
        return Estimate(where.prior.low, where.prior.high, "prior", where.prior.epsilon)


def _spread(samples: Iterable[float], basis: str) -> Estimate:
    ordered = sorted(samples)
    return Estimate(_quantile(ordered, LOW), _quantile(ordered, 0.9), basis)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def first_check(estimate: Estimate, settings: PollSettings) -> float:
    """Seconds after the submit to check a job for the first time."""
    at = estimate.low
    if settings.first is not None:
        at = min(at, settings.first)
    return max(0.0, at)


def predict_finish(readings: Sequence[Reading], *, exact: bool = True) -> float | None:
    """When the job should finish (seconds after its submit) by its progress; None when no
    reading tells.

    Two readings give a rate, whatever the time base. One reading alone gives the earliest
    finish its rounded figure allows, read against the elapsed time, which is trusted only
    when `exact`: a job submitted by this run is timed
    from its submit's answer, so it is no older than that says and the prediction errs
    early; a job re-attached is timed from when its submit was recorded, before it was sent,
    and would err late."""
    usable = [r for r in readings if r.progress is not None and MIN_PROGRESS <= r.progress < 100.0]
    if not usable:
        return None
    last = usable[-1]
    assert last.progress is not None
    for earlier in reversed(usable[:-1]):
        assert earlier.progress is not None
        rise = last.progress - earlier.progress
        if rise >= MIN_RISE and last.elapsed > earlier.elapsed:
            rate = rise / (last.elapsed - earlier.elapsed)
            return last.elapsed + (100.0 - last.progress) / rate
    if len(usable) > 1:
        earlier = usable[-2]
        assert earlier.progress is not None
        # Stalled (at 99 % while the file is written, say): far less rise than a steady
        # pace since the submit would give. The figure predicts nothing.
        steady = earlier.progress * (last.elapsed - earlier.elapsed) / max(earlier.elapsed, 1e-9)
        if last.progress - earlier.progress < steady / 2:
            return None
    # Providers round their figure (down, as far as anyone shows): 1 % may be 1.99 %. The
    # earliest finish it allows errs early, so a check aimed at it is never late.
    return last.elapsed * 100.0 / (last.progress + 1.0) if exact else None


def next_check(
    elapsed: float,
    estimate: Estimate,
    readings: Sequence[Reading],
    settings: PollSettings,
    *,
    exact: bool = True,
) -> float:
    """Seconds from now to the next check of a job still running after `elapsed` seconds
    (`exact`: see `predict_finish`)."""
    finish = predict_finish(readings, exact=exact)
    if finish is not None:
        gap = finish * (1.0 + MARGIN) - elapsed  # at 99 %: due about now
    elif elapsed < estimate.low:
        gap = estimate.low - elapsed  # checked early (settings.first): wait for the low end
    else:
        epsilon = estimate.epsilon if estimate.epsilon is not None else settings.epsilon
        gap = elapsed * epsilon
    return min(max(gap, settings.min_gap), settings.max_gap)


def completion_time(
    last_running: float | None, finished_by: float, readings: Sequence[Reading]
) -> float:
    """What a job seen finished teaches: it finished after `last_running` (the last check
    that found it running; None: the first check found it finished) and by `finished_by`.
    Its progress placed it, if it fits that window; else the window's middle."""
    if last_running is None:
        return finished_by * FOUND_DONE
    finish = predict_finish(readings)
    if finish is not None and last_running <= finish <= finished_by:
        return finish
    return (last_running + finished_by) / 2.0
