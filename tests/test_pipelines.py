"""Every example manifest in pipelines/ is valid and plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from grokbatch.manifest import load
from grokbatch.plan import make_plan

from .conftest import REPO

PIPELINES = sorted((REPO / "pipelines").glob("*.yaml"))


def test_there_is_one_example_per_provider_and_a_campaign() -> None:
    names = {p.stem for p in PIPELINES}
    assert {"campaign", "pixeldojo", "aimlapi", "aivideoapi", "apiframe", "vydra", "xai"} <= names


@pytest.mark.parametrize("path", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_example_plans_within_its_budget(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schemas/manifest.schema.json")
    plan = make_plan(load(path))
    assert plan.jobs > 0
    assert not plan.over_budget, plan.to_json()


def test_campaign_has_the_documented_shape() -> None:
    plan = make_plan(load(REPO / "pipelines" / "campaign.yaml"))
    # 3 prompts × 3 styles × 2 ratios × 2 durations, minus 3×2 claymation long cuts, plus
    # the hero's square cut.
    assert plan.jobs == 3 * 3 * 2 * 2 - 3 * 2 + 1


# The campaign (its 37 jobs across every provider) waits for the full run.
RUNS = [pytest.param(p, marks=pytest.mark.slow) if p.stem == "campaign" else p for p in PIPELINES]


@pytest.mark.parametrize("path", RUNS, ids=[p.stem for p in PIPELINES])
def test_example_runs_end_to_end_in_the_sandbox(path: Path, tmp_path: Path) -> None:
    from grokbatch import api
    from grokbatch.progress import Reporter
    from grokbatch.state import open_store
    from grokbatch.state.base import JobState

    summary = api.run(
        path,
        sandbox=True,
        db=tmp_path / "sandbox.db",
        output_dir=tmp_path / "out",
        reporter=Reporter(),
        environ={},  # no key anywhere: the sandbox needs none
        emulator_options={"latency": 0.05},
        # The examples' rate limits are for real accounts; here they would only add waiting.
        tuning={
            "poll_initial": 0.02,
            "poll_max": 0.1,
            "handle_signals": False,
            "requests_per_minute": {},
        },
    )
    assert summary.exit_code == 0, summary.to_json()
    store = open_store(tmp_path / "sandbox.db")
    try:
        rows = list(store.jobs(load(path).name))
    finally:
        store.close()
    assert rows and all(r.state is JobState.DONE for r in rows)
    for row in rows:
        data = (tmp_path / "out" / row.output_path).read_bytes()
        assert len(data) == row.size
        assert data[4:8] == b"ftyp" or data[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "report.html").exists()
