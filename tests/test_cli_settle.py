"""Settling jobs from the command line: reconcile, attach, not-created, cancel, and what
`status` says each ambiguous job needs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from grokbatch.cli import main
from grokbatch.settle import who
from grokbatch.state import open_store
from grokbatch.state.base import JobState

from .conftest import Batch, environ_for
from .test_lookup import events, lose, manifest


def cli(b: Batch, *args: str) -> Result:
    env = environ_for(b.emu) | {"GROKBATCH_SANDBOX": ""}
    return CliRunner().invoke(main, [args[0], str(b.path), "--db", str(b.db), *args[1:]], env=env)


def test_attach_records_who_and_why_and_the_next_run_downloads_it(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("xai", prompts=1))
    (job,) = lose(b, made={0})
    (remote,) = [j.id for j in b.emu.backend.ledger.of("xai")]
    result = cli(b, "attach", "--job", job.key[:12], "--remote-id", remote, "--reason", "seen")
    assert result.exit_code == 0, result.output
    assert f"attached to xai job {remote}" in result.output
    (row,) = b.rows()
    assert row.state is JobState.RUNNING and row.remote_id == remote
    (event,) = events(b, "attached")
    assert event["detail"] == {
        "remote_id": remote, "by": who(), "reason": "seen", "manual": True, "from": "ambiguous"
    }  # fmt: skip
    assert b.run().exit_code == 0
    assert b.rows()[0].state is JobState.DONE
    assert b.stats("xai")["paid"] == 1


def test_not_created_returns_the_reservation_and_the_next_run_submits_it(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("aivideoapi", prompts=1))
    (job,) = lose(b, made=())
    assert b.rows()[0].reserved_credits > 0
    result = cli(b, "not-created", "--job", job.key[:8], "--reason", "not on the dashboard")
    assert result.exit_code == 0, result.output
    (row,) = b.rows()
    assert row.state is JobState.PENDING and row.reserved_credits == 0
    (event,) = events(b, "not_created")
    assert event["detail"]["by"] == who()  # type: ignore[index]
    summary = b.run()
    assert summary.exit_code == 0 and summary.submitted == 1
    assert b.stats("aivideoapi")["paid"] == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--job", "ffffffff", "no job of t-xai has a key starting so"),
        ("--job", "ab", "at least 4 characters"),
        ("--remote-id", "a b", "give the provider's id of the job"),
    ],
)
def test_attach_refuses_bad_input_with_exit_2(
    batch: Callable[[str], Batch], option: str, value: str, message: str
) -> None:
    b = batch(manifest("xai", prompts=1))
    (job,) = lose(b, made=())
    given = {"--job": job.key[:12], "--remote-id": "r1"} | {option: value}
    result = cli(b, "attach", *[x for kv in given.items() for x in kv])
    assert result.exit_code == 2 and message in result.output
    assert b.rows()[0].state is JobState.AMBIGUOUS


def test_only_an_ambiguous_job_is_settled_by_hand(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("xai", prompts=1))
    b.run()
    (row,) = b.rows()
    result = cli(b, "not-created", "--job", row.key[:12])
    assert result.exit_code == 2 and "is done, not ambiguous" in result.output


def test_status_says_for_each_ambiguous_job_which_way_out_applies(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(
        "name: both\nprompts: [{id: p, template: 'A lamp'}]\n"
        "matrix: {provider: [xai, aimlapi]}\n"
        "output: {path: '{{ provider }}.{{ ext }}'}\n"
    )
    lose(b, made=())
    result = cli(b, "status", "--json")
    assert result.exit_code == 0, result.output
    ways = {a["key"]: a["way_out"] for a in json.loads(result.output)["attention"]}
    rows = {r.key: r for r in b.rows()}
    by_provider = {rows[k].provider: w for k, w in ways.items()}
    assert by_provider["aimlapi"]["automatic"] and not by_provider["aimlapi"]["commands"]
    assert not by_provider["xai"]["automatic"]
    assert by_provider["xai"]["commands"][0].startswith(f"grokbatch attach {b.path} --job ")
    text = cli(b, "status").output
    assert "grokbatch looks it up at AI/ML API" in text and "grokbatch not-created" in text


def test_reconcile_settles_what_the_provider_shows_and_exits_1_while_some_stay(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("aimlapi", prompts=3))
    jobs = lose(b, made={0})
    with open_store(b.db) as store:  # job 2: still SUBMITTING, held by a live runner
        store.reset("t-aimlapi", jobs[2].key, run_id=1, reason="test")
        runner = store.register_runner(run_id=1, manifest="t-aimlapi", lease=600.0)
        store.reserve(
            "t-aimlapi", jobs[2].key, run_id=1, credits=1.0, usd=None, limits=_nil(), runner=runner
        )
    time.sleep(0.4)  # job 0's clip is done (latency 0.1 s): AI/ML API logs it
    result = cli(b, "reconcile", "--settle-window", "0.3", "--clock-skew", "0")
    assert result.exit_code == 0, result.output
    states = {r.key: r.state for r in b.rows()}
    assert states == {
        jobs[0].key: JobState.RUNNING, jobs[1].key: JobState.PENDING,
        jobs[2].key: JobState.SUBMITTING,
    }  # fmt: skip
    assert "found:" in result.output and "never made" in result.output
    assert "a run is sending it now" in result.output
    # Once that runner is gone, its submit counts as lost, and is looked up.
    with open_store(b.db) as store:
        store.retire_runner(runner)
    result = cli(b, "reconcile", "--settle-window", "600")
    assert result.exit_code == 1, result.output  # not listed yet: it may still appear
    assert {r.state for r in b.rows() if r.key == jobs[2].key} == {JobState.AMBIGUOUS}
    assert "grokbatch looks it up at AI/ML API from" in result.output


def test_reconcile_at_a_provider_without_lookup_needs_no_key(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("xai", prompts=1))
    (job,) = lose(b, made={0})
    env = {"GROKBATCH_SANDBOX": "", "XAI_API_KEY": ""}
    args = ["reconcile", str(b.path), "--db", str(b.db)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1, result.output
    assert f"grokbatch not-created {b.path} --job {job.key[:12]}" in result.output


@pytest.mark.emulator(latency=60.0)
def test_cancel_stops_a_vydra_job_and_its_charge_stays_spent(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("vydra", prompts=1))
    b.run(tuning={"job_timeout": 0.05})  # left running at the provider
    (row,) = b.rows()
    assert row.state is JobState.RUNNING
    result = cli(b, "cancel", "--all-running", "--reason", "wrong prompt")
    assert result.exit_code == 0, result.output
    assert "cancelled at the provider; its charge stays spent" in result.output
    (row,) = b.rows()
    assert row.state is JobState.FAILED and row.error_kind == "JobCancelledError"
    assert "wrong prompt" in (row.error or "") and row.spent_credits == 150
    assert b.stats("vydra")["cancels"] == 1
    assert b.run().exit_code == 1  # failed stays failed until --retry-failed


@pytest.mark.emulator(latency=60.0)
def test_cancel_says_where_the_provider_has_no_cancel(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("aivideoapi", prompts=1))
    b.run(tuning={"job_timeout": 0.05})
    (row,) = b.rows()
    result = cli(b, "cancel", "--job", row.key[:10])
    assert result.exit_code == 0, result.output
    assert "AI Video API has no cancel" in result.output and "only the local run" in result.output
    assert b.rows()[0].state is JobState.RUNNING
    assert cli(b, "cancel").exit_code == 2  # which jobs?


def _nil() -> object:
    from grokbatch.state import Limits

    return Limits()
