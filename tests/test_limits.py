"""Request spacing and cooldowns, on a fake clock (no wall-clock timing)."""

from __future__ import annotations

import random

import pytest

from grokbatch.limits import ProviderLimits, RateLimiter
from grokbatch.retry import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.anyio
async def test_requests_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60.0, clock=clock, sleep=clock.sleep)  # one a second
    for _ in range(4):
        await limiter.wait()
    assert clock.slept == [1.0, 1.0, 1.0]


@pytest.mark.anyio
async def test_no_limit_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await limiter.wait()
    assert clock.slept == []


@pytest.mark.anyio
async def test_cooldown_holds_every_request_of_the_provider() -> None:
    clock = FakeClock()
    limits = ProviderLimits({}, clock=clock, sleep=clock.sleep)
    limits["vydra"].cool_down(5.0)
    await limits["vydra"].wait()
    await limits["apiframe"].wait()
    assert clock.slept == [5.0]  # apiframe was not held


def test_backoff_is_bounded_jittered_and_honours_retry_after() -> None:
    backoff = Backoff(base=0.5, factor=2.0, cap=8.0, rng=random.Random(1))
    delays = [backoff.delay(n) for n in range(10) for _ in range(50)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not lockstep
    assert all(backoff.delay(0, retry_after=3.0) >= 3.0 for _ in range(20))
    assert max(backoff.delay(0) for _ in range(200)) <= 0.5
