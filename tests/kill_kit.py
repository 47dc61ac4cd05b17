"""Runs in a subprocess, killed with SIGKILL at random moments: the crash tests' shared part."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

from grokbatch import providers
from grokbatch.emulator import Emulator


def emulator_env(emu: Emulator) -> dict[str, str]:
    """This process's environment, with every provider pointed at the emulator."""
    env = dict(os.environ)
    for name in providers.NAMES:
        env[f"GROKBATCH_{name.upper()}_BASE_URL"] = emu.base_url(name)
        env[providers.get(name).key_env] = emu.api_key(name)
    return env


def kill_repeatedly(
    argv: list[str],
    env: dict[str, str],
    rng: random.Random,
    *,
    times: int = 10,
    between: tuple[float, float] = (0.5, 2.0),
) -> int:
    """Start `argv` `times` times, each killed (SIGKILL) after a random while unless it
    ended first; returns how many were killed. Each must end killed, or with exit 0 or 1."""
    kills = 0
    for _ in range(times):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(*between))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _, err = proc.communicate(timeout=30)
        assert proc.returncode in (-signal.SIGKILL, 0, 1), err.decode()[-2000:]
    return kills
