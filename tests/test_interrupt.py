"""Ctrl-C and SIGTERM: stop submitting, keep the state consistent, exit 130; resume later.

The real command in a real process, signalled as a user (or CI) would, against the emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokbatch import providers
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.state import open_store
from grokbatch.state.base import JobState

MANIFEST = """
name: interrupt
provider: apiframe
prompts: [{id: p, template: "Lamp {{ n }}"}]
matrix: {n: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]}
output: {path: "{{ n }}.mp4"}
limits: {concurrency: 4}
"""


def start(tmp_path: Path, emu: Emulator) -> subprocess.Popen[str]:
    env = dict(os.environ)
    for name in providers.NAMES:
        env[f"GROKBATCH_{name.upper()}_BASE_URL"] = emu.base_url(name)
        env[providers.get(name).key_env] = emu.api_key(name)
    env.pop("GROKBATCH_SANDBOX", None)
    return subprocess.Popen(
        [sys.executable, "-m", "grokbatch", "run", "m.yaml", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_submissions(emu: Emulator, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while emu.stats()["providers"]["apiframe"]["submissions"] < n:
        assert time.monotonic() < deadline, "the run never started submitting"
        time.sleep(0.05)


def states(tmp_path: Path) -> list[JobState]:
    store = open_store(tmp_path / ".grokbatch" / "state.db")
    try:
        return [r.state for r in store.jobs("interrupt")]
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_stops_cleanly_and_a_rerun_finishes(tmp_path: Path, sig: int) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST, encoding="utf-8")
    with Emulator(EmulatorConfig(latency=3.0, seed=1)) as emu:
        proc = start(tmp_path, emu)
        wait_for_submissions(emu, 2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err[-2000:]
        summary = json.loads(out)
        assert summary["interrupted"] and summary["exit_code"] == 130
        left = states(tmp_path)
        # A sent submit was awaited and recorded: nothing is left half-submitted.
        assert JobState.SUBMITTING not in left and JobState.AMBIGUOUS not in left
        assert JobState.DONE not in left or len(left) == 20
        emu.configure(latency=0.0)
        rerun = start(tmp_path, emu)
        out, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, err[-2000:]
        stats = emu.stats()["providers"]["apiframe"]
    assert set(states(tmp_path)) == {JobState.DONE}
    assert stats["submissions"] == 20 and stats["duplicates"] == 0


def wait_for_state(tmp_path: Path, state: JobState, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not (tmp_path / ".grokbatch" / "state.db").exists() or state not in states(tmp_path):
        assert time.monotonic() < deadline, f"no job reached {state.value}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_second_ctrl_c_quits_at_once_and_the_state_stays_consistent(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST, encoding="utf-8")
    # Every answer takes 3 s: after the first Ctrl-C the run would wait for the submits in
    # flight (claimed, their answers not back yet); the second one must not.
    with Emulator(EmulatorConfig(latency=5.0, seed=2, request_latency=3.0)) as emu:
        proc = start(tmp_path, emu)
        wait_for_state(tmp_path, JobState.SUBMITTING)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        assert proc.poll() is None, "the first Ctrl-C did not wait for the submits in flight"
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 2, "the second Ctrl-C did not stop at once"
        # 130, or killed by SIGINT when it lands as the interpreter exits: a shell sees 130.
        assert proc.returncode in (130, -signal.SIGINT), err[-2000:]
        assert emu.stats()["providers"]["apiframe"]["submissions"] == 0  # all cut on the wire
        emu.configure(latency=0.0, request_latency=0.0)
        rerun = start(tmp_path, emu)
        _, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, err[-2000:]  # APIFrame: cut-off submits replayed safely
        stats = emu.stats()["providers"]["apiframe"]
    assert set(states(tmp_path)) == {JobState.DONE}
    assert stats["duplicates"] == 0 and stats["paid"] == 20
