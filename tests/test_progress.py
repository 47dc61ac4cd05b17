"""What the user sees: plain lines without a terminal, nothing in --json mode."""

from __future__ import annotations

import io

from grokbatch.jobs import Job
from grokbatch.progress import PlainReporter, Reporter, eta, make_reporter

JOB = Job(key="k" * 64, index=0, provider="apiframe", model=None, prompt="p", prompt_id="hero",
          params={}, coords={"prompt": "hero", "style": "noir"}, output="a.mp4")


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
