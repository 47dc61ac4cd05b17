"""Loading manifests, and what a user sees for every kind of mistake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grokbatch.errors import ManifestError, Problem
from grokbatch.expand import expand
from grokbatch.manifest import load

GOOD = """
name: t
provider: aivideoapi
prompts:
  - id: a
    template: "A {{ style }} lamp"
matrix:
  style: [noir, pastel]
  duration: [6, 10]
output:
  path: "{{ prompt.id }}/{{ style }}-{{ duration }}.mp4"
"""


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ManifestError) as info:
        expand(load(path))
    return info.value.problems


def test_a_good_manifest_loads_and_expands(write_manifest: Callable[..., Path]) -> None:
    jobs = expand(load(write_manifest(GOOD)))
    assert [j.output for j in jobs] == [
        "a/noir-6.mp4",
        "a/noir-10.mp4",
        "a/pastel-6.mp4",
        "a/pastel-10.mp4",
    ]
    assert jobs[0].prompt == "A noir lamp"
    assert jobs[0].params["duration"] == 6


# Each case: a broken manifest, the line the problem must point at, text the message must
# contain, and text the fix must contain. Every kind of mistake a user makes, one by one.
BROKEN = [
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts:\n  - id: a\n    template: 'x\n",
        5,
        "YAML syntax error",
        "quotes",
        id="yaml-unclosed-quote",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\n  prompts: []\n",
        3,
        "YAML syntax error",
        "indentation",
        id="yaml-bad-indent",
    ),
    pytest.param(
        "name: t\nname: u\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n",
        2,
        "duplicate key 'name'",
        "remove or rename",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        "provider: aivideoapi\nprompts: [{id: a, template: x}]\n",
        1,
        "missing required key 'name'",
        "add `name:`",
        id="schema-missing-name",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\nmatrx: {a: [1]}\n",
        4,
        "unknown key 'matrx'",
        "did you mean 'matrix'",
        id="schema-typo-top-level",
    ),
    pytest.param(
        "name: t\nprovider: aivideopi\nprompts: [{id: a, template: x}]\n",
        2,
        '"aivideopi" is not allowed',
        "aivideoapi",
        id="schema-unknown-provider",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  aspect_ratio: [16:9]\n",
        5,
        "YAML reads an unquoted 16:9 as 969",
        'quote it: "16:9"',
        id="yaml-sexagesimal-ratio",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  duration: ['6']\n",
        5,
        "should be of type integer",
        "without quotes",
        id="schema-quoted-number",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\nmatrix:\n  duration: 6\n",
        5,
        "should be of type array",
        "write a list",
        id="schema-axis-not-a-list",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "limits:\n  concurency: 3\n",
        5,
        "unknown key 'concurency'",
        "did you mean 'concurrency'",
        id="schema-typo-limit",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts:\n  - {id: a, template: x}\n"
        "  - {id: a, template: y}\n",
        5,
        "prompt id 'a' is used twice",
        "rename it",
        id="duplicate-prompt-id",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts:\n  - id: a\n    template: 'A {{ colour }}'\n"
        "vars: {color: red}\n",
        5,
        "undefined variable 'colour'",
        "color",
        id="template-undefined-variable",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts:\n  - id: a\n    template: 'A {{ x'\n",
        5,
        "template syntax error",
        "{{ }}",
        id="template-syntax",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts:\n  - id: a\n    template: |\n      line one\n"
        "      {% if x %}open\n",
        7,
        "template syntax error",
        "{% %}",
        id="template-syntax-block-line",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  duration: [6, 31]\n",
        5,
        "out of range",
        None,
        id="schema-duration-above-any-provider",
    ),
    pytest.param(
        "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  duration: [6, 8]\n",
        5,
        "APIFrame",
        "6, 10 or 15",
        id="provider-apiframe-duration",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "defaults:\n  duration: 3\n",
        5,
        "AI Video API",
        "6",
        id="provider-aivideoapi-duration-in-defaults",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  aspect_ratio: ['4:3']\n",
        5,
        "4:3",
        None,
        id="provider-aivideoapi-aspect-ratio",
    ),
    pytest.param(
        "name: t\nprovider: pixeldojo\nprompts: [{id: a, template: x}]\ndefaults: {mode: spicy}\n",
        4,
        "mode",
        None,
        id="provider-mode-unsupported",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts:\n  - id: a\n    template: x\n"
        "    image: https://e.example/a.png\n    mode: spicy\n",
        7,
        "spicy",
        None,
        id="provider-spicy-image-to-video",
    ),
    pytest.param(
        "name: t\nprovider: aimlapi\nprompts:\n  - id: a\n    template: x\n"
        "    image: https://e.example/a.png\n    reference_images: [https://e.example/b.png]\n",
        None,
        "image",
        None,
        id="provider-aimlapi-image-xor-references",
    ),
    pytest.param(
        "name: t\nprovider: vydra\nprompts: [{id: a, template: x}]\ndefaults: {resolution: 720p}\n",
        4,
        "resolution",
        None,
        id="provider-vydra-no-resolution",
    ),
    pytest.param(
        "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\ndefaults: {type: image}\n",
        4,
        "image",
        None,
        id="provider-video-only",
    ),
    pytest.param(
        "name: t\nprovider: apiframe\nprompts:\n  - id: a\n    template: '{{ \"x\" * 6000 }}'\n",
        5,
        "5000",
        None,
        id="provider-prompt-too-long",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: 'x {{ s }}'}]\n"
        "matrix:\n  s: [a, b]\noutput:\n  path: same.mp4\n",
        7,
        "both write 'same.mp4'",
        "output.path",
        id="two-jobs-one-file",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\nmatrix:\n  s: [a, b]\n",
        5,
        "identical, paid requests",
        "take",
        id="duplicate-request",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "output:\n  path: '../../etc/{{ prompt.id }}.mp4'\n",
        5,
        "escapes the output directory",
        "relative path",
        id="output-escapes-dir",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "output:\n  path: '/tmp/{{ prompt.id }}.mp4'\n",
        5,
        "escapes the output directory",
        None,
        id="output-absolute",
    ),
    pytest.param(
        "name: t\nprompts: [{id: a, template: x}]\n",
        None,
        "no provider given",
        "provider:",
        id="no-provider",
    ),
    pytest.param(
        "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n  provider: [apiframe, vydra]\n"
        "limits:\n  max_credits: 100\n",
        6,
        "different units",
        "apiframe: 500",
        id="one-budget-two-providers",
    ),
    pytest.param(
        "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\nlimits:\n  max_usd: 5\n",
        5,
        "does not publish",
        "usd_per_credit",
        id="max-usd-unknown-price",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  s: [a]\n  exclude:\n    - {colour: red}\n",
        7,
        "not a matrix axis",
        "exclude can only name axes",
        id="exclude-unknown-axis",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
        "matrix:\n  include:\n    - {prompt: b, duration: 6}\n",
        6,
        "no prompt has id 'b'",
        None,
        id="include-unknown-prompt",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: {file: missing.csv, template: x}\n",
        3,
        "not found",
        "relative to the manifest",
        id="prompts-file-missing",
    ),
    pytest.param(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\nmatrix:\n  prompt: [a]\n",
        5,
        "cannot be a matrix axis",
        "include/exclude",
        id="prompt-as-axis",
    ),
    pytest.param("- just\n- a list\n", 1, "must be a mapping", "campaign.yaml", id="not-a-mapping"),
]


@pytest.mark.parametrize(("text", "line", "message", "hint"), BROKEN)
def test_broken_manifest_is_reported_with_line_and_fix(
    write_manifest: Callable[..., Path],
    text: str,
    line: int | None,
    message: str,
    hint: str | None,
) -> None:
    path = write_manifest(text)
    problems = problems_of(path)
    hits = [p for p in problems if message in p.message]
    assert hits, f"no problem mentions {message!r}: {[p.format() for p in problems]}"
    problem = hits[0]
    assert problem.file == str(path)
    if line is not None:
        assert problem.line == line, problem.format()
    if hint is not None:
        assert problem.hint and hint in problem.hint, problem.format()


def test_every_problem_is_reported_at_once(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest(
        """
        name: t
        provider: aivideoapi
        prompts:
          - id: a
            template: "A {{ prodcut }}"
          - id: a
            template: "B {{ style }}"
        matrix:
          style: [x, y]
          duration: [2, 6]
        output:
          path: "../{{ style }}.mp4"
        """
    )
    text = "\n".join(p.format() for p in problems_of(path))
    for expected in (
        "undefined variable 'prodcut'",
        "used twice",
        "duration 2",
        "escapes the output directory",
    ):
        assert expected in text


def test_a_problem_shared_by_many_jobs_is_reported_once_with_a_count(
    write_manifest: Callable[..., Path],
) -> None:
    path = write_manifest(
        """
        name: t
        provider: apiframe
        prompts: [{id: a, template: "x {{ s }}"}]
        matrix:
          s: [a, b, c, d]
          duration: [7]
        """
    )
    [problem] = problems_of(path)
    assert problem.count == 4
    assert "4 jobs, first: prompt=a s=a" in problem.format()
    assert problem.job and "s=a" in problem.job


def test_problem_in_a_csv_row_names_the_csv_line(write_manifest: Callable[..., Path]) -> None:
    (write_manifest("x", name="rows.csv")).write_text(
        "id,thing,duration\nok,lamp,6\nbad,chair,7\n", encoding="utf-8"
    )
    path = write_manifest(
        """
        name: t
        provider: apiframe
        prompts: {file: rows.csv, template: "A {{ thing }}"}
        """
    )
    [problem] = problems_of(path)
    assert problem.file and problem.file.endswith("rows.csv")
    assert problem.line == 3


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load(tmp_path / "nope.yaml")
