"""Every broken input in tests/bad_inputs.py: exit 2, the place named, nothing sent.

Each case runs `validate`, `plan` and `run` through the real CLI, in-process, with every
provider's base URL pointing at one emulator and dummy keys set: so `run` would really
submit if validation let anything through. The emulator's own counters must not move.
A timer guards each command: a runaway input fails its case instead of hanging the suite.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from grokbatch.cli import main
from grokbatch.emulator import PROVIDERS, Emulator, EmulatorConfig

from .bad_inputs import CASES, Case
from .conftest import REPO

GUARD_SECONDS = 20  # generous: every case takes well under a second


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.0), port=0) as emu:
        yield emu


@pytest.fixture
def env(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GROKBATCH_SANDBOX", raising=False)
    for name in PROVIDERS:
        monkeypatch.setenv(f"GROKBATCH_{name.upper()}_BASE_URL", emulator.base_url(name))
        monkeypatch.setenv(f"{name.upper()}_API_KEY", "dummy-key-for-tests")
    return emulator


def totals(emulator: Emulator) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{emulator.url}/_emulator/stats", timeout=5).json()
    return answer["totals"]


def _timeout(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"a command ran for more than {GUARD_SECONDS} s")


def invoke(args: list[str]) -> Result:
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.setitimer(signal.ITIMER_REAL, GUARD_SECONDS)
    try:
        return CliRunner().invoke(main, args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# The billion laughs spend their whole bound (seconds of CPU) on purpose: the full run only.
SLOW = {"yaml-billion-laughs", "yaml-billion-laughs-in-matrix"}
RUNS = [pytest.param(c, marks=pytest.mark.slow) if c.id in SLOW else c for c in CASES]


@pytest.mark.parametrize("case", RUNS, ids=[c.id for c in CASES])
def test_a_broken_input_exits_2_naming_the_place_and_sends_nothing(
    case: Case, env: Emulator, tmp_path: Path
) -> None:
    for name, content in case.files.items():
        target = tmp_path / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    if case.setup is not None:
        case.setup(tmp_path)
    before = totals(env)
    for command in case.commands:
        args = [command, "m.yaml", *(case.args if command != "validate" else ())]
        result = invoke(args)
        output = result.output
        assert not isinstance(result.exception, TimeoutError), f"{command}: {result.exception}"
        assert result.exit_code == 2, f"{command} exited {result.exit_code}:\n{output}"
        assert isinstance(result.exception, SystemExit), f"{command}: {result.exception!r}"
        assert "Traceback" not in output
        assert case.place in output, f"{command}: {case.place!r} not named in:\n{output}"
        if case.fix is not None:
            assert case.fix in output, f"{command}: fix {case.fix!r} not in:\n{output}"
        if "problem" in output:  # one mistake is one problem, with its fix
            assert "error: 1 problem found:" in output, f"{command}:\n{output}"
            assert "\n    fix: " in output, f"{command}:\n{output}"
    assert totals(env) == before, "the emulator was sent something"
    assert not (tmp_path / ".grokbatch").exists(), "run opened a state database"


def test_the_corpus_covers_every_class_of_mistake() -> None:
    groups = {c.group for c in CASES}
    assert groups == {"yaml", "schema", "provider", "template", "file", "grid", "output", "flags"}
    assert len(CASES) >= 200
    assert len({c.id for c in CASES}) == len(CASES)


# Inputs that would each take hours or gigabytes without the bounds.
HEAVY = [
    "yaml-billion-laughs",
    "yaml-billion-laughs-in-matrix",
    "yaml-deep-nesting",
    "yaml-huge-file",
    "template-string-repeat",
    "template-list-repeat",
    "template-power-tower",
    "template-printf-width",
    "template-nested-loops",
    "template-macro-recursion",
    "template-doubling",
    "template-join-growth",
    "template-replace-growth",
    "template-rendered-too-long",
    "grid-billion-jobs",
]
MEASURE = """
import json, os, resource, sys, tempfile
from pathlib import Path
from click.testing import CliRunner
from grokbatch.cli import main
from tests.bad_inputs import CASES
for case in CASES:
    if case.id not in sys.argv[1:]:
        continue
    os.chdir(tempfile.mkdtemp())
    for name, content in case.files.items():
        Path(name).write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(main, ["validate", "m.yaml"])
    assert result.exit_code == 2, (case.id, result.output)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.mark.slow
def test_runaway_inputs_stay_within_a_few_hundred_megabytes() -> None:
    # A fresh process, so that its peak memory is the inputs' own.
    assert set(HEAVY) <= {c.id for c in CASES}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *HEAVY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1])["peak_mb"] < 300
