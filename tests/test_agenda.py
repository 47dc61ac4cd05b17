"""The scheduler's decisions on a fake clock: which job is checked when, polled or listed.

The Agenda takes the time as an argument, so every test here is instant and exact. The
simulations at the end run whole batches through it against a fake provider whose jobs
finish at known times, and count what the scheduler would have sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from grokbatch.agenda import Agenda, Watch
from grokbatch.jobs import Job
from grokbatch.providers.wire import Polled, RemoteState
from grokbatch.timing import MARGIN, Learned, Origin, PollSettings, origin

SETTINGS = PollSettings(min_gap=1.0, max_gap=60.0, epsilon=0.1)


def job(i: int = 0, provider: str = "aivideoapi", duration: int = 6) -> Job:
    return Job(
        key=f"k{i}", index=i, provider=provider, model=None, prompt="a lamp", prompt_id="p",
        params={"duration": duration}, coords={}, output=f"{i}.mp4",
    )  # fmt: skip


def agenda(
    learned: Learned | None = None, origins: dict[str, Origin] | None = None, **settings: float
) -> Agenda:
    chosen = PollSettings(**{**SETTINGS.__dict__, **settings})
    return Agenda(chosen, learned if learned is not None else Learned(), origins)


def running() -> Polled:
    return Polled(state=RemoteState.RUNNING, status="running")


def done(url: str = "https://cdn/x.mp4") -> Polled:
    return Polled(RemoteState.SUCCEEDED, "completed", output_urls=(url,))


def test_the_first_check_comes_at_the_low_end_then_progress_times_the_next() -> None:
    a = agenda()
    w = a.watch(job(), "r1", now=100.0)  # aivideoapi's prior: 30 s
    assert a.next_due() == 130.0
    assert a.release(129.9) == ([], {})
    polls, lists = a.release(130.0)
    assert polls == [w] and lists == {} and w.where == "out"
    assert a.next_due() is None  # out being checked: in no heap
    due = a.running(w, now=130.0, progress=59.0)  # 59.x % after 30 s: done near 50 s
    assert due == pytest.approx(100 + 50 * (1 + MARGIN))
    assert a.release(due) == ([w], {})


def test_a_fresh_url_is_wanted_now_and_a_reattached_job_is_timed_from_its_submit() -> None:
    a = agenda()
    now = 1000.0
    fetch = a.watch(job(1), "r1", now=now, at_once=True, teaches=False)
    assert fetch.due == now
    old = a.watch(job(2), "r2", now=now, since=45.0, teaches=False)  # past the low end
    assert old.due == now and old.elapsed(now) == 45.0
    young = a.watch(job(3), "r3", now=now, since=10.0, teaches=False)
    assert young.due == now + 20.0  # its low end, 30 s after its submit
    polls, _ = a.release(now)
    assert set(polls) == {fetch, old}


def test_checks_are_released_in_due_order_and_a_dropped_job_never_is() -> None:
    a = agenda(first=5.0)
    watches = [a.watch(job(i), f"r{i}", now=float(i)) for i in range(4)]
    a.drop(watches[1])
    a.retry(watches[3], at=4.0)  # a failed check tried again: rescheduled, not duplicated
    polls, _ = a.release(100.0)
    assert polls == [watches[3], watches[0], watches[2]]
    assert a.next_due() is None and watches[1] not in a.watches()


def test_what_a_finished_job_teaches_times_the_next_jobs() -> None:
    learned = Learned()
    a = agenda(learned)
    for i, (last, found) in enumerate([(40.0, 44.0), (50.0, 54.0), (60.0, 64.0)]):
        w = a.watch(job(i), f"r{i}", now=0.0)
        a.release(30.0)
        a.running(w, now=last, progress=None)
        a.release(found)
        assert a.finished(w, now=found) == (last + found) / 2
    w = a.watch(job(9), "r9", now=1000.0)
    assert w.estimate.basis == "learned" and w.due == 1000.0 + 42.0
    attached = a.watch(job(10), "r10", now=0.0, since=5.0, teaches=False)
    a.release(30.0)
    assert a.finished(attached, now=30.0) is None  # its clock is the record's: not learned
    assert len(learned.changed()[("aivideoapi", "video 6s")]) == 3


def test_one_list_request_covers_every_plausibly_finished_job_of_its_provider() -> None:
    a = agenda()
    early = a.watch(job(0, "vydra"), "v0", now=0.0)
    late = a.watch(job(1, "vydra"), "v1", now=20.0)  # due at 50
    other = a.watch(job(2, "apiframe"), "f2", now=0.0)  # no lister: polled
    polls, lists = a.release(30.0, listers={"vydra"})
    # At 30 only v0 is due and v1 is not yet plausible (10 s old): one job, one poll.
    assert set(polls) == {early, other} and lists == {}
    a.running(early, now=30.0, progress=None)  # next at 33
    a.running(other, now=30.0, progress=None)
    polls, lists = a.release(50.0, listers={"vydra"})
    assert lists == {"vydra": [early, late]} and polls == [other]
    assert a.release(60.0, listers={"vydra"})[1] == {}  # one list at a time per provider
    page = {"v0": running(), "v1": done(), "x9": done()}
    shown = a.listed("vydra", [early, late], page, now=51.0)
    assert shown == [late] and late.found is not None and late.where == "out"
    assert early.where == "heap" and early.due == pytest.approx(51.0 + 5.1)  # as if polled
    assert early.checks == 2


def test_a_job_a_list_does_not_show_is_polled_from_then_on() -> None:
    """Not on the newest page: newer jobs pushed it off, and no later page will show it."""
    a = agenda()
    ws = [a.watch(job(i, "vydra"), f"v{i}", now=0.0) for i in range(2)]
    polls, lists = a.release(40.0, listers={"vydra"})
    assert lists == {"vydra": ws} and polls == []
    assert a.listed("vydra", ws, {"v0": running()}, now=41.0) == []
    assert ws[1].poll_only and ws[1].due == 41.0  # polled at once
    polls, lists = a.release(41.0, listers={"vydra"})
    assert polls == [ws[1]] and lists == {}


def test_a_list_without_the_url_or_a_failed_list_falls_back_to_polls() -> None:
    a = agenda()
    ws = [a.watch(job(i, "apiframe"), f"f{i}", now=0.0) for i in range(3)]
    _, lists = a.release(30.0, listers={"apiframe"})
    assert lists == {"apiframe": ws}
    no_url = Polled(RemoteState.SUCCEEDED, "COMPLETED")  # finished, but no URL in the row
    failed = Polled(RemoteState.FAILED, "FAILED", error="moderated")
    shown = a.listed("apiframe", ws, {"f0": no_url, "f1": failed, "f2": running()}, now=31.0)
    assert shown == [ws[1]]  # a failure needs no URL
    assert ws[0].due == 31.0  # polled at once for its URL, never listed again
    polls, lists = a.release(ws[2].due, listers={"apiframe"})
    assert polls == [ws[0], ws[2]] and lists == {}  # ws[2] alone is no batch: polled
    a.running(ws[2], now=ws[2].due, progress=None)
    more = a.watch(job(3, "apiframe"), "f3", now=10.0, since=30.0)
    _, lists = a.release(ws[2].due, listers={"apiframe"})
    assert set(lists["apiframe"]) == {ws[2], more}
    assert a.listed("apiframe", lists["apiframe"], None, now=40.0) == []  # the list failed
    polls, _ = a.release(40.0, listers=())  # and the scheduler pauses that provider's lists
    assert set(polls) == {ws[2], more}  # each polled, at once


def test_an_overdue_job_is_polled_on_its_own() -> None:
    """Past the high end of what is known (stuck, or far slower than any seen), a job is
    polled on its own rather than waited for in lists."""
    a = agenda()
    stuck = a.watch(job(0, "vydra"), "v0", now=0.0, since=200.0, teaches=False)  # 90 × 1.5
    fresh = a.watch(job(1, "vydra"), "v1", now=171.0)  # plausible, not yet due
    polls, lists = a.release(200.0, listers={"vydra"})
    assert polls == [stuck] and lists == {}
    assert fresh.where == "heap"


# --- whole batches on a fake clock -------------------------------------------------------------


@dataclass
class Batch:
    """What the scheduler sent for a batch, and how late it saw each job finish."""

    polls: int = 0
    lists: int = 0
    delays: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def polls_per_job(self) -> float:
        return self.polls / len(self.latencies)

    @property
    def delay_share(self) -> float:
        return sum(self.delays) / sum(self.latencies)


def simulate(
    latencies: list[float],
    *,
    progress: bool,
    lister: bool = False,
    learned: Learned | None = None,
    provider: str = "aivideoapi",
    elsewhere: bool = False,
) -> Batch:
    """Submit every job at 0 and drive the agenda until all are seen finished
    (`elsewhere`: at a base URL of the user's own, where nothing is known)."""
    places = {provider: origin(provider, "http://127.0.0.1:8400")} if elsewhere else None
    a = agenda(learned, places)
    finish: dict[str, float] = {}
    for i, latency in enumerate(latencies):
        a.watch(job(i, provider), f"r{i}", now=0.0)
        finish[f"r{i}"] = latency
    out = Batch(latencies=list(latencies))

    def seen(w: Watch, now: float) -> None:
        out.delays.append(now - finish[w.remote_id])
        a.finished(w, now=now)

    listers = {provider} if lister else set()
    while (now := a.next_due()) is not None:
        polls, lists = a.release(now, listers=listers)
        for w in polls:
            out.polls += 1
            if now >= finish[w.remote_id]:
                seen(w, now)
            else:  # as the emulator says it: whole percent, rounded down
                share = int(100 * now / finish[w.remote_id]) if progress else None
                a.running(w, now=now, progress=share)
        for name, covered in lists.items():
            out.lists += 1
            # The newest page shows every covered job: done, or still running.
            found = {
                w.remote_id: done() if now >= finish[w.remote_id] else running()
                for w in covered
            }
            for w in a.listed(name, covered, found, now):
                seen(w, now)
    return out


def spread(n: int, low: float, high: float, seed: int = 12) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(n)]


