"""run --events FILE.jsonl: one JSON line per event, flushed, with the ledger's figures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grokbatch.cli import main
from grokbatch.errors import InputError
from grokbatch.events import EventLog
from grokbatch.jobs import Job

from .conftest import Batch, environ_for

GRID = """
name: events
provider: apiframe
prompts: [{id: hero, template: "A {{ style }} lamp"}]
matrix:
  style: [noir, cinematic, watercolor]
output: {path: "{{ style }}.mp4"}
"""


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def utc(text: str) -> dt.datetime:
    assert text.endswith("Z")
    return dt.datetime.fromisoformat(text)


def test_a_run_logs_start_each_job_and_end_with_the_ledgers_figures(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(GRID)
    log = b.root / "events.jsonl"
    summary = b.run(also=EventLog(log))
    assert summary.exit_code == 0
    events = lines(log)
    assert events[0]["event"] == "start" and events[0]["jobs"] == 3
    assert events[-1]["event"] == "end" and events[-1]["exit_code"] == 0
    assert events[-1]["states"] == {"done": 3} and events[-1]["status"] == "completed"
    assert {e["run_id"] for e in events} == {summary.run_id}
    rows = {r.key: r for r in b.rows()}
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 3 and {e["key"] for e in done} == set(rows)
    for line in done:
        row = rows[line["key"]]
        assert line["remote_id"] == row.remote_id and line["state"] == "done"
        assert line["provider"] == "apiframe" and line["coords"] == row.coords
        assert line["credits"] == {
            "unit": "credits",
            "estimated": row.estimated_credits,
            "reserved": 0.0,
            "charged": row.charged_credits,
            "spent": row.spent_credits,
        }
        assert line["finished_at"] == row.finished_at and line["output"] == row.output_path
        assert utc(line["submitted_at"]) <= utc(line["finished_at"]) <= utc(line["time"])
    submitted = [e for e in events if e["event"] == "submitted"]
    assert {e["remote_id"] for e in submitted} == {r.remote_id for r in rows.values()}
    # The log and the other reporters saw the same events, in the same order.
    assert [e["event"] for e in events[1:-1]] == b.reporter.kinds()


@pytest.mark.emulator(failure_rate=1.0)
def test_a_failed_line_carries_the_refund_not_the_estimate(batch: Callable[[str], Batch]) -> None:
    b = batch(GRID)
    log = b.root / "events.jsonl"
    assert b.run(also=EventLog(log), only=["style=noir"]).exit_code == 1
    [failed] = [e for e in lines(log) if e["event"] == "failed"]
    assert failed["state"] == "failed" and failed["error_kind"] == "RemoteJobFailedError"
    # APIFrame refunds a failed job: the budget counts nothing, though 10 was estimated.
    assert failed["credits"]["estimated"] == 10 and failed["credits"]["spent"] == 0
    assert lines(log)[-1]["failed_this_run"] == 1


def test_each_line_is_flushed_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.start(manifest="m", total=1, run_id=7)
    job = Job(key="k" * 64, index=0, provider="xai", model=None, prompt="p", prompt_id="a",
              params={}, coords={"prompt": "a"}, output="a.mp4", credits=0.35)  # fmt: skip
    log.event("retry", job, "submit in 1.0s: 503")
    # Another reader (tail -f, a CI step) sees both lines before the run ends.
    start, retry = lines(path)
    assert start["run_id"] == retry["run_id"] == 7
    assert retry["credits"] == {
        "unit": "USD", "estimated": 0.35, "reserved": None, "charged": None, "spent": None
    }  # fmt: skip
    assert retry["remote_id"] is None and retry["detail"] == "submit in 1.0s: 503"
    log.finish(None)
    assert lines(path)[-1]["event"] == "end"


def test_a_second_run_appends_to_the_log(batch: Callable[[str], Batch]) -> None:
    b = batch(GRID)
    log = b.root / "events.jsonl"
    first = b.run(also=EventLog(log), only=["style=noir"])
    second = b.run(also=EventLog(log))
    runs = [e["run_id"] for e in lines(log) if e["event"] in ("start", "end")]
    assert runs == [first.run_id, first.run_id, second.run_id, second.run_id]


@pytest.mark.parametrize("where", ["missing/events.jsonl", "."])
def test_an_unwritable_place_is_an_input_error(tmp_path: Path, where: str) -> None:
    with pytest.raises(InputError, match="--events"):
        EventLog(tmp_path / where)


def test_events_on_stdout_move_the_summary_to_stderr(
    batch: Callable[[str], Batch], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Vydra's images come back with the submit's answer: no poll to wait for at the CLI's pace.
    b = batch(GRID.replace("apiframe", "vydra\ndefaults: {type: image}").replace(".mp4", ".png"))
    for name, value in environ_for(b.emu).items():
        monkeypatch.setenv(name, value)
    args = ["run", str(b.path), "--db", str(b.db), "--output-dir", str(b.out), "--events", "-"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]  # nothing but events
    assert [e["event"] for e in events].count("done") == 3
    assert json.loads(result.stderr)["states"] == {"done": 3}

    bad = CliRunner().invoke(main, [*args[:-1], str(b.root / "no" / "e.jsonl")])
    assert bad.exit_code == 2 and "--events" in bad.output
