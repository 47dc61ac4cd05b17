"""How fast grokbatch talks to each provider: requests per minute and cooldowns after 429.

Concurrency (jobs in flight) is bounded by anyio semaphores in the runner; this module
spaces requests. A 429 with Retry-After cools the whole provider down, not just the job
that got it: the provider's limit is per account.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import anyio

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Spaces requests evenly at `per_minute`, and waits out any cooldown."""

    def __init__(
        self,
        per_minute: float | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0  # the earliest time the next request may go
        self._cool_until = 0.0

    def cool_down(self, seconds: float) -> None:
        """No request before `seconds` from now (a 429's Retry-After)."""
        self._cool_until = max(self._cool_until, self._clock() + max(0.0, seconds))

    async def wait(self) -> None:
        """Return when the next request may be sent; reserves that slot."""
        now = self._clock()
        slot = max(now, self._next, self._cool_until)
        # Claim the slot before sleeping so concurrent callers queue behind each other.
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class ProviderLimits:
    """One RateLimiter per provider."""

    def __init__(
        self,
        per_minute: Mapping[str, float],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._per_minute = dict(per_minute)
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, RateLimiter] = {}

    def __getitem__(self, provider: str) -> RateLimiter:
        limiter = self._limiters.get(provider)
        if limiter is None:
            limiter = self._limiters[provider] = RateLimiter(
                self._per_minute.get(provider), clock=self._clock, sleep=self._sleep
            )
        return limiter
