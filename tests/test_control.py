"""The one owner of time and slots: request turns, cool-downs, job slots and stopping.

Request spacing runs on a fake clock: no wall-clock timing.
"""

from __future__ import annotations

import anyio
import pytest

from grokbatch.control import Control, RateLimiter, Stop
from grokbatch.errors import AuthenticationError, BudgetExceededError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60.0, clock=clock)  # one a second
    # Four callers at once queue one second apart: each turn is taken before sleeping.
    assert [limiter.take() for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    clock.now += 10  # idle: the next request goes at once
    assert limiter.take() == 0.0


def test_no_limit_never_waits() -> None:
    limiter = RateLimiter(None, clock=FakeClock())
    assert [limiter.take() for _ in range(10)] == [0.0] * 10


def test_a_cool_down_holds_every_request_of_the_provider_only() -> None:
    clock = FakeClock()
    control = Control(concurrency=2, requests_per_minute={"vydra": 60}, clock=clock)
    control.cool_down("vydra", 5.0)
    assert control.limiter("vydra").take() == 5.0
    assert control.limiter("apiframe").take() == 0.0  # another provider is not held
    control.cool_down("vydra", None)  # no Retry-After: nothing changes
    assert control.limiter("vydra").take() == 6.0  # the rate spacing follows the cool-down


@pytest.mark.anyio
async def test_job_slots_cap_jobs_in_flight_overall_and_per_provider() -> None:
    control = Control(concurrency=3, provider_concurrency={"vydra": 1})
    inside: dict[str, int] = {"all": 0, "vydra": 0}
    most: dict[str, int] = {"all": 0, "vydra": 0}

    async def job(provider: str, slot: object) -> None:
        async with slot:  # type: ignore[attr-defined]
            inside["all"] += 1
            inside[provider] = inside.get(provider, 0) + 1
            for k in most:
                most[k] = max(most[k], inside.get(k, 0))
            await anyio.sleep(0.01)
            inside["all"] -= 1
            inside[provider] -= 1

    async with anyio.create_task_group() as tg:
        for i in range(12):
            provider = "vydra" if i % 2 else "apiframe"
            tg.start_soon(job, provider, await control.admit(provider))
    assert most == {"all": 3, "vydra": 1}


@pytest.mark.anyio
async def test_the_first_stop_is_gentle_and_the_second_cancels() -> None:
    control = Control(concurrency=1)
    cancelled = False
    async with anyio.create_task_group() as tg:
        control.bind(tg.cancel_scope)

        async def long_job() -> None:
            nonlocal cancelled
            try:
                await anyio.sleep(30)
            except anyio.get_cancelled_exc_class():
                cancelled = True
                raise

        tg.start_soon(long_job)
        await anyio.sleep(0)
        assert control.stop() is False  # gentle: nothing cancelled, no new work
        assert control.stopping and not control.may_submit("x")
        assert await control.pause(30) is True  # sleeps end at once
        assert await control.turn("x") is False  # no more requests
        assert control.stopped(Stop.INTERRUPTED)
        assert control.stop() is True  # the second cancels the run's scope
    assert cancelled


def test_closing_submissions_for_budget_credits_or_a_refused_key() -> None:
    control = Control(concurrency=1)
    assert control.may_submit("xai")
    assert control.refuse("xai", AuthenticationError("bad key")) is True
    assert control.refuse("xai", AuthenticationError("again")) is False  # told once
    assert not control.may_submit("xai") and control.may_submit("vydra")
    assert list(control.refused) == ["xai"]
    assert control.close(Stop.BUDGET, BudgetExceededError("over")) is True
    assert control.close(Stop.BUDGET) is False
    assert not control.may_submit("vydra") and control.stopped(Stop.BUDGET)
    assert not control.stopping  # closing submissions is not a stop: in-flight jobs go on
