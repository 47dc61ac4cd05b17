"""One way to write an amount: the plan, the budget line and the report agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from grokbatch.budget import ProviderBudget
from grokbatch.formatting import BASIS_MARK, amount
from grokbatch.manifest import loads
from grokbatch.plan import format_plan, make_plan
from grokbatch.report import render_report

from .test_report import Page, make_row


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1200, "1,200"),
        (1_000_000.0, "1,000,000"),
        (14.4, "14.4"),
        (0.25, "0.25"),
        (1234.5, "1,234.5"),
        (0.0004, "0.0004"),  # a tiny per-second price does not read as 0
        (-0.0000001, "0"),
        (-3, "-3"),
        (None, "-"),
    ],
)
def test_amount(value: float | None, text: str) -> None:
    assert amount(value) == text


def test_basis_marks() -> None:
    assert BASIS_MARK == {"published": "", "declared": "*", "guessed": "~"}


@pytest.mark.parametrize(("credits", "text"), [(14.4, "14.4"), (1234.5, "1,234.5")])
def test_plan_budget_and_report_write_an_amount_alike(
    credits: float, text: str, tmp_path: Path
) -> None:
    manifest = loads(
        f"""
name: same
provider: vydra
prompts: [{{id: a, template: "a fox"}}]
defaults: {{type: image}}
prices: {{vydra: {{credits_per_job: {credits}}}}}
output: {{path: "a.png"}}
"""
    )
    plan_text = format_plan(make_plan(manifest))
    assert f" {text}* " in plan_text  # declared price, marked
    assert f" {text} " in ProviderBudget(spent=credits, reserved=0, limit=None).format("vydra")
    page = Page(
        render_report(
            [make_row(estimated_credits=credits, spent_credits=credits, charged_credits=credits)],
            manifest_name="same",
            output_dir=tmp_path,
            report_path=tmp_path / "r.html",
        )
    )
    assert text in [t for w, t in page.text if w == "td"]
