"""run --dry-run: what a run now would do, from the state, with costs; nothing sent or written."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from grokbatch.cli import main

from .conftest import Batch

GRID = """
name: dry
provider: apiframe
prompts: [{id: hero, template: "A {{ style }} lamp"}]
matrix:
  style: [noir, cinematic, watercolor]
output: {path: "{{ style }}.mp4"}
limits: {max_credits: 100}
"""


@pytest.fixture
def keyless(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APIFRAME_API_KEY", "GROKBATCH_SANDBOX", "GROKBATCH_APIFRAME_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def dry_run(b: Batch, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["run", str(b.path), "--db", str(b.db), "--output-dir", str(b.out), "--dry-run", *args],
    )
    return result.exit_code, result.output


@pytest.mark.usefixtures("keyless")
def test_the_dry_run_reads_the_state_and_changes_nothing(batch: Callable[[str], Batch]) -> None:
    b = batch(GRID)
    assert b.run(only=["style=noir"]).exit_code == 0
    (b.out / "noir.mp4").unlink()  # gone: a run now would fetch it again, at no charge
    before = b.db.read_bytes()
    stats = b.emu.stats()

    code, output = dry_run(b, "--json")
    assert code == 0, output
    data = json.loads(output)
    assert data["dry_run"] is True
    assert data["actions"] == {"refetch": 1, "submit": 2}
    by_style = {r["coords"]["style"]: r for r in data["rows"]}
    assert by_style["noir"]["action"] == "refetch" and by_style["noir"]["estimated"] == 0
    assert by_style["cinematic"]["action"] == "submit" and by_style["cinematic"]["estimated"] == 10
    assert data["providers"]["apiframe"]["spent"] == 10  # what the state says was paid

    code, text = dry_run(b, "--only", "style=cinematic")
    assert code == 0
    assert text.startswith("dry run: nothing is sent or written")
    assert "1 job of 3 (--only style=cinematic)" in text and "a run now: 1 submit" in text

    assert b.db.read_bytes() == before  # no state written
    assert b.emu.stats() == stats  # no request sent, though there is no key at all
    assert not (b.out / "noir.mp4").exists()


@pytest.mark.usefixtures("keyless")
def test_a_dry_run_over_the_budget_left_exits_3_and_creates_nothing(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(GRID)
    code, text = dry_run(b, "--max-credits", "25")  # three jobs of 10
    assert code == 3 and "OVER BUDGET" in text
    assert not b.db.exists() and not b.out.exists()
