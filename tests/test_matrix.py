"""The matrix rules, checked against GitHub's own examples and nektos/act's tests.

Sources of the cases (each case says which):
- GitHub docs, "Running variations of jobs in a workflow" (docs.github.com/en/actions/
  writing-workflows/choosing-what-your-workflow-does/running-variations-of-jobs-in-a-workflow):
  "Expanding or adding matrix configurations" and "Excluding matrix configurations".
- GitHub's workflow parser, `MatrixBuilder` (actions/runner, src/Sdk/WorkflowParser/
  Conversion/MatrixBuilder.cs): the examples in its doc comments, and its leaf-by-leaf
  filters compared with the expression `==`.
- nektos/act: pkg/model/workflow_test.go (TestReadWorkflow_Strategy on
  pkg/model/testdata/strategy/push.yml, TestMatrixOnlyIncludes), pkg/common/cartesian_test.go,
  and pkg/runner/testdata/matrix-include-exclude/push.yml.
- The `==` coercions: actions/languageservices expressions/src/result.ts (coerceTypes,
  equals) and the runner's ExpressionUtility.ParseNumber.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from grokbatch.expand import expand
from grokbatch.manifest import loads
from grokbatch.matrix import Grid, loose_equal, parse_number


def build(
    axes: Mapping[str, Sequence[Any]],
    include: Sequence[Mapping[str, Any]] = (),
    exclude: Sequence[Mapping[str, Any]] = (),
    prompt: str = "p",
) -> list[dict[str, Any]]:
    grid = Grid(list(axes.items()), include, exclude)
    unmatched: list[int] = []
    out = []
    for combo in grid.combos(prompt, unmatched):
        assert combo.indexes is not None
        row = {
            n: grid.values[p][i]
            for p, (n, i) in enumerate(zip(grid.names, combo.indexes, strict=True))
        }
        out.append(row | combo.extra)
    return out + [grid.standalone(j).extra for j in unmatched]


def test_github_docs_expanding_configurations() -> None:
    # GitHub docs: the fruit/animal example, with its six resulting combinations.
    got = build(
        {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    )
    assert got == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_github_docs_excluding_configurations() -> None:
    # GitHub docs: os × version × environment, one partial-match exclude → 10 of 12 remain.
    got = build(
        {
            "os": ["macos-latest", "windows-latest"],
            "version": [12, 14, 16],
            "environment": ["staging", "production"],
        },
        exclude=[
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    )
    assert len(got) == 9
    assert {"os": "windows-latest", "version": 16, "environment": "staging"} not in got
    assert {"os": "macos-latest", "version": 12, "environment": "staging"} in got


def test_act_strategy_all() -> None:
    # nektos/act TestReadWorkflow_Strategy, job strategy-all: exclude, then an extras-only
    # include added to every remaining combination, then two includes of their own.
    got = build(
        {"datacenter": ["site-c", "site-d"], "node-version": ["14.x", "16.x"], "site": ["staging"]},
        include=[
            {"php-version": 5.4},
            {"datacenter": "site-a", "node-version": "10.x", "site": "prod"},
            {"datacenter": "site-b", "node-version": "12.x", "site": "dev"},
        ],
        exclude=[{"datacenter": "site-d", "node-version": "14.x", "site": "staging"}],
    )
    assert got == [
        {"datacenter": "site-c", "node-version": "14.x", "site": "staging", "php-version": 5.4},
        {"datacenter": "site-c", "node-version": "16.x", "site": "staging", "php-version": 5.4},
        {"datacenter": "site-d", "node-version": "16.x", "site": "staging", "php-version": 5.4},
        {"datacenter": "site-a", "node-version": "10.x", "site": "prod"},
        {"datacenter": "site-b", "node-version": "12.x", "site": "dev"},
    ]


def test_act_matrix_only_includes() -> None:
    # nektos/act TestMatrixOnlyIncludes: no axes, so each include entry is one combination.
    got = build({}, include=[{"a": "1", "b": "2"}, {"a": "3", "b": "4"}])
    assert got == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_act_matrix_include_exclude_testdata() -> None:
    # nektos/act pkg/runner/testdata/matrix-include-exclude/push.yml: 2 × 4 − 1 + 1 = 8.
    got = build(
        {"os": ["ubuntu-18.04", "macos-latest"], "node": [4, 6, 8, 10]},
        include=[{"os": "ubuntu-16.04", "node": 10}],
        exclude=[{"os": "macos-latest", "node": 4}],
    )
    assert len(got) == 8
    assert got[-1] == {"os": "ubuntu-16.04", "node": 10}
    assert {"os": "macos-latest", "node": 4} not in got


def test_act_cartesian_product_order_and_size() -> None:
    # nektos/act pkg/common/cartesian_test.go: 4 × 3 × 2 = 24; GitHub: first axis slowest.
    got = build({"foo": [1, 2, 3, 4], "bar": ["a", "b", "c"], "baz": [False, True]})
    assert len(got) == 24
    assert got[:3] == [
        {"foo": 1, "bar": "a", "baz": False},
        {"foo": 1, "bar": "a", "baz": True},
        {"foo": 1, "bar": "b", "baz": False},
    ]


def test_matrix_builder_example_4_unmatched_includes_become_vectors() -> None:
    # MatrixBuilder's doc comment, example 4: {arch: x64} matches; {os: macos} does not.
    got = build(
        {"arch": ["x64", "x86"], "os": ["linux", "windows"]},
        include=[{"arch": "x64"}, {"os": "macos"}],
    )
    assert got[-1] == {"os": "macos"} and len(got) == 5


def test_an_include_never_overwrites_an_axis_value_but_overwrites_added_ones() -> None:
    got = build({"style": ["x"]}, include=[{"lens": "35mm"}, {"style": "x", "lens": "50mm"}])
    assert got == [{"style": "x", "lens": "50mm"}]


def test_an_unmatched_include_keeps_a_mapping_value_as_a_mapping() -> None:
    provider = {"name": "aivideoapi", "base_url": "http://127.0.0.1:9/x"}
    got = build({"style": ["a"]}, include=[{"style": "b", "provider": provider}])
    assert got[-1] == {"style": "b", "provider": provider}


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("10", 10, True),  # a string against a number compares as numbers
        ("Cinematic", "cinematic", True),  # strings ignore case
        (10, 10.0, True),
        (" 1e1 ", 10, True),  # Number() trims and reads exponents
        ("0x10", 16, True),  # and hexadecimal
        ("", 0, True),  # an empty string is 0
        (None, "", True),  # null is 0, and so is ""
        (True, 1, True),  # booleans are numbers
        (True, "true", False),  # ... and "true" is NaN as a number
        ("abc", math.nan, False),
        ("ı", "I", False),  # the dotless ı keeps its case, as in GitHub's toUpperSpecial
        ("10", "10.0", False),  # two strings compare as text
        ({"a": 1}, {"a": 1}, False),  # mappings are equal only to themselves
    ],
)
def test_github_loose_equality(left: Any, right: Any, equal: bool) -> None:
    assert loose_equal(left, right) is equal
    assert loose_equal(right, left) is equal


def test_parse_number_follows_githubs_number_rules() -> None:
    assert parse_number("12") == 12 and parse_number("-1.5e2") == -150
    assert parse_number("0o17") == 15 and parse_number("Infinity") == math.inf
    assert math.isnan(parse_number("12px")) and math.isnan(parse_number("1,000"))


def test_exclude_and_include_compare_loosely_and_mappings_leaf_by_leaf() -> None:
    axes = {
        "duration": [6, 10],
        "provider": [{"name": "xai", "model": "m"}, {"name": "aimlapi"}],
    }
    got = build(axes, exclude=[{"duration": "10"}], include=[{"provider": {"NAME": "XAI"}, "x": 1}])
    assert [g["duration"] for g in got] == [6, 6]
    assert got[0]["x"] == 1 and "x" not in got[1]


def test_prompts_are_an_outer_loop_and_prompt_entries_apply_to_their_prompt() -> None:
    text = """
