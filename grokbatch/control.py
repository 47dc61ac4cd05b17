"""The one owner of a run's time and slots: concurrency, request pacing, and stopping.

Nothing else in grokbatch holds a semaphore, sleeps on a provider's rate limit or sets a
stop flag. The runner asks for a job slot before it starts a job; the lifecycle asks for a
request turn before each request and whether it may still submit; signal handlers call
`stop()` and nothing else (after procrastinate's `Worker.stop`).

A provider's submits, lists and polls share one request budget (`RateLimiter`): its free
turn goes to a submit before a list or a poll, so polling never sets a run's pace.

Stopping has two strengths. `stop()` once: no new submissions and no new polls; a submit
already on the wire is awaited so that its answer is recorded. `stop()` twice: the run's
cancel scope is cancelled at once; every state change is its own transaction, so the state
stays consistent. A budget stop, an empty account, a refused key or too many failed jobs
close submissions (everywhere, or at one provider) but let what is in flight finish.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import anyio

from .errors import GrokbatchError

Clock = Callable[[], float]


class Stop(enum.Enum):
    """Why submissions stopped."""

    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    BUDGET = "budget"  # the next job would pass the budget
    CREDITS = "credits"  # a provider's account is empty
    AUTH = "auth"  # a provider refused the key (that provider only)
    FAILURES = "failures"  # --max-failures: too many jobs of this run failed


class Turn(enum.IntEnum):
    """What a request is for. A provider's free request turn goes to the lowest value
    waiting: submits first, so that a run's pace is set by its submits, not its polls."""

    SUBMIT = 0
    LIST = 1  # one list request answers for many running jobs
    POLL = 2


class Ticket:
    """One request waiting for its provider's turn."""

    __slots__ = ("event", "granted", "kind")

    def __init__(self, kind: Turn) -> None:
        self.kind = kind
        self.granted = False
        self.event = anyio.Event()


class RateLimiter:
    """One provider's request budget, shared by its submits, lists and polls.

    Requests are spaced evenly at `per_minute` and held through cool-downs. A turn is given
    when it comes free, to the most urgent request waiting then (by `Turn`, first come
    first served within one kind), never claimed ahead: a submit that arrives while polls
    wait goes before them.
    """

    def __init__(self, per_minute: float | None, *, clock: Clock = time.monotonic) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._clock = clock
        self._next = 0.0  # the earliest time the next request may go
        self._cool_until = 0.0
        self._queue: list[tuple[int, int, Ticket]] = []
        self._seq = itertools.count()

    def cool_down(self, seconds: float) -> None:
        """No request before `seconds` from now (a 429's Retry-After): the limit is the
        account's, so one job's 429 slows every job of the provider."""
        self._cool_until = max(self._cool_until, self._clock() + max(0.0, seconds))

    def free_at(self) -> float:
        return max(self._next, self._cool_until)

    def request(self, kind: Turn) -> Ticket:
        """Join the queue for a turn; `serve` grants it."""
        ticket = Ticket(kind)
        heapq.heappush(self._queue, (int(kind), next(self._seq), ticket))
        return ticket

    def withdraw(self, ticket: Ticket) -> None:
        """A waiting request gave up (the run stopped, or its task was cancelled)."""
        self._queue = [entry for entry in self._queue if entry[2] is not ticket]
        heapq.heapify(self._queue)

    def serve(self) -> float:
        """Grant the free turn, if there is one now, to the most urgent request waiting;
        returns the seconds until the next turn comes free (0: free now)."""
        now = self._clock()
        while self._queue and now >= self.free_at():
            _, _, ticket = heapq.heappop(self._queue)
            ticket.granted = True
            ticket.event.set()
            self._next = now + self.interval
        return max(0.0, self.free_at() - now)

    def idle(self) -> bool:
        """Nothing waits and a request may go at once: the caller needs no ticket."""
        return not self._queue and self.interval == 0 and self._clock() >= self._cool_until

    def wake_all(self) -> None:
        """Wake every waiting request, to see that the run is stopping."""
        for _, _, ticket in self._queue:
            ticket.event.set()


