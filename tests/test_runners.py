"""Several `grokbatch run` processes on one batch: the promises of issue 14, end to end.

Each runner is a real process; the emulator's own counters say what was sent and paid, and
the state database says what each job became. SQLite tests always run; PostgreSQL tests
need GROKBATCH_TEST_POSTGRES (see tests/backends.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grokbatch import providers
from grokbatch.download import verify
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.state import open_store
from grokbatch.state.base import JobState

from .backends import db_location, postgres_db  # noqa: F401  (fixtures)

WORKER = """
import json, os, socket, sys
from grokbatch import api
from grokbatch.progress import PlainReporter
if len(sys.argv) > 4:  # play a machine of its own: its lease, not its pid, tells it lives
    socket.gethostname = lambda: sys.argv[4]
summary = api.run(
    sys.argv[1], output_dir=sys.argv[2], sandbox=False, reporter=PlainReporter(),
    tuning=json.loads(sys.argv[3]),
)  # the database comes from GROKBATCH_DB
print(json.dumps(summary.to_json()))
sys.exit(summary.exit_code)
"""

TUNING = {
    "poll_initial": 0.05,
    "poll_max": 0.3,
    "backoff_base": 0.02,
    "backoff_cap": 0.3,
    "retries": 20,
    "handle_signals": False,
}


def manifest(root: Path, *, provider: str, jobs: int, concurrency: int, budget: float) -> Path:
    path = root / "m.yaml"
    path.write_text(
        f"""
name: shared
prompts:
  - {{id: lamp, template: "Lamp number {{{{ n }}}}"}}
provider: {provider}
matrix:
  n: {json.dumps(list(range(jobs)))}
defaults: {{duration: 6}}
output: {{path: "{{{{ n }}}}.mp4"}}
limits: {{concurrency: {concurrency}, max_credits: {budget}}}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Runner:
    proc: subprocess.Popen[str]
    logs: Path  # stdout and stderr go to files: a full pipe would stall the runner
    out: str = ""
    err: str = ""

    def finish(self, timeout: float) -> Runner:
        self.proc.wait(timeout=timeout)
        self.out = (self.logs / "out").read_text(encoding="utf-8")
        self.err = (self.logs / "err").read_text(encoding="utf-8")
        return self

    @property
    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.out)
        return result


class Fleet:
    """Runner processes on one manifest, one database and one emulator."""

    def __init__(self, root: Path, emu: Emulator, db: str, path: Path, lease: float) -> None:
        self.root, self.emu, self.db, self.path = root, emu, db, path
        self.env = dict(os.environ) | {"GROKBATCH_DB": db}
        for name in providers.NAMES:
            self.env[f"GROKBATCH_{name.upper()}_BASE_URL"] = emu.base_url(name)
            self.env[providers.get(name).key_env] = emu.api_key(name)
        self.tuning = json.dumps(TUNING | {"lease": lease})
        self.started = 0

    def start(self, host: str | None = None) -> Runner:
        argv = [sys.executable, "-c", WORKER, str(self.path), str(self.root / "out"), self.tuning]
        argv += [host] if host else []
        self.started += 1
        logs = self.root / f"runner{self.started}"
        logs.mkdir()
        with (logs / "out").open("w") as out, (logs / "err").open("w") as err:
            proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=err, text=True)
        return Runner(proc, logs)

    def rows(self) -> list[Any]:
        with open_store(self.db) as store:
            return list(store.jobs("shared"))

    def stats(self, provider: str) -> dict[str, Any]:
        result: dict[str, Any] = self.emu.stats()["providers"][provider]
        return result


class Sampler:
    """Reads the budget totals over and over while the runners work; keeps the highest."""

    def __init__(self, db: str, provider: str) -> None:
        self.db, self.provider = db, provider
        self.highest = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        store = open_store(self.db)
        try:
            while not self._stop.is_set():
                usage = store.usage("shared").get(self.provider)
                if usage is not None:
                    self.highest = max(self.highest, usage.committed_credits)
                    self.samples += 1
                self._stop.wait(0.02)
        finally:
            store.close()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def assert_clean(runner: Runner) -> None:
    """No traceback, no job ended by surprise, nothing falsely ambiguous."""
    assert "Traceback" not in runner.err, runner.err[-3000:]
    for line in runner.err.splitlines():
        kind = line.split()[1] if len(line.split()) > 1 else ""
        assert kind not in ("failed", "ambiguous", "late_answer"), line


