"""What the scheduler benchmarks share: an emulator in its own process, runs, memory.

The emulator runs as `grokbatch emulate` in a separate process (its own interpreter and
GIL), as an independent provider would: the figures are grokbatch's, not the emulator's
threads competing with it.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from grokbatch import providers
from grokbatch.emulator import DEFAULT_KEYS

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmulatorProcess:
    """`grokbatch emulate` on a free port, stopped on exit."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--port", str(self.port), *args]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grokbatch", "emulate", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.stats()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=5) as answer:
            data: dict[str, Any] = json.load(answer)
        return data

    def environ(self) -> dict[str, str]:
        """Every provider pointed at this emulator, with the key it accepts."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROKBATCH_")}
        for name in providers.NAMES:
            env[f"GROKBATCH_{name.upper()}_BASE_URL"] = self.base_url(name)
            env[providers.get(name).key_env] = DEFAULT_KEYS[name]
        return env


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `code` in a fresh interpreter (its peak memory its own); it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def requests_of(stats: dict[str, Any], provider: str) -> dict[str, int]:
    """The API requests a provider answered: submits, polls, lists (downloads apart)."""
    p = stats["providers"][provider]
    return {
        "submits": p["submissions"],
        "polls": p["polls"],
        "lists": p["list_requests"],
        "downloads": p["downloads"],
    }
