"""What grokbatch records equals what was charged, and `plan` answers for the real next run.

Each test is one of the problems users hit (issue 9), checked against the emulator's own
ledger where money is involved.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner

from grokbatch import api, providers
from grokbatch.books import Books, record_for
from grokbatch.budget import BudgetPolicy
from grokbatch.cli import main
from grokbatch.control import Control
from grokbatch.emulator import Emulator
from grokbatch.expand import Expander
from grokbatch.lifecycle import JobSettings, Lifecycle
from grokbatch.manifest import loads
from grokbatch.progress import Reporter
from grokbatch.providers.client import ProviderClient
from grokbatch.retry import Backoff
from grokbatch.scheduler import Scheduler
from grokbatch.state import SQLiteStore
from grokbatch.state.base import JobState
from grokbatch.timing import PollSettings

from .conftest import FAST, Batch, environ_for

LAMPS = """
name: lamps
provider: apiframe
prompts: [{id: p, template: "Lamp {{ n }}"}]
matrix: {n: [1, 2, 3]}
output: {path: "{{ n }}.mp4"}
limits: {concurrency: 3, max_credits: 40}
"""


# --- 1. a claim is made only when the request is about to go out ---------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_jobs_waiting_for_their_rate_limit_turn_are_never_claimed(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Killed while jobs wait for their turn: they stay pending, nothing reserved or maybe-paid."""
    path = tmp_path / "m.yaml"
    path.write_text(LAMPS.replace("max_credits: 40", "requests_per_minute: 6"), encoding="utf-8")
    db = tmp_path / "state.db"
    env = environ_for(emulator)
    with anyio.move_on_after(2.0):  # one request every 10 s: the 2nd and 3rd job wait
        await api.run_async(
            path, db=db, output_dir=tmp_path / "out", environ=env, reporter=Reporter(),
            tuning=FAST, write_report=False,
        )  # fmt: skip
    with SQLiteStore(db) as store:
        rows = {r.coords["n"]: r for r in store.jobs("lamps")}
        usage = store.usage("lamps")["apiframe"]
    states = sorted(r.state.value for r in rows.values())
    assert states == ["pending", "pending", "running"]
    assert all(r.reserved_credits == 0 for r in rows.values() if r.state is JobState.PENDING)
    assert usage.reserved_credits == 10  # only the one that was sent
    assert emulator.stats()["providers"]["apiframe"]["submissions"] == 1


