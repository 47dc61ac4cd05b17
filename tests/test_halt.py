"""--max-failures: stop submitting after N failed jobs of this run (or a share of its jobs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from grokbatch.cli import main
from grokbatch.errors import InputError
from grokbatch.halt import FailureLimit
from grokbatch.state.base import JobState

from .conftest import Batch

TEN = """
name: halt
provider: apiframe
prompts: [{id: p, template: "Lamp {{ n }}"}]
matrix: {n: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
output: {path: "{{ n }}.mp4"}
"""


@pytest.mark.parametrize(
    ("given", "total", "stops_at"),
    [(3, 100, 3), ("3", 2, 3), ("10%", 31, 4), ("50%", 10, 5), ("1%", 10, 1), ("100%", 7, 7)],
)
def test_a_limit_is_a_count_or_a_share_rounded_up(given: str, total: int, stops_at: int) -> None:
    assert FailureLimit.parse(given).of(total) == stops_at


@pytest.mark.parametrize("given", ["0", "-1", "0%", "120%", "ten", "", "2.5"])
def test_a_bad_limit_is_an_input_error(given: str) -> None:
    with pytest.raises(InputError, match="--max-failures"):
        FailureLimit.parse(given)


@pytest.mark.emulator(failure_rate=1.0)
def test_submitting_stops_at_the_nth_failure_and_the_run_says_why(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(TEN)
    summary = b.run(concurrency=1, max_failures=3)
    assert summary.exit_code == 1
    assert summary.failures_stopped and summary.failed_this_run == 3
    assert b.stats("apiframe")["submissions"] == 3  # one at a time: nothing after the third
    states = [r.state for r in b.rows()]
    assert states.count(JobState.FAILED) == 3 and states.count(JobState.PENDING) == 7
    assert "stopped submitting after 3 failed jobs (--max-failures 3)" in summary.format()
    assert summary.to_json()["failures_stopped"] is True
    assert b.reporter.kinds().count("max_failures") == 1


@pytest.mark.emulator(failure_rate=1.0, latency=0.3)
def test_jobs_in_flight_finish_after_the_stop(batch: Callable[[str], Batch]) -> None:
    b = batch(TEN)
    summary = b.run(concurrency=4, max_failures="20%")  # 2 of 10
    assert summary.failures_stopped
    submitted = b.stats("apiframe")["submissions"]
    # Jobs already sent when the second one failed were polled to their end: none left running.
    assert 2 <= submitted <= 5
    assert {r.state for r in b.rows() if r.state is not JobState.PENDING} == {JobState.FAILED}


def test_without_failures_the_limit_changes_nothing(batch: Callable[[str], Batch]) -> None:
    b = batch(TEN)
    summary = b.run(max_failures=1)
    assert summary.exit_code == 0 and not summary.failures_stopped and summary.submitted == 10


def test_the_command_rejects_a_bad_limit_before_sending(
    write_manifest: Callable[..., Path],
) -> None:
    path = write_manifest(TEN)
    for extra in ([], ["--dry-run"]):
        result = CliRunner().invoke(main, ["run", str(path), "--max-failures", "0", *extra])
        assert result.exit_code == 2 and "--max-failures '0'" in result.output
