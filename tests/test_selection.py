"""Subsets: --only AXIS=VALUE, --only key=PREFIX and --limit N, for plan, dry run and run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from grokbatch.cli import main
from grokbatch.errors import InputError
from grokbatch.manifest import loads
from grokbatch.plan import make_plan
from grokbatch.selection import Selection
from grokbatch.state.base import JobState

from .conftest import Batch

GRID = """
name: grid
provider: apiframe
prompts:
  - {id: hero, template: "A {{ style }} lamp"}
  - {id: unbox, template: "Unboxing, {{ style }}"}
matrix:
  style: [noir, cinematic, watercolor]
  duration: [6, 10]
  exclude:
    - {prompt: unbox, style: watercolor, duration: 10}
output: {path: "{{ prompt.id }}/{{ style }}-{{ duration }}.mp4"}
limits: {max_credits: 1000}
"""


def plan_of(*only: str, limit: int | None = None) -> list[dict[str, object]]:
    plan = make_plan(loads(GRID), selection=Selection.parse(only, limit), with_rows=True)
    assert plan.rows is not None
    return plan.rows


def test_filters_on_one_axis_are_alternatives_and_on_several_must_all_hold() -> None:
    rows = plan_of("prompt=hero", "style=noir", "style=watercolor")
    assert [(r["coords"]["style"], r["coords"]["duration"]) for r in rows] == [  # type: ignore[index]
        ("noir", 6),
        ("noir", 10),
        ("watercolor", 6),
        ("watercolor", 10),
    ]
    assert {r["coords"]["prompt"] for r in rows} == {"hero"}  # type: ignore[index]


def test_numbers_are_matched_as_the_plan_prints_them() -> None:
    rows = plan_of("duration=10")
    assert len(rows) == 5 and {r["coords"]["duration"] for r in rows} == {10}  # type: ignore[index]


def test_a_key_prefix_selects_that_job() -> None:
    everything = plan_of()
    target = str(everything[4]["key"])
    [row] = plan_of(f"key={target[:10].upper()}")  # as copied, in any case
    assert row["key"] == target


def test_limit_keeps_the_first_jobs_in_plan_order_after_the_filters() -> None:
    everything = plan_of("prompt=unbox")
    assert [r["key"] for r in plan_of("prompt=unbox", limit=2)] == [
        r["key"] for r in everything[:2]
    ]


def test_the_plan_prices_only_the_selection_and_says_of_how_many() -> None:
    plan = make_plan(loads(GRID), selection=Selection.parse(["style=noir"], 1))
    assert plan.jobs == 1 and plan.selected_from == 11
    assert plan.totals["apiframe"].credits == 10  # one 6 s clip at APIFrame
    assert plan.to_json()["selection"] == {"only": {"style": ["noir"]}, "limit": 1, "of": 11}


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (["stlye=noir"], "no job has the axis 'stlye' (did you mean style?); the axes are "
         "prompt, style, duration"),
        (["style=nior"], "no job has style=nior (did you mean noir?); style has noir, "
         "cinematic, watercolor"),
        (["key=ffffffffff"], "no job's key starts with ffffffffff"),
        # An alternative that matches nothing is a typo too, even when another one matches.
        (["style=noir", "style=cinematc"], "--only style=cinematc: no job has style=cinematc"),
        (["prompt=unbox", "style=watercolor", "duration=10"], "each value exists, but no job "
         "has them all together"),
    ],
)  # fmt: skip
def test_a_filter_that_matches_nothing_says_what_exists(only: list[str], expected: str) -> None:
    with pytest.raises(InputError) as caught:
        plan_of(*only)
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("only", "limit", "expected"),
    [
        (["style"], None, "expected AXIS=VALUE"),
        (["=noir"], None, "expected AXIS=VALUE"),
        (["key=3fz"], None, "hexadecimal"),
        ([], 0, "--limit 0: must be at least 1"),
    ],
)
def test_malformed_filters_are_input_errors(
    only: list[str], limit: int | None, expected: str
) -> None:
    with pytest.raises(InputError, match=expected):
        Selection.parse(only, limit)


def test_plan_command_takes_the_filters(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest(GRID)
    result = CliRunner().invoke(
        main, ["plan", str(path), "--only", "prompt=hero", "--limit", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["jobs"] == 2 and data["selection"]["of"] == 11
    bad = CliRunner().invoke(main, ["plan", str(path), "--only", "prompt=heor"])
    assert bad.exit_code == 2 and "did you mean hero?" in bad.output


@pytest.mark.slow
def test_a_subset_run_sends_only_it_and_shares_state_and_budget(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(GRID)
    one = b.run(only=["style=noir"], limit=1)
    assert one.exit_code == 0 and one.total == 1 and one.submitted == 1
    assert b.stats("apiframe")["submissions"] == 1
    [row] = b.rows()  # only the selected job is recorded
    assert row.state is JobState.DONE and row.coords["style"] == "noir"
    # The full run counts its 10 credits against the same budget: none left at 10.
    capped = b.run(max_credits={"apiframe": 10})
    assert capped.exit_code == 3 and capped.total == 11 and capped.submitted == 0
    full = b.run()
    assert full.exit_code == 0 and full.submitted == 10  # the first one is done already
    assert b.stats("apiframe")["submissions"] == 11
    assert full.counts == {"done": 11}
    # A subset's summary counts the subset alone, though the store holds the whole batch.
    noir = b.run(only=["style=noir"])
    assert noir.submitted == 0 and 1 < noir.total < 11
    assert noir.counts == {"done": noir.total}


def test_a_subset_run_matching_nothing_sends_nothing(batch: Callable[[str], Batch]) -> None:
    b = batch(GRID)
    with pytest.raises(InputError, match="did you mean noir"):
        b.run(only=["style=nior"])
    assert b.stats("apiframe")["submissions"] == 0
    assert not b.db.exists()
