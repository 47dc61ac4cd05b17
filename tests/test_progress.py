"""What the user sees: plain lines and progress lines without a terminal, nothing in --json
mode."""

from __future__ import annotations

import io

from grokbatch.budget import BudgetStatus, ProviderBudget
from grokbatch.jobs import Job
from grokbatch.progress import PlainReporter, Reporter, Tee, eta, make_reporter

JOB = Job(
    key="k" * 64,
    index=0,
    provider="apiframe",
    model=None,
    prompt="p",
    prompt_id="hero",
    params={},
    coords={"prompt": "hero", "style": "noir"},
    output="a.mp4",
)


def test_plain_reporter_writes_one_line_per_event() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out)
    reporter.start(manifest="m", total=1)
    reporter.event("submitted", JOB, "id=r1")
    reporter.event("done", JOB, "a.mp4")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "submitted" in lines[0] and "prompt=hero style=noir" in lines[0]
    assert "apiframe" in lines[0] and "id=r1" in lines[0]


def test_without_a_terminal_the_reporter_is_plain_and_json_mode_is_silent() -> None:
    assert isinstance(make_reporter(stream=io.StringIO()), PlainReporter)
    silent = make_reporter(json_mode=True, stream=io.StringIO())
    assert type(silent) is Reporter


def test_eta() -> None:
    assert eta(0, 10, 5.0) == "-"
    assert eta(5, 10, 50.0) == "0m50s"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_progress_line_comes_every_n_seconds() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = PlainReporter(out, every=30, clock=clock)
    reporter.start(manifest="m", total=10)
    budget = BudgetStatus({"apiframe": ProviderBudget(spent=40, reserved=20, limit=500)})
    clock.now += 29
    reporter.tick({"done": 1}, budget)
    assert out.getvalue() == ""  # not yet
    for _ in range(4):
        reporter.event("done", JOB, "a.mp4")
    clock.now += 11  # 40 s in: 4 finished by this run, 6 to go at 10 s each
    reporter.tick({"done": 3, "failed": 1, "running": 2}, budget)
    [line] = [ln for ln in out.getvalue().splitlines() if "progress" in ln]
    assert "3/10 done · 1 failed · 2 in flight" in line
    assert "apiframe 40 spent + 20 reserved of 500 credits" in line
    assert "0m40s elapsed, ETA 1m00s" in line
    reporter.tick({"done": 3}, budget)
    assert out.getvalue().count("progress") == 1  # the next one in 30 s


def test_the_eta_counts_only_jobs_this_run_finished() -> None:
    # A resumed run: 8 of 10 were done before it; it finished 1 job in 60 s.
    assert eta(9, 10, 60.0, this_run=1) == "1m00s"
    assert eta(8, 10, 60.0, this_run=0) == "-"


def test_progress_every_0_prints_no_progress_lines() -> None:
    out = io.StringIO()
    reporter = make_reporter(stream=out, progress_every=0)
    assert isinstance(reporter, PlainReporter) and reporter.every == 0
    reporter.start(manifest="m", total=1)
    reporter.tick({"done": 1}, None)
    assert out.getvalue() == ""


def test_tee_gives_every_reporter_every_call() -> None:
    first, second = io.StringIO(), io.StringIO()
    tee = Tee(PlainReporter(first), PlainReporter(second))
    tee.start(manifest="m", total=1)
    tee.event("failed", JOB, "RemoteJobFailedError: no")
    tee.finish()
    assert first.getvalue() == second.getvalue() != ""
