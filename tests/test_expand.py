"""Grid expansion: GitHub-style include/exclude, stable job keys, prompt files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from grokbatch.expand import Expander, expand
from grokbatch.jobs import canonical_json, job_key, job_key_fast
from grokbatch.manifest import load, loads

BASE = """
name: t
provider: aivideoapi
prompts:
  - id: a
    template: "{{ style }} {{ duration }}"
  - id: b
    template: "B {{ style }} {{ duration }}"
"""


def coords(text: str) -> list[dict[str, object]]:
    return [dict(j.coords) for j in expand(loads(text))]


def test_cartesian_product_with_prompts_outermost() -> None:
    got = coords(BASE + "matrix:\n  style: [x, y]\n  duration: [6, 10]\n")
    assert [(c["prompt"], c["style"], c["duration"]) for c in got] == [
        ("a", "x", 6),
        ("a", "x", 10),
        ("a", "y", 6),
        ("a", "y", 10),
        ("b", "x", 6),
        ("b", "x", 10),
        ("b", "y", 6),
        ("b", "y", 10),
    ]


def test_exclude_removes_partial_matches_and_can_name_a_prompt() -> None:
    got = coords(
        BASE + "matrix:\n  style: [x, y]\n  duration: [6, 10]\n  exclude:\n"
        "    - {style: y, duration: 10}\n    - {prompt: b, style: x}\n"
    )
    assert [(c["prompt"], c["style"], c["duration"]) for c in got] == [
        ("a", "x", 6),
        ("a", "x", 10),
        ("a", "y", 6),
        ("b", "y", 6),
    ]


def test_include_extends_matching_combinations_without_overwriting_axes() -> None:
    got = coords(
        BASE + "matrix:\n  style: [x, y]\n  duration: [6]\n  include:\n"
        "    - {style: x, lens: 35mm}\n"
    )
    assert [c.get("lens") for c in got] == ["35mm", None, "35mm", None]


def test_include_that_matches_nothing_adds_a_combination_per_prompt() -> None:
    got = coords(
        BASE + "matrix:\n  style: [x]\n  duration: [6]\n  include:\n"
        "    - {style: z, duration: 10}\n"
    )
    assert [(c["prompt"], c["style"], c["duration"]) for c in got] == [
        ("a", "x", 6),
        ("b", "x", 6),
        ("a", "z", 10),
        ("b", "z", 10),
    ]


def test_include_naming_a_prompt_adds_only_that_prompt() -> None:
    got = coords(
        BASE + "matrix:\n  style: [x]\n  duration: [6]\n  include:\n"
        "    - {prompt: b, style: z, duration: 10}\n"
    )
    assert [(c["prompt"], c["style"]) for c in got] == [("a", "x"), ("b", "x"), ("b", "z")]


def test_include_with_only_new_keys_applies_to_every_combination() -> None:
    got = coords(
        BASE + "matrix:\n  style: [x, y]\n  duration: [6]\n  include:\n    - {grade: warm}\n"
    )
    assert all(c["grade"] == "warm" for c in got) and len(got) == 4


def test_key_ignores_yaml_formatting_order_and_comments() -> None:
    one = loads(BASE + "matrix:\n  style: [x]\n  duration: [6]\n")
    two = loads(
        "# a comment\nprompts:\n  - {template: '{{ style }} {{ duration }}', id: a}\n"
        "  - {id: b, template: 'B {{ style }} {{ duration }}'}\n"
        'matrix: {duration: [6], style: ["x"]}\nprovider: aivideoapi\nname: other\n'
    )
    assert [j.key for j in expand(one)] == [j.key for j in expand(two)]


def test_key_changes_with_prompt_and_parameters_but_not_output_path() -> None:
    base = BASE + "matrix:\n  style: [x]\n  duration: [6]\n"
    [a, _] = expand(loads(base))
    [moved, _] = expand(loads(base + "output: {path: 'elsewhere/{{ key }}.mp4'}\n"))
    [longer, _] = expand(loads(base.replace("duration: [6]", "duration: [7]")))
    [reworded, _] = expand(loads(base.replace('"{{ style }}', '"new {{ style }}')))
    assert a.key == moved.key
    assert len({a.key, longer.key, reworded.key}) == 3


def test_explicit_provider_default_gives_the_same_key_as_none() -> None:
    # AI Video API's default duration is 6: saying so changes nothing that is sent.
    implicit = expand(loads("name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"))
    explicit = expand(
        loads(
            "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
            "defaults: {duration: 6}\n"
        )
    )
    assert implicit[0].key == explicit[0].key


@pytest.mark.parametrize("take", [None, 1, 7])
@pytest.mark.parametrize("prompt", ["plain", 'ünïcode "quoted" \\ and\nnewline', ""])
def test_fast_key_equals_canonical_key(prompt: str, take: int | None) -> None:
    params = {"duration": 6, "aspect_ratio": "16:9", "reference_images": ["u1", "u2"]}
    for model in (None, "grok-imagine-text-to-video"):
        slow = job_key(provider="aivideoapi", model=model, params=params, prompt=prompt, take=take)
        fast = job_key_fast(
            provider="aivideoapi",
            model=model,
            params_json=canonical_json(params),
            prompt=prompt,
            take=take,
        )
        assert slow == fast


def test_takes_are_separate_jobs() -> None:
    jobs = expand(
        loads(
            "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
            "matrix: {take: [1, 2, 3]}\noutput: {path: 'a-{{ take }}.mp4'}\n"
        )
    )
    assert len({j.key for j in jobs}) == 3


def test_matrix_axis_sets_parameter_and_variable() -> None:
    [job] = expand(
        loads(
            "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: "
            "'{{ aspect_ratio }} {{ mode }}'}]\nmatrix:\n  aspect_ratio: ['9:16']\n"
            "  mode: [fun]\n"
        )
    )
    assert job.params["aspect_ratio"] == "9:16" and job.params["mode"] == "fun"
    assert job.prompt == "9:16 fun"


def test_provider_axis_compares_providers() -> None:
    jobs = expand(
        loads(
            "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n"
            "  provider: [apiframe, {name: aivideoapi, base_url: 'http://h:1'}]\n"
            "defaults: {duration: 6}\noutput: {path: '{{ provider }}.mp4'}\n"
        )
    )
    assert [(j.provider, j.base_url, j.output) for j in jobs] == [
        ("apiframe", None, "apiframe.mp4"),
        ("aivideoapi", "http://h:1", "aivideoapi.mp4"),
    ]
    assert jobs[0].key != jobs[1].key


def test_csv_rows_become_prompts_and_parameter_columns_apply(
    write_manifest: Callable[..., Path],
) -> None:
    write_manifest("x", name="p.csv").write_text(
        "id,thing,image,duration\nmug,a mug,https://e.example/m.jpg,8\nhat,a hat,,\n",
        encoding="utf-8",
    )
    path = write_manifest(
        "name: t\nprovider: xai\nprompts: {file: p.csv, template: "
        "'Spin {{ thing }}'}\noutput: {path: '{{ prompt.id }}.mp4'}\n"
    )
    mug, hat = expand(load(path))
    assert (mug.prompt_id, mug.prompt, mug.params["image"], mug.params["duration"]) == (
        "mug",
        "Spin a mug",
        "https://e.example/m.jpg",
        8,
    )
    assert "image" not in hat.params


def test_jsonl_rows_become_prompts(write_manifest: Callable[..., Path]) -> None:
    rows = [
        {"id": "r1", "subject": "a fox"},
        {"id": "r2", "subject": "an owl", "reference_images": ["https://e.example/o.png"]},
    ]
    write_manifest("x", name="p.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    path = write_manifest(
        "name: t\nprovider: apiframe\nprompts: {file: p.jsonl, template: "
        "'{{ subject }} in snow'}\noutput: {path: '{{ prompt.id }}.mp4'}\n"
    )
    r1, r2 = expand(load(path))
    assert r1.prompt == "a fox in snow" and r2.params["reference_images"] == [
        "https://e.example/o.png"
    ]


def test_image_parameter_can_be_a_template() -> None:
    [job] = expand(
        loads(
            "name: t\nprovider: xai\nvars: {cdn: 'https://cdn.example'}\n"
            "prompts: [{id: a, template: x, image: '{{ cdn }}/{{ prompt.id }}.png'}]\n"
        )
    )
    assert job.params["image"] == "https://cdn.example/a.png"


def test_sandbox_refuses_unsafe_template_code() -> None:
    manifest = loads(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: "
        "\"{{ ''.__class__.__mro__ }}\"}]\n"
    )
    expander = Expander(manifest)
    assert list(expander.jobs()) == []
    assert any("not allowed" in p.message or "undefined" in p.message for p in expander.problems)


def test_expansion_streams_without_building_a_list() -> None:
    manifest = loads(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: '{{ n }}'}]\n"
        "matrix:\n  n: [" + ", ".join(str(i) for i in range(2000)) + "]\n"
        "output: {path: '{{ n }}.mp4'}\n"
    )
    jobs = Expander(manifest).jobs()
    first = next(jobs)
    assert first.index == 0 and first.prompt == "0"
    assert sum(1 for _ in jobs) == 1999


def test_prompt_file_id_template(write_manifest: Callable[..., Path]) -> None:
    write_manifest("x", name="p.csv").write_text("sku,thing\nA1,mug\nB2,hat\n", encoding="utf-8")
    path = write_manifest(
        "name: t\nprovider: xai\nprompts: {file: p.csv, template: '{{ thing }}',"
        " id: '{{ sku | lower }}-{{ row }}'}\n"
        "output: {path: '{{ prompt.id }}.mp4'}\n"
    )
    assert [j.prompt_id for j in expand(load(path))] == ["a1-1", "b2-2"]


def test_a_utf8_bom_is_stripped_so_the_first_column_keeps_its_name(
    write_manifest: Callable[..., Path],
) -> None:
    # Excel's "CSV UTF-8" starts the file with a byte-order mark.
    write_manifest("x", name="p.csv").write_bytes(b"\xef\xbb\xbfid,thing\nmug,a mug\n")
    path = write_manifest(
        "name: t\nprovider: xai\nprompts: {file: p.csv, template: '{{ thing }}'}\n"
    )
    [job] = expand(load(path))
    assert (job.prompt_id, job.prompt) == ("mug", "a mug")


def test_random_draws_are_stable_across_runs_and_differ_between_takes() -> None:
    text = (
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: "
        "\"A {{ ['red', 'green', 'blue', 'teal', 'plum', 'gold', 'jade'] | random }} lamp\"}]"
        "\nmatrix: {take: [1, 2, 3, 4, 5, 6]}\noutput: {path: '{{ take }}.mp4'}\n"
    )
    first = [(j.key, j.prompt) for j in expand(loads(text))]
    again = [(j.key, j.prompt) for j in expand(loads(text))]
    assert first == again  # a rerun finds the same keys: nothing is paid twice
    assert len({prompt for _, prompt in first}) > 1


def test_a_problem_in_many_rows_is_one_problem_listing_the_rows(
    write_manifest: Callable[..., Path],
) -> None:
    lines = "".join(f"r{i},lamp{i}\n" for i in range(36))
    write_manifest("x", name="p.csv").write_text("id,product\n" + lines, encoding="utf-8")
    path = write_manifest(
        "name: t\nprovider: aivideoapi\nprompts: {file: p.csv, template: 'A {{ prodcut }}'}\n"
    )
    expander = Expander(load(path))
    assert list(expander.jobs()) == []
    [problem] = expander.problems
    assert (problem.line, problem.count) == (3, 36)
    assert problem.rows == f"rows 2–37 of {path.parent / 'p.csv'}"
    assert problem.hint and "did you mean 'product'?" in problem.hint


def test_output_paths_are_checked_against_the_output_directory(tmp_path: Path) -> None:
    manifest = loads(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: '{{ s }}'}]\n"
        "matrix:\n  s: [x, y]\noutput: {path: 'inside/{{ s }}.mp4'}\n"
    )
    out = tmp_path / "out"
    (out / "real").mkdir(parents=True)
    (out / "inside").symlink_to(out / "real")  # a link that stays inside is fine
    assert len(list(Expander(manifest, output_dir=out).jobs())) == 2
    (out / "inside").unlink()
    (out / "inside").symlink_to(tmp_path)  # ... one that leads outside is not
    expander = Expander(manifest, output_dir=out)
    list(expander.jobs())
    [problem] = expander.problems
    assert "outside the output directory" in problem.message and problem.line == 6


def test_validate_prints_a_warning_for_an_exclude_that_removes_nothing(
    write_manifest: Callable[..., Path],
) -> None:
    from click.testing import CliRunner

    from grokbatch.cli import main

    path = write_manifest(
        "name: t\nprovider: aivideoapi\nprompts: [{id: a, template: '{{ s }}'}]\n"
        "matrix:\n  s: [x, y]\n  exclude:\n    - {s: z}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0
    assert f"warning: {path}:7" in result.output and "removes no combination" in result.output