@pytest.mark.slow
@pytest.mark.parametrize("apart", [0.0, 1.0])
def test_two_runners_on_one_sqlite_file_with_slow_submits_pay_once_and_crash_never(
    tmp_path: Path, apart: float
) -> None:
    # The scene: PixelDojo (no idempotency key) answering submits slowly, and a
    # second runner started while the first one's submits are still on the wire.
    path = manifest(tmp_path, provider="pixeldojo", jobs=12, concurrency=6, budget=1000)
    config = EmulatorConfig(latency=0.3, request_latency=1.5, seed=5)
    with Emulator(config) as emu:
        fleet = Fleet(tmp_path, emu, str(tmp_path / "state.db"), path, lease=30.0)
        first = fleet.start()
        time.sleep(apart)
        second = fleet.start()
        runners = [first.finish(120), second.finish(120)]
        stats = fleet.stats("pixeldojo")
    for runner in runners:
        assert runner.proc.returncode == 0, runner.err[-3000:]
        assert_clean(runner)
        assert runner.summary["states"] == {"done": 12}
    assert (stats["submissions"], stats["paid"], stats["duplicates"]) == (12, 12, 0)
    rows = fleet.rows()
    assert [r.state for r in rows] == [JobState.DONE] * 12
    assert all(r.attempts == 1 and r.owner is None for r in rows)
    # They shared the work: each submitted some, together each job once.
    submitted = [r.summary["submitted_this_run"] for r in runners]
    assert sum(submitted) == 12 and min(submitted) > 0, submitted


@pytest.mark.slow
def test_four_runners_on_postgresql_drain_2000_jobs_even_when_one_is_killed(
    tmp_path: Path,
    postgres_db: str,  # noqa: F811
) -> None:
    jobs, price = 2000, 10.0  # APIFrame: 10 credits for 6 s
    budget = jobs * price  # exactly enough: one job paid twice would not fit
    path = manifest(tmp_path, provider="apiframe", jobs=jobs, concurrency=50, budget=budget)
    with Emulator(EmulatorConfig(latency=0.2, seed=9)) as emu:
        fleet = Fleet(tmp_path, emu, postgres_db, path, lease=2.0)
        with Sampler(postgres_db, "apiframe") as sampler:
            # Four machines: the one killed is known dead only when its lease lapses.
            runners = [fleet.start(host=f"machine-{n}") for n in range(4)]
            victim = runners[1]
            with open_store(postgres_db) as store:
                deadline = time.monotonic() + 300
                while store.counts("shared")[JobState.DONE] < jobs // 2:
                    assert time.monotonic() < deadline, "the runners made no progress"
                    time.sleep(0.1)
                victim.proc.send_signal(signal.SIGKILL)
            for runner in runners:
                runner.finish(600)
        stats = fleet.stats("apiframe")
    assert victim.proc.returncode == -signal.SIGKILL
    for runner in runners:
        if runner is not victim:
            assert runner.proc.returncode == 0, runner.err[-3000:]
            assert_clean(runner)
            assert runner.summary["states"] == {"done": jobs}
    # Every job submitted exactly once (a takeover's resend is an idempotent replay).
    assert (stats["submissions"], stats["paid"], stats["duplicates"]) == (jobs, jobs, 0)
    assert stats["credits_charged"] == budget
    assert sampler.samples > 0 and sampler.highest <= budget
    rows = fleet.rows()
    assert all(r.state is JobState.DONE and r.owner is None for r in rows)
    assert all(
        verify(tmp_path / "out" / r.output_path, size=r.size or 0, sha256=r.sha256 or "")
        for r in rows
    )
    # What the killed runner held was taken over once its lease lapsed, by the others.
    killed = {
        e["detail"]["previous_owner"] for e in _events(postgres_db) if e["kind"] == "taken_over"
    }
    assert len(killed) == 1 and killed <= {r.id for r in _runners(postgres_db)}
    assert sum(r.spent_credits for r in rows) == budget


@pytest.mark.slow
def test_four_runners_at_50_in_flight_each_never_pass_the_shared_budget(
    tmp_path: Path,
    db_location: str,  # noqa: F811
) -> None:
    jobs, price, cap = 400, 10.0, 1000.0  # room for 100 of 400 jobs
    path = manifest(tmp_path, provider="apiframe", jobs=jobs, concurrency=50, budget=cap)
    with Emulator(EmulatorConfig(latency=0.3, request_latency=0.05, seed=4)) as emu:
        fleet = Fleet(tmp_path, emu, db_location, path, lease=30.0)
        with Sampler(db_location, "apiframe") as sampler:
            runners = [fleet.start() for _ in range(4)]
            for runner in runners:
                runner.finish(300)
        stats = fleet.stats("apiframe")
    for runner in runners:
        assert runner.proc.returncode == 3, runner.err[-3000:]  # stopped at the budget
        assert "Traceback" not in runner.err
    assert sampler.samples > 0 and sampler.highest <= cap
    assert stats["credits_charged"] == cap and stats["paid"] == cap / price
    assert stats["duplicates"] == 0
    # The event log agrees: the claims that fitted add up to the cap, no more.
    reserved = [e for e in _events(db_location) if e["kind"] == "reserved"]
    assert sum(e["detail"]["credits"] for e in reserved) == cap
    assert any(e["kind"] == "budget_blocked" for e in _events(db_location))


def _events(db: str) -> Iterator[dict[str, Any]]:
    with open_store(db) as store:
        yield from list(store.events("shared"))


def _runners(db: str) -> list[Any]:
    with open_store(db) as store:
        return store.runners()