@pytest.mark.anyio
@pytest.mark.emulator(request_latency=1.0)
async def test_a_submit_cut_off_before_its_first_byte_left_is_released(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Two claimed submits, one connection: the one still waiting for it goes back to pending;
    the one on the wire stays maybe-paid (a rerun reports it ambiguous, never resends it)."""
    manifest = loads(LAMPS.replace("provider: apiframe", "provider: pixeldojo"), path=tmp_path)
    jobs = list(Expander(manifest).jobs())[:2]
    with SQLiteStore(":memory:") as store:
        run_id = store.start_run(manifest="lamps", manifest_path="m", options={})
        books = Books(
            store, manifest="lamps", run_id=run_id, policy=BudgetPolicy(), units={},
            reporter=Reporter(),
        )  # fmt: skip
        store.add_jobs("lamps", (record_for(j) for j in jobs), run_id=run_id)
        control = Control(concurrency=2)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as http:
            client = ProviderClient(
                providers.get("pixeldojo"),
                http=http,
                base_url=emulator.base_url("pixeldojo"),
                api_key="k",
            )
            backoff = Backoff(rng=random.Random(1))
            lifecycle = Lifecycle(
                books=books,
                control=control,
                clients={"pixeldojo": client},
                files=http,
                scheduler=Scheduler(
                    clients={"pixeldojo": client}, control=control, books=books,
                    settings=PollSettings(), backoff=backoff,
                ),
                settings=JobSettings(output_dir=tmp_path),
                backoff=backoff,
            )  # fmt: skip
            with anyio.move_on_after(0.5):
                async with anyio.create_task_group() as tg:
                    for job in jobs:
                        tg.start_soon(functools.partial(lifecycle.submit, job, claim=None))
        states = sorted(r.state.value for r in store.jobs("lamps"))
        assert states == ["pending", "submitting"]
        pending = next(r for r in store.jobs("lamps") if r.state is JobState.PENDING)
        assert pending.reserved_credits == 0 and pending.error_kind == "TransientError"
        assert "before the request was sent" in (pending.error or "")


# --- 2. the state does not depend on where you stand ----------------------------------------


def test_running_from_another_directory_finds_the_same_state_and_pays_nothing(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project" / "pipelines"
    project.mkdir(parents=True)
    (project / "m.yaml").write_text(LAMPS, encoding="utf-8")
    for name, value in environ_for(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GROKBATCH_SANDBOX", raising=False)
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    first = runner.invoke(main, ["run", "project/pipelines/m.yaml", "--json"])
    assert first.exit_code == 0, first.output
    assert (project / ".grokbatch" / "state.db").exists()  # beside the manifest
    assert sorted(p.name for p in (project / "out" / "lamps").glob("*.mp4")) == [
        "1.mp4",
        "2.mp4",
        "3.mp4",
    ]
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    again = runner.invoke(main, ["run", str(project / "m.yaml"), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["submitted_this_run"] == 0
    assert emulator.stats()["providers"]["apiframe"]["submissions"] == 3
    assert not (elsewhere / ".grokbatch").exists() and not (elsewhere / "out").exists()


# --- 3. plan knows the state ----------------------------------------------------------------


def test_plan_prices_what_a_run_would_submit_now_against_what_is_left(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(LAMPS)  # three jobs of 10 credits, budget 40
    assert b.run().exit_code == 0
    runner = CliRunner()
    # Two new jobs (20 credits) but only 10 left: the gate must fail, as the run would.
    b.path.write_text(LAMPS.replace("[1, 2, 3]", "[1, 2, 3, 4, 5]"), encoding="utf-8")
    where = ["--db", str(b.db), "--output-dir", str(b.out)]
    gate = runner.invoke(main, ["plan", str(b.path), *where, "--json", "--jobs"])
    assert gate.exit_code == 3, gate.output
    data = json.loads(gate.stdout)
    assert data["over_budget"] is True and data["jobs"] == 5
    frame = data["providers"]["apiframe"]
    assert (frame["to_submit"], frame["estimated"], frame["spent"], frame["left"]) == (
        2,
        20,
        30,
        10,
    )
    assert data["actions"] == {"skip_done": 3, "submit": 2}
    rows = {r["coords"]["n"]: r for r in data["rows"]}
    assert rows[1]["state"] == "done" and rows[1]["estimated"] == 0
    assert (
        rows[4]["state"] == "new" and rows[4]["action"] == "submit" and rows[4]["estimated"] == 10
    )
    text = runner.invoke(main, ["plan", str(b.path), *where])
    assert text.exit_code == 3 and "OVER BUDGET" in text.output and "3 done" in text.output
    summary = b.run()
    assert summary.exit_code == 3 and summary.budget_stopped  # the run agrees with the gate
    # Without the state, the same manifest is within budget only if it all fits.
    fresh = runner.invoke(main, ["plan", str(b.path), "--db", str(b.root / "none.db")])
    assert fresh.exit_code == 3  # 50 credits of jobs against 40


# --- 4. every figure equals the ledger ------------------------------------------------------


def test_a_refunded_failure_costs_nothing_and_every_total_equals_the_emulators(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(
        "name: mixed\nprompts: [{id: p, template: 'Lamp {{ n }}'}]\n"
        "matrix: {provider: [apiframe, aivideoapi], n: [1, 2, 3, 4, 5, 6]}\n"
        "defaults: {duration: 6}\noutput: {path: '{{ provider }}/{{ n }}.mp4'}\n"
    )
    b.emu.configure(failure_rate=0.5)
    summary = b.run()
    rows = b.rows()
    failed = [r for r in rows if r.state is JobState.FAILED]
    assert failed, "the emulator failed no job: raise its failure rate"
    assert all(r.charged_credits == 0 and r.spent_credits == 0 for r in failed)  # refunded
    status = api.status(b.path, db=b.db)
    for name in ("apiframe", "aivideoapi"):
        ledger = b.stats(name)
        charged = ledger["credits_charged"] - ledger["credits_refunded"]
        assert summary.budget is not None
        assert summary.budget.per_provider[name].spent == pytest.approx(charged)
        assert summary.to_json()["credits"][name]["spent"] == pytest.approx(charged)
        assert status.usage[name].spent_credits == pytest.approx(charged)
        assert sum(r.spent_credits for r in rows if r.provider == name) == pytest.approx(charged)
    # APIFrame has no USD price: no USD total is shown as if it were the total.
    assert "$" not in summary.format()
    assert "no USD price for apiframe" in summary.format()
    assert summary.to_json()["usd"]["spent"] is None


# --- 6. the summary on stdout, progress on stderr -------------------------------------------


def test_the_summary_goes_to_stdout_and_progress_to_stderr(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "m.yaml").write_text(LAMPS, encoding="utf-8")
    for name, value in environ_for(emulator).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "m.yaml")])
    assert result.exit_code == 0, result.output
    assert "lamps: 3 jobs: 3 done" in result.stdout  # `grokbatch run … > run.log` keeps it
    assert "report:" in result.stdout
    assert "submitted" in result.stderr and "lamps: 3 jobs" not in result.stderr
