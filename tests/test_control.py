"""The one owner of time and slots: request turns, cool-downs, job slots and stopping.

Request spacing runs on a fake clock: no wall-clock timing.
"""

from __future__ import annotations

import anyio
import pytest

from grokbatch.control import Control, RateLimiter, Stop, Ticket, Turn
from grokbatch.errors import AuthenticationError, BudgetExceededError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def granted(tickets: list[Ticket]) -> list[int]:
    return [i for i, t in enumerate(tickets) if t.granted]


def test_requests_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60.0, clock=clock)  # one a second
    tickets = [limiter.request(Turn.SUBMIT) for _ in range(4)]
    waits = []
    for _ in range(4):
        waits.append(limiter.serve())
        clock.now += 1.0
    assert waits == [1.0, 1.0, 1.0, 1.0] and granted(tickets) == [0, 1, 2, 3]
    assert limiter.serve() == 0.0  # nothing waits, and the next turn is free
    clock.now += 10  # idle: the next request goes at once
    late = limiter.request(Turn.POLL)
    assert limiter.serve() == 1.0 and late.granted


def test_a_free_turn_goes_to_a_submit_before_the_polls_that_waited_longer() -> None:
    """Submits first: a run's pace is its submits', whatever its polls want."""
    clock = FakeClock()
    limiter = RateLimiter(60.0, clock=clock)
    first = limiter.request(Turn.POLL)
    limiter.serve()
    assert first.granted  # the provider was idle: at once
    polls = [limiter.request(Turn.POLL) for _ in range(3)]
    assert limiter.serve() == 1.0 and not any(t.granted for t in polls)
    clock.now += 0.5
    submit = limiter.request(Turn.SUBMIT)  # arrives while three polls wait
    listing = limiter.request(Turn.LIST)
    order = []
    for _ in range(5):
        clock.now += 1.0
        limiter.serve()
        order.append(next(t for t in (submit, listing, *polls) if t.granted and t not in order))
    assert order == [submit, listing, *polls]  # then lists, then polls, first come first
    withdrawn = limiter.request(Turn.SUBMIT)
    limiter.withdraw(withdrawn)  # gave up (stopped): never granted
    later = limiter.request(Turn.POLL)
    clock.now += 1.0
    limiter.serve()
    assert later.granted and not withdrawn.granted


def test_no_limit_never_waits() -> None:
    limiter = RateLimiter(None, clock=FakeClock())
    assert limiter.idle()
    tickets = [limiter.request(Turn.POLL) for _ in range(10)]
    assert limiter.serve() == 0.0 and all(t.granted for t in tickets)


def test_a_cool_down_holds_every_request_of_the_provider_only() -> None:
    clock = FakeClock()
    control = Control(concurrency=2, requests_per_minute={"vydra": 60}, clock=clock)
    control.cool_down("vydra", 5.0)
    vydra = control.limiter("vydra")
    ticket = vydra.request(Turn.SUBMIT)
    assert vydra.serve() == 5.0 and not ticket.granted
    assert control.limiter("apiframe").idle()  # another provider is not held
    control.cool_down("vydra", None)  # no Retry-After: nothing changes
    clock.now += 5.0
    assert vydra.serve() == 1.0 and ticket.granted  # the rate spacing follows the cool-down


@pytest.mark.anyio
async def test_turns_are_taken_in_priority_order_in_real_time() -> None:
    control = Control(concurrency=4, requests_per_minute={"xai": 6000})  # 10 ms apart
    order: list[str] = []

    async def ask(name: str, kind: Turn) -> None:
        assert await control.turn("xai", kind)
        order.append(name)

    assert await control.turn("xai", Turn.POLL)  # the turn now taken: the rest must queue
    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "poll-1", Turn.POLL)
        tg.start_soon(ask, "poll-2", Turn.POLL)
        await anyio.sleep(0)
        tg.start_soon(ask, "submit", Turn.SUBMIT)
    assert order == ["submit", "poll-1", "poll-2"]


@pytest.mark.anyio
async def test_a_stop_releases_requests_waiting_for_their_turn() -> None:
    control = Control(concurrency=2, requests_per_minute={"xai": 1})  # a minute apart
    assert await control.turn("xai")
    results: list[bool] = []

    async def wait_turn() -> None:
        results.append(await control.turn("xai", Turn.POLL))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_turn)
            await anyio.sleep(0.01)
            control.stop()
    assert results == [False]
    assert not control.limiter("xai")._queue  # withdrawn


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
async def test_a_slot_freed_early_is_given_back_once() -> None:
    control = Control(concurrency=1, provider_concurrency={"vydra": 1})
    first = await control.admit("vydra")
    async with first:
        first.free()  # the provider's job finished: the download holds no place
        second = await control.admit("vydra")  # would wait for ever if nothing came back
        async with second:
            first.free()  # again: nothing more is given back
            with anyio.move_on_after(0.05) as waited:
                await control.admit("vydra")
            assert waited.cancel_called, "a slot was given back twice"
    # leaving `first` after its free gives nothing back either: exactly one place is free
    third = await control.admit("vydra")
    with anyio.move_on_after(0.05) as waited:
        await control.admit("vydra")
    assert waited.cancel_called
    async with third:
        pass


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
