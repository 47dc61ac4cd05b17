"""When to check a running job next: the pure decisions of timing.py, from tables."""

from __future__ import annotations

import pytest

from grokbatch.jobs import Job
from grokbatch.timing import (
    ELSEWHERE,
    KEEP,
    MARGIN,
    PRIORS,
    Estimate,
    Learned,
    PollSettings,
    Reading,
    completion_time,
    first_check,
    kind_of,
    next_check,
    origin,
    predict_finish,
)

SETTINGS = PollSettings(min_gap=1.0, max_gap=60.0, epsilon=0.1)
SEEN = Estimate(low=30.0, high=90.0, basis="learned")


def job(provider: str = "xai", model: str | None = None, **params: object) -> Job:
    return Job(
        key="k", index=0, provider=provider, model=model, prompt="a lamp", prompt_id="p",
        params=params, coords={}, output="p.mp4",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("made", "kind"),
    [
        (job(duration=6, resolution="720p"), "video 6s 720p"),
        (job(duration=15, resolution="480p"), "video 15s 480p"),
        (job("vydra", "text-to-image", type="image"), "image text-to-image"),
        (job("apiframe", duration=10), "video 10s"),
    ],
)
def test_a_kind_of_job_is_its_type_duration_resolution_and_model(made: Job, kind: str) -> None:
    assert kind_of(made) == kind


def test_the_prior_is_the_providers_own_at_its_own_url_and_unknown_elsewhere() -> None:
    own = origin("aimlapi", "https://api.aimlapi.com/", "https://api.aimlapi.com")
    assert own.label == "aimlapi" and own.prior is PRIORS["aimlapi"]
    assert own.prior.low == 60 and "1 min 47 s" in own.prior.source
    mock = origin("aimlapi", "http://127.0.0.1:8400/aimlapi", "https://api.aimlapi.com")
    assert mock.label == "aimlapi at http://127.0.0.1:8400/aimlapi" and mock.prior is ELSEWHERE
    assert origin("xai").prior.low == 30  # Grok Imagine clips: 60 ± 30 s


def test_learned_times_replace_the_prior_per_kind_then_per_provider() -> None:
    xai = origin("xai")
    learned = Learned()
    assert learned.estimate(xai, "video 6s 720p") == Estimate(30.0, 90.0, "prior")
    for seconds in (40.0, 44.0):
        learned.add("xai", "video 6s 720p", seconds)
    assert learned.estimate(xai, "video 6s 720p").basis == "prior"  # two are not enough
    learned.add("xai", "video 6s 720p", 80.0)
    assert learned.estimate(xai, "video 6s 720p") == Estimate(40.0, 80.0, "learned")
    # Another kind at the same provider borrows the provider's times until it has its own.
    assert learned.estimate(xai, "video 15s 720p") == Estimate(40.0, 80.0, "provider")
    assert learned.estimate(origin("vydra"), "video 6s").basis == "prior"
    for i in range(KEEP + 10):  # only the latest KEEP count: a provider that got faster
        learned.add("xai", "video 6s 720p", 10.0 + i % 3)
    assert learned.estimate(xai, "video 6s 720p") == Estimate(10.0, 12.0, "learned")
    saved = learned.changed()
    assert (
        list(saved) == [("xai", "video 6s 720p")] and len(saved[("xai", "video 6s 720p")]) == KEEP
    )


def test_the_next_run_starts_from_what_was_saved() -> None:
    learned = Learned({("xai", "video 6s 720p"): [50.0, 55.0, 60.0, 65.0]})
    assert learned.estimate(origin("xai"), "video 6s 720p") == Estimate(50.0, 65.0, "learned")
    assert learned.changed() == {}  # nothing new to save


@pytest.mark.parametrize(
    ("estimate", "first", "expected"),
    [
        (SEEN, None, 30.0),  # near the low end of what was seen
        (SEEN, 0.02, 0.02),  # tests and the sandbox: at the latest this early
        (SEEN, 100.0, 30.0),
        (Estimate(0.4, 1.0, "learned"), 2.0, 0.4),
    ],
)
def test_first_check(estimate: Estimate, first: float | None, expected: float) -> None:
    assert first_check(estimate, PollSettings(first=first)) == expected


@pytest.mark.parametrize(
    ("readings", "exact", "finish"),
    [
        ([], True, None),
        ([Reading(20, None)], True, None),  # an empty xAI 202: no progress told
        ([Reading(20, 39)], True, 50.0),  # 39 % (39.99 % rounded down) after 20 s: 50 s
        ([Reading(20, 0)], True, None),  # queued at 0 %: says nothing yet
        ([Reading(20, 100)], True, None),
        ([Reading(20, 39)], False, None),  # a re-attached job's clock may be off: not alone
        ([Reading(10, 10), Reading(20, 40)], True, 40.0),  # 3 %/s from a queue: 20 + 60 / 3
        ([Reading(10, 10), Reading(20, 40)], False, 40.0),  # a rate needs no clock
        ([Reading(19, 37), Reading(20, 39)], True, 50.0),  # a rise of 2 points: too noisy
    ],
)
def test_progress_predicts_the_finish(
    readings: list[Reading], exact: bool, finish: float | None
) -> None:
    assert predict_finish(readings, exact=exact) == finish


@pytest.mark.parametrize(
    ("elapsed", "readings", "settings", "gap"),
    [
        (20, [Reading(20, 39)], SETTINGS, pytest.approx(50 * (1 + MARGIN) - 20)),  # just after
        (9.9, [Reading(9.9, 99)], SETTINGS, 1.0),  # due now, but never closer than min_gap
        (10, [], PollSettings(first=0.02), 20.0),  # checked early: wait for the low end
        (40, [], SETTINGS, pytest.approx(4.0)),  # no progress: elapsed × epsilon
        (80, [Reading(80, None)], SETTINGS, pytest.approx(8.0)),
        (3000, [], SETTINGS, 60.0),  # never further than max_gap
        (2, [Reading(2, 1)], SETTINGS, 60.0),  # 1 % after 2 s: 200 s, capped
        (40, [Reading(40, 10)], PollSettings(min_gap=0.01, max_gap=0.2), 0.2),  # FAST
    ],
)
def test_next_check(
    elapsed: float, readings: list[Reading], settings: PollSettings, gap: object
) -> None:
    assert next_check(elapsed, SEEN, readings, settings) == gap


def test_a_job_whose_progress_says_it_is_late_is_checked_by_elapsed_time() -> None:
    """99 % for a while: the prediction is behind us, so the plain rule applies."""
    readings = [Reading(60, 99), Reading(70, 99)]
    assert next_check(70, SEEN, readings, SETTINGS) == pytest.approx(7.0)


@pytest.mark.parametrize(
    ("last_running", "finished_by", "readings", "learned"),
    [
        (40.0, 44.0, [Reading(40, None)], 42.0),  # the middle of the window
        (40.0, 52.0, [Reading(20, 40), Reading(40, 80)], 50.0),  # progress placed it
        (40.0, 44.0, [Reading(20, 10)], 42.0),  # its 200 s is outside the window: ignored
        (None, 30.0, [], 22.5),  # found finished at the first check: somewhat earlier
    ],
)
def test_what_a_finished_job_teaches(
    last_running: float | None, finished_by: float, readings: list[Reading], learned: float
) -> None:
    assert completion_time(last_running, finished_by, readings) == learned