name: t
provider: aivideoapi
prompts:
  - {id: hero, template: "{{ style }}"}
  - {id: detail, template: "d {{ style }}"}
matrix:
  include:
    - {style: noir}
    - {prompt: detail, style: pastel}
"""
    got = [(j.prompt_id, j.coords["style"]) for j in expand(loads(text))]
    # include-only: one job per entry, for every prompt it applies to (GitHub's rule 4)
    assert got == [("hero", "noir"), ("detail", "noir"), ("detail", "pastel")]


def test_a_provider_mapping_in_a_standalone_include_keeps_its_base_url() -> None:
    text = """
name: t
prompts: [{id: a, template: "{{ style }}"}]
matrix:
  include:
    - {style: x, provider: {name: aivideoapi, base_url: "http://127.0.0.1:9/x"}}
"""
    [job] = expand(loads(text))
    assert (job.provider, job.base_url) == ("aivideoapi", "http://127.0.0.1:9/x")


def test_an_exclude_that_removes_nothing_is_a_warning() -> None:
    from grokbatch.expand import Expander

    manifest = loads(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: '{{ s }}'}]\n"
        "matrix:\n  s: [x, y]\n  exclude:\n    - {s: z}\n"
    )
    expander = Expander(manifest)
    assert len(list(expander.jobs())) == 2 and not expander.problems
    [warning] = expander.warnings
    assert warning.line == 7 and "removes no combination" in warning.message
