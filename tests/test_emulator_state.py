"""The emulator's state file: a sandbox that behaves like a provider across restarts.

Jobs, balances, counters, idempotency keys and client request ids survive a restart (and
a SIGKILL); times are wall-clock, so a job submitted before a restart has finished, or
expired, by the right time after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from grokbatch.emulator import Emulator, EmulatorConfig

from .emulator_kit import APIS, NAMES, frame_video_url, poll, stats, submit, submitted_id


def test_everything_survives_a_restart(tmp_path: Path, http: httpx.Client) -> None:
    path = str(tmp_path / "emulator.db")
    frame, aiml = APIS["apiframe"], APIS["aimlapi"]
    with Emulator(EmulatorConfig(latency=0.0, seed=1, state_file=path)) as emu:
        ids = {name: submitted_id(emu, http, APIS[name]) for name in NAMES}
        emu.set_credits("vydra", 1000)
        key = {"Idempotency-Key": "job-42"}
        first = submit(emu, http, frame, frame.body | {"prompt": "Kept"}, key).json()["jobId"]
        submit(emu, http, aiml, aiml.body | {"prompt": "Traced"}, {"X-Client-Request-Id": "r-1"})
        url = frame_video_url(poll(emu, http, frame, ids["apiframe"])["result"])
        before = emu.stats()
    with Emulator(EmulatorConfig(latency=0.0, seed=1, state_file=path)) as emu:
        assert emu.stats() == before  # counters, balances, charges, job states
        for name, job_id in ids.items():
            assert poll(emu, http, APIS[name], job_id)["status"] == APIS[name].walk[-1]
        replay = submit(emu, http, frame, frame.body | {"prompt": "Kept"}, key)
        assert replay.json()["jobId"] == first  # the key is remembered: nothing charged
        assert (
            stats(emu, "apiframe")["credits_charged"]
            == before["providers"]["apiframe"]["credits_charged"]
        )
        got = http.get(url.replace(url.split("/_files/")[0], emu.url))  # signed before
        assert got.status_code == 200
        rows = http.get(f"{emu.base_url('aimlapi')}/v2/logs?period=1h", headers=aiml.headers())
        assert {r["client_request_id"] for r in rows.json()["data"]} == {None, "r-1"}
        assert stats(emu, "vydra")["balance"] == 1000  # as set, after the job was charged
        emu.reset()
    with Emulator(EmulatorConfig(state_file=path)) as emu:
        assert emu.stats()["totals"]["submissions"] == 0  # a reset empties the file too


@pytest.mark.slow
def test_a_job_finishes_and_expires_by_the_wall_clock_across_a_restart(
    tmp_path: Path, http: httpx.Client
) -> None:
    path = str(tmp_path / "emulator.db")
    api = APIS["xai"]
    with Emulator(EmulatorConfig(latency=0.3, url_ttl=0.6, state_file=path)) as emu:
        job_id = submitted_id(emu, http, api)
        assert poll(emu, http, api, job_id)["status"] == "pending"
    time.sleep(0.4)  # the job finished while no emulator was running
    with Emulator(EmulatorConfig(state_file=path)) as emu:
        assert poll(emu, http, api, job_id)["status"] == "done"
        assert stats(emu, "xai")["credits_charged"] == api.price
    time.sleep(0.6)
    with Emulator(EmulatorConfig(state_file=path)) as emu:
        assert poll(emu, http, api, job_id)["status"] == "expired"


def test_the_state_file_survives_sigkill(tmp_path: Path, http: httpx.Client) -> None:
    path = tmp_path / "emulator.db"
    env = dict(os.environ) | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "grokbatch", "emulate", "--port=0", "--latency=0",
         f"--state-file={path}"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        root = proc.stdout.readline().split(" on ")[1].split()[0]
        api = APIS["vydra"]
        for i in range(20):
            answer = http.post(
                f"{root}/vydra{api.submit_path}",
                json=api.body | {"prompt": f"Lamp {i}"},
                headers=api.headers(),
            )
            assert answer.status_code == 202
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    with Emulator(EmulatorConfig(state_file=str(path))) as emu:
        entry = stats(emu, "vydra")
    assert (entry["submissions"], entry["credits_charged"]) == (20, 3000)
    assert entry["jobs"] == {"ok": 20}
