"""Fixtures shared by every test module."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from grokbatch.emulator import Emulator, EmulatorConfig

REPO = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """The emulator, every job done at its first poll, seeded (raw-HTTP emulator tests)."""
    with Emulator(EmulatorConfig(latency=0.0, seed=7, retry_after=0.5)) as e:
        yield e


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:  # one for all: building one takes ~30 ms
        yield client
