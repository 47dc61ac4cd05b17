"""Pricing a manifest: totals per provider, USD, price basis, budget verdict, CLI exits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from grokbatch.cli import main
from grokbatch.errors import InputError
from grokbatch.manifest import loads
from grokbatch.plan import format_plan, make_plan

TIERS = """
name: tiers
provider: apiframe
prompts: [{id: a, template: "city at {{ t }}"}]
matrix:
  t: [dawn, dusk]
  duration: [6, 10, 15]
output: {path: "{{ t }}-{{ duration }}.mp4"}
limits: {max_credits: 100}
"""


def test_published_prices_are_summed_per_provider() -> None:
    plan = make_plan(loads(TIERS))
    assert plan.jobs == 6
    assert plan.totals["apiframe"].credits == 2 * (10 + 15 + 25)
    assert plan.totals["apiframe"].bases == {"published"}
    assert not plan.over_budget


def test_over_budget_is_flagged_and_cli_exits_3(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest(TIERS.replace("max_credits: 100", "max_credits: 99"))
    result = CliRunner().invoke(main, ["plan", str(path)])
    assert result.exit_code == 3
    assert "OVER BUDGET" in result.output


def test_command_line_budget_overrides_the_manifest(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest(TIERS)
    assert CliRunner().invoke(main, ["plan", str(path), "--max-credits", "50"]).exit_code == 3
    ok = CliRunner().invoke(main, ["plan", str(path), "--max-credits", "apiframe=100"])
    assert ok.exit_code == 0, ok.output


def test_json_output_has_the_documented_keys(write_manifest: Callable[..., Path]) -> None:
    result = CliRunner().invoke(main, ["plan", str(write_manifest(TIERS)), "--json"])
    data = json.loads(result.output)
    assert data["jobs"] == 6
    assert data["estimated_credits"] == {"apiframe": 100}
    assert data["over_budget"] is False
    assert data["price_basis"] == {"apiframe": ["published"]}


def test_usd_totals_where_every_price_is_known() -> None:
    plan = make_plan(
        loads(
            "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n  provider: [aivideoapi, xai]\n"
            "defaults: {duration: 10, resolution: 720p}\noutput: {path: '{{ provider }}.mp4'}\n"
        )
    )
    assert plan.totals["aivideoapi"].credits == 45  # 4.5 credits/s at 720p
    assert plan.totals["aivideoapi"].usd == pytest.approx(45 * 0.005)
    assert plan.totals["xai"].usd == pytest.approx(0.7)  # 0.07 $/s at 720p
    assert plan.total_usd == pytest.approx(0.225 + 0.7)


def test_unknown_usd_price_makes_the_total_unknown() -> None:
    plan = make_plan(
        loads(
            "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n"
            "  provider: [apiframe, xai]\ndefaults: {duration: 6}\n"
            "output: {path: '{{ provider }}.mp4'}\n"
        )
    )
    assert plan.totals["apiframe"].usd is None
    assert plan.total_usd is None
    assert "?" in format_plan(plan)


def test_declared_and_guessed_prices_are_marked() -> None:
    guessed = make_plan(
        loads(
            "name: t\nprovider: aimlapi\nprompts: [{id: a, template: x}]\n"
            "defaults: {duration: 10, resolution: 720p}\n"
        )
    )
    assert guessed.totals["aimlapi"].bases == {"guessed"}
    assert "~ rests on a guessed price" in format_plan(guessed)
    declared = make_plan(
        loads(
            "name: t\nprovider: aimlapi\nprompts: [{id: a, template: x}]\n"
            "defaults: {duration: 10, resolution: 720p}\n"
            "prices: {aimlapi: {credits_per_second: {720p: 150000}, usd_per_credit: 0.0000005}}\n"
        )
    )
    assert declared.totals["aimlapi"].credits == 1_500_000
    assert declared.totals["aimlapi"].bases == {"declared"}
    assert declared.totals["aimlapi"].usd == pytest.approx(0.75)
    assert "* rests on a price declared" in format_plan(declared)


def test_max_usd_is_checked() -> None:
    plan = make_plan(
        loads(
            "name: t\nprovider: xai\nprompts: [{id: a, template: '{{ n }}'}]\n"
            "matrix: {n: [1, 2, 3]}\ndefaults: {duration: 10, resolution: 720p}\n"
            "output: {path: '{{ n }}.mp4'}\nlimits: {max_usd: 2}\n"
        )
    )
    assert plan.total_usd == pytest.approx(2.1)
    assert plan.over_budget


def test_a_bare_budget_is_ambiguous_with_several_providers() -> None:
    manifest = loads(
        "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n"
        "  provider: [apiframe, vydra]\ndefaults: {duration: 6}\n"
        "output: {path: '{{ provider }}.mp4'}\n"
    )
    with pytest.raises(InputError, match="PROVIDER=N"):
        make_plan(manifest, max_credits={"*": 10})


def test_large_plans_print_a_summary_not_every_job() -> None:
    manifest = loads(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: '{{ n }}'}]\n"
        "matrix: {n: [" + ",".join(map(str, range(100))) + "]}\n"
        "output: {path: '{{ n }}.mp4'}\n"
    )
    text = format_plan(make_plan(manifest))
    assert "100 jobs" in text
    assert "… 92 more" in text
    assert len(text.splitlines()) < 20
