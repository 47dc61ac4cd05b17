"""The sandbox behaves like a provider across runs: Ctrl-C, rerun, nothing lost or paid twice.

The real command in a real process, as a user runs it: `grokbatch run
pipelines/campaign.yaml --sandbox` in a copy of the repository's pipelines, interrupted
halfway with SIGINT, then run again. The sandbox's emulator keeps its jobs in a file beside
the sandbox's state database, so the rerun finds them, as a real provider would.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.expand import expand
from grokbatch.manifest import load
from grokbatch.state import open_store
from grokbatch.state.base import JobState

from .conftest import REPO

COMMAND = [sys.executable, "-m", "grokbatch", "run", "pipelines/campaign.yaml", "--sandbox"]


def copy_of_pipelines(root: Path) -> Path:
    root.mkdir()
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    shutil.copytree(REPO / "schemas", root / "schemas")
    return root


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("GROKBATCH_")}
    # The campaign's 2 requests a second are a real account's limit: no use waiting here.
    return out | {"PYTHONUNBUFFERED": "1", "GROKBATCH_REQUESTS_PER_MINUTE": "6000"}


def submissions(state_file: Path) -> int:
    """What the sandbox's emulator has accepted so far, read from its file as it runs."""
    if not state_file.exists():
        return 0
    with sqlite3.connect(state_file) as db:
        row = db.execute(
            "SELECT value FROM counters WHERE provider = 'aivideoapi' AND name = 'submissions'"
        ).fetchone()
    return int(row[0]) if row else 0


def outcome(root: Path) -> tuple[dict[JobState, int], float, float]:
    """(job states, credits grokbatch recorded as spent, credits the emulator charged)."""
    store = open_store(root / "pipelines" / ".grokbatch" / "sandbox.db")  # beside the manifest
    try:
        rows = list(store.jobs(load(root / "pipelines" / "campaign.yaml").name))
    finally:
        store.close()
    states: dict[JobState, int] = {}
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    state_file = root / "pipelines" / ".grokbatch" / "sandbox-emulator.db"
    with Emulator(EmulatorConfig(state_file=str(state_file))) as emu:
        charged = emu.stats()["providers"]["aivideoapi"]["credits_charged"]
    return states, sum(r.spent_credits for r in rows), charged


@pytest.mark.slow
def test_the_campaign_resumes_after_ctrl_c_and_pays_what_an_uninterrupted_run_pays(
    tmp_path: Path,
) -> None:
    # The uninterrupted run goes on beside the interrupted one (each with its own sandbox).
    straight = copy_of_pipelines(tmp_path / "straight")
    whole = subprocess.Popen(
        COMMAND, cwd=straight, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    cut = copy_of_pipelines(tmp_path / "cut")
    jobs = len(list(expand(load(cut / "pipelines" / "campaign.yaml"))))
    state_file = cut / "pipelines" / ".grokbatch" / "sandbox-emulator.db"
    proc = subprocess.Popen(
        COMMAND, cwd=cut, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while submissions(state_file) < jobs // 2:
        assert proc.poll() is None and time.monotonic() < deadline, "never got halfway"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    halfway = outcome(cut)[0]
    assert halfway.get(JobState.DONE, 0) < jobs  # it was cut short

    _, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err[-2000:]
    expected = outcome(straight)
    assert expected[0] == {JobState.DONE: jobs} and expected[1] == expected[2] > 0

    again = subprocess.run(COMMAND, cwd=cut, env=env(), capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    states, spent, charged = outcome(cut)
    assert states == {JobState.DONE: jobs}  # resumed: nothing failed, nothing left
    assert (spent, charged) == (expected[1], expected[2])  # and nothing paid twice
