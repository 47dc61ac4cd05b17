"""Fixtures shared by every test module."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokbatch import api, providers
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.manifest import load
from grokbatch.progress import Reporter, Tee
from grokbatch.state import open_store
from grokbatch.state.base import JobRow
from grokbatch.summary import RunSummary

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: run in parallel (`-n`), they start at once instead of last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Write a manifest (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


# --- the emulator and runs against it: one fixture for every test file --------------------

# Run settings that make a run against the emulator fast: poll and back off in tens of ms.
FAST = {
    "poll_initial": 0.02,
    "poll_min": 0.01,
    "poll_max": 0.2,
    "backoff_base": 0.01,
    "backoff_cap": 0.2,
    "handle_signals": False,
    # Lost submits are looked up at once: the emulator lists a job as soon as it is made.
    "settle_window": 1.0,
    "clock_skew": 0.2,
}


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A fresh emulator on loopback. Set it per test with `@pytest.mark.emulator(latency=2)`
    (any EmulatorConfig field), or live with `emulator.configure(...)`."""
    marker = request.node.get_closest_marker("emulator")
    settings: dict[str, Any] = {"latency": 0.1, "seed": 7} | (marker.kwargs if marker else {})
    with Emulator(EmulatorConfig(**settings)) as emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The same emulator under the short name the raw-HTTP emulator tests use (they set
    `pytestmark = pytest.mark.emulator(latency=0.0, ...)`)."""
    return emulator


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:  # one for all: building one takes ~30 ms
        yield client


def environ_for(emu: Emulator, key: str | None = None) -> dict[str, str]:
    """An environment that points every provider at the emulator, with the key it accepts
    (or `key`, to try a wrong one)."""
    env: dict[str, str] = {}
    for name in providers.NAMES:
        adapter = providers.get(name)
        env[f"GROKBATCH_{name.upper()}_BASE_URL"] = emu.base_url(name)
        env[adapter.key_env] = key if key is not None else emu.api_key(name)
    return env


class Recorder(Reporter):
    """A silent reporter that remembers events, to check what the user was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str]] = []

    def event(self, kind: str, job: Any, detail: str = "", *, row: Any = None) -> None:
        self.events.append((kind, job.key if job else None, detail))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.events]


class Batch:
    """One manifest in a temporary folder, run against one emulator."""

    def __init__(self, root: Path, emu: Emulator, text: str) -> None:
        self.root = root
        self.emu = emu
        self.path = root / "m.yaml"
        self.path.write_text(text, encoding="utf-8")
        self.db = root / "state.db"
        self.out = root / "out"
        self.reporter = Recorder()

    def run(
        self, env: dict[str, str] | None = None, *, also: Reporter | None = None, **kwargs: Any
    ) -> RunSummary:
        """Run the manifest; `also`: a reporter that sees the events besides the Recorder."""
        self.reporter = Recorder()
        tuning = FAST | kwargs.pop("tuning", {})
        summary: RunSummary = api.run(
            self.path,
            db=self.db,
            output_dir=self.out,
            environ=env if env is not None else environ_for(self.emu),
            reporter=self.reporter if also is None else Tee(self.reporter, also),
            sandbox=False,
            tuning=tuning,
            **kwargs,
        )
        return summary

    def rows(self) -> list[JobRow]:
        with open_store(self.db) as store:
            return list(store.jobs(load(self.path).name))

    def stats(self, provider: str) -> dict[str, Any]:
        result: dict[str, Any] = self.emu.stats()["providers"][provider]
        return result


@pytest.fixture
def batch(tmp_path: Path, emulator: Emulator) -> Callable[[str], Batch]:
    """`batch(manifest_text)`: a Batch in this test's folder, against its emulator."""
    return lambda text: Batch(tmp_path, emulator, text)