class JobSlot:
    """A job's place in the run: one of `concurrency`, and one of its provider's. It is
    given back when the provider's job has finished (`free`), or when the job's walk ends."""

    def __init__(self, control: Control, provider: str) -> None:
        self._control = control
        self._provider = provider
        self._held = False

    async def __aenter__(self) -> JobSlot:
        sem = self._control._provider_slots.get(self._provider)
        if sem is not None:
            try:
                await sem.acquire()
            except BaseException:
                self._control._slots.release()
                raise
        self._held = True
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.free()

    def free(self) -> None:
        """Give both places back now (once): the download that follows a finished job
        holds no place at the provider, so the next job can be submitted meanwhile."""
        if not self._held:
            return
        self._held = False
        sem = self._control._provider_slots.get(self._provider)
        if sem is not None:
            sem.release()
        self._control._slots.release()


class Control:
    """Concurrency, request pacing and stop state for one run."""

    def __init__(
        self,
        *,
        concurrency: int,
        provider_concurrency: Mapping[str, int] | None = None,
        requests_per_minute: Mapping[str, float] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._slots = anyio.Semaphore(concurrency)
        self._provider_slots = {
            name: anyio.Semaphore(n) for name, n in (provider_concurrency or {}).items()
        }
        self._per_minute = dict(requests_per_minute or {})
        self._clock = clock
        self._limiters: dict[str, RateLimiter] = {}
        self._stopping = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._closed: dict[Stop, GrokbatchError | None] = {}
        self._refused: dict[str, GrokbatchError] = {}
        self._on_stop: list[Callable[[], None]] = []

    # --- slots and turns ------------------------------------------------------------------
    async def admit(self, provider: str) -> JobSlot:
        """Wait for a free job slot; enter the returned slot (in the job's task) to also
        take one of the provider's, and leave it to give both back."""
        await self._slots.acquire()
        return JobSlot(self, provider)

    async def turn(self, provider: str, kind: Turn = Turn.SUBMIT) -> bool:
        """Wait for the provider's next request turn; False if the run stopped meanwhile.

        Submits, lists and polls to one provider share its budget; the free turn goes to
        the most urgent kind waiting (`Turn`).
        """
        if self._stopping.is_set():
            return False
        limiter = self.limiter(provider)
        if limiter.idle():
            return True
        ticket = limiter.request(kind)
        try:
            while not ticket.granted:
                wait = limiter.serve()
                if ticket.granted or self._stopping.is_set():
                    break
                # Everyone waiting wakes when the turn comes free; the first awake grants
                # it to the most urgent, and the others sleep on until the next one.
                with anyio.move_on_after(wait):
                    await ticket.event.wait()
        finally:
            if not ticket.granted:
                limiter.withdraw(ticket)
        return ticket.granted and not self._stopping.is_set()

    def limiter(self, provider: str) -> RateLimiter:
        limiter = self._limiters.get(provider)
        if limiter is None:
            limiter = self._limiters[provider] = RateLimiter(
                self._per_minute.get(provider), clock=self._clock
            )
        return limiter

    def cool_down(self, provider: str, seconds: float | None) -> None:
        if seconds:
            self.limiter(provider).cool_down(seconds)

    async def pause(self, seconds: float) -> bool:
        """Sleep, or return early (True) when the run is stopping."""
        with anyio.move_on_after(seconds):
            await self._stopping.wait()
        return self._stopping.is_set()

    # --- stopping -------------------------------------------------------------------------
    def bind(self, scope: anyio.CancelScope) -> None:
        """The scope a second stop() cancels: the run's task group."""
        self._scope = scope

    def stop(self) -> bool:
        """Stop the run: gently the first time, at once the second. True if it was the second."""
        if self._stopping.is_set():
            if self._scope is not None:
                self._scope.cancel()
            return True
        self._closed.setdefault(Stop.INTERRUPTED, None)
        self._stopping.set()
        for limiter in self._limiters.values():
            limiter.wake_all()
        for hook in self._on_stop:
            hook()
        return False

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Call `hook` at the first stop (the poll scheduler wakes the jobs it holds)."""
        self._on_stop.append(hook)

    def close(self, reason: Stop, error: GrokbatchError | None = None) -> bool:
        """No more submissions anywhere; True the first time for this reason."""
        first = reason not in self._closed
        self._closed.setdefault(reason, error)
        return first

    def refuse(self, provider: str, error: GrokbatchError) -> bool:
        """No more submissions to this provider (its key was refused); True the first time."""
        first = provider not in self._refused
        self._refused.setdefault(provider, error)
        return first

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def may_submit(self, provider: str) -> bool:
        return not self._closed and provider not in self._refused

    def stopped(self, reason: Stop) -> bool:
        return reason in self._closed

    @property
    def refused(self) -> Mapping[str, GrokbatchError]:
        return dict(self._refused)
