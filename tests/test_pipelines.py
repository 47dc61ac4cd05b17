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