CLIPS = spread(61, 30.0, 90.0)  # what Grok Imagine clips take: 60 ± 30 s


def test_with_progress_a_job_costs_about_two_polls_and_is_seen_within_two_percent() -> None:
    batch = simulate(CLIPS, progress=True)
    assert batch.polls_per_job <= 2.5  # the first check, then the predicted finish
    assert batch.delay_share <= 0.02
    assert max(batch.delays) <= 0.03 * 90 + 1.0


def test_without_progress_the_delay_stays_a_small_share_of_the_elapsed_time() -> None:
    batch = simulate(CLIPS, progress=False, provider="pixeldojo")
    assert batch.delay_share <= 0.06  # about epsilon / 2
    # The price of that, with nothing but the clock to go by (tests/test_timing has why).
    assert batch.polls_per_job <= 8


def test_a_lister_answers_for_a_batch_in_fewer_requests_than_jobs() -> None:
    batch = simulate(CLIPS, progress=True, lister=True, provider="vydra")
    assert batch.polls + batch.lists < len(CLIPS)
    assert batch.delay_share <= 0.06


def test_a_batch_informed_by_earlier_runs_checks_when_its_jobs_finish() -> None:
    fast = spread(40, 8.0, 12.0, seed=3)  # short clips: the prior's 30 s is late for them
    learned = Learned()
    runs = [simulate(fast, progress=False, learned=learned, provider="pixeldojo")]
    assert runs[0].polls_per_job == 1.0 and runs[0].delay_share > 1.0  # all seen at 30 s
    for _ in range(4):
        runs.append(simulate(fast, progress=False, learned=learned, provider="pixeldojo"))
    shares = [r.delay_share for r in runs]
    assert shares == sorted(shares, reverse=True) and shares[-1] < 0.1
    assert runs[-1].polls_per_job <= 5
    cold = simulate(fast, progress=False, provider="pixeldojo")
    assert cold.delay_share == runs[0].delay_share  # nothing learned: the prior again


def test_at_an_unknown_url_the_waits_double_until_a_job_finishes_and_then_learn() -> None:
    """An emulator or mock: first check at 0.25 s, each wait doubled while nothing is seen;
    the jobs still running take up what the first ones taught."""
    blind = simulate(CLIPS, progress=False, provider="pixeldojo", elsewhere=True)
    assert blind.polls_per_job <= 16 and blind.delay_share <= 0.15
    told = simulate(CLIPS, progress=True, elsewhere=True)
    assert told.polls_per_job <= 5 and told.delay_share <= 0.02
    listed = simulate(CLIPS, progress=True, lister=True, provider="vydra", elsewhere=True)
    assert listed.lists < len(CLIPS) // 2


def test_a_job_in_flight_takes_up_what_its_kind_taught_meanwhile() -> None:
    learned = Learned()
    a = agenda(learned)
    slow = a.watch(job(0, "pixeldojo"), "p0", now=0.0)  # prior: 30 s, then 10 % steps
    a.release(30.0)
    for seconds in (70.0, 72.0, 75.0):  # meanwhile its kind was seen to take 70 s or more
        learned.add("pixeldojo", "video 6s", seconds)
    assert a.running(slow, now=30.0, progress=None) == 70.0  # waits for the low end
