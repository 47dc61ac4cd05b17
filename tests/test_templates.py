"""Templates: Jinja's safe globals work, runaway work is refused, random draws are stable."""

from __future__ import annotations

import pytest

from grokbatch.templates import TemplateProblem, compile_template


def render(text: str, seed: str = "", **context: object) -> str:
    return compile_template(text).render(context, seed=seed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ range(3) | join(',') }}", "0,1,2"),
        ("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}", "aba"),
        ("{% set j = joiner('/') %}{% for i in range(3) %}{{ j() }}{{ i }}{% endfor %}", "0/1/2"),
        ("{% set ns = namespace(n=1) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}", "2"),
        ("{{ lipsum(1, html=False) | wordcount > 0 }}", "True"),
        ("{{ dict(a=1)['a'] }}", "1"),
    ],
)
def test_jinja_safe_globals_are_available(text: str, expected: str) -> None:
    assert render(text) == expected


# Each of these would take the process down without the bounds (hours, or gigabytes).
RUNAWAY = [
    pytest.param("{{ 'x' * 3000000000 }}", "longer than 1,000,000", id="string-repeat"),
    pytest.param("{{ [1] * 10**9 }}", "longer than 1,000,000", id="list-repeat"),
    pytest.param("{% set n = 9 %}{{ n ** (n ** n) }}", "bits", id="power-tower"),
    pytest.param("{{ 10 ** 100000 }}", "bits", id="big-power"),
    pytest.param("{{ '%0999999999d' % 1 }}", "format width", id="printf-width"),
    pytest.param("{{ '%.999999999f' % 1.5 }}", "format width", id="printf-precision"),
    pytest.param("{{ '%*d' % (999999999, 1) }}", "format width", id="printf-star-width"),
    pytest.param("{{ '{:>999999999}'.format(1) }}", "format width", id="str-format-width"),
    pytest.param("{{ '%0999999999d' | format(1) }}", "format width", id="format-filter"),
    pytest.param("{{ 'x' | center(1000000000) }}", "over 10,000", id="center-filter"),
    pytest.param("{{ 'x'.ljust(10**9) }}", "over 10,000", id="ljust-method"),
    pytest.param("{{ 'x' | indent(999999999) }}", "over 10,000", id="indent-filter"),
    pytest.param("{{ ('\t' * 100000).expandtabs(10000) }}", "longer than", id="expandtabs"),
    pytest.param("{{ 'ab' | replace('', 'x' * 900000) }}", "longer than", id="replace-growth"),
    pytest.param("{{ range(100000) | join('x' * 100000) }}", "longer than", id="join-growth"),
    pytest.param("{{ 'a' | wordwrap(1, wrapstring='x' * 999999) }}", "longer than", id="wordwrap"),
    pytest.param("{{ [1] | batch(10**9, 'x') | list }}", "over 10,000", id="batch-fill"),
    pytest.param("{{ range(10**9) | list }}", "range of", id="huge-range"),
    pytest.param("{{ lipsum(10**9) }}", "out of bounds", id="huge-lipsum"),
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "steps",
        id="nested-loops",
    ),
    pytest.param(
        "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}",
        "steps",
        id="nested-loops-over-strings",
    ),
    pytest.param(
        "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "calls itself",
        id="macro-recursion",
    ),
    pytest.param(
        "{% for i in range(3) recursive %}{{ loop([i]) }}{% endfor %}",
        "calls itself",
        id="recursive-loop",
    ),
    pytest.param(
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "longer than",
        id="doubling-concat",
    ),
    pytest.param(
        "{% set a = [1] * 1000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c, c, c] %}"
        "{{ d }}",
        "longer than",
        id="shared-list-print",
    ),
    pytest.param("{{ ('x' * 999999) ~ ('x' * 999999) }}", "longer than", id="tilde-concat"),
    pytest.param(
        "{% set s %}{% for i in range(90000) %}{{ 'x' * 100 }}{% endfor %}{% endset %}{{ s }}",
        "characters",
        id="set-block-buffer",
    ),
    pytest.param("{{ 'x' * 200000 }}", "renders more than 100,000", id="output-cap"),
]


@pytest.mark.parametrize(("text", "message"), RUNAWAY)
def test_runaway_templates_are_refused_before_the_work(text: str, message: str) -> None:
    with pytest.raises(TemplateProblem) as info:
        render(text)
    assert message in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize(
    "text",
    ["{{ lipsum }}", "{{ x.upper }}", "{{ cycler(1) }}", "{{ range | string }}"],
)
def test_printing_a_function_or_an_address_is_refused(text: str) -> None:
    # Its text holds a memory address: the prompt, hence the job key, would change every run.
    with pytest.raises(TemplateProblem, match=r"function|address|changes on every run"):
        render(text, x="a")


def test_unsafe_attributes_are_refused() -> None:
    with pytest.raises(TemplateProblem, match="not allowed"):
        render("{{ ''.__class__.__mro__ }}")


def test_random_and_lipsum_are_seeded_by_the_job() -> None:
    text = "{{ ['red', 'green', 'blue', 'teal', 'plum', 'gold'] | random }} {{ lipsum(1) }}"
    template = compile_template(text)
    first = [template.render({}, seed=f"take={n}") for n in range(8)]
    again = [compile_template(text).render({}, seed=f"take={n}") for n in range(8)]
    assert first == again  # a rerun renders the same prompts: the same keys, nothing paid twice
    assert len(set(first)) > 1  # and different jobs draw differently


def test_an_undefined_variable_suggests_the_closest_name() -> None:
    with pytest.raises(TemplateProblem) as info:
        render("A {{ colour }} lamp", color="red")
    assert "undefined variable 'colour'" in str(info.value)
    assert info.value.hint and "did you mean 'color'?" in info.value.hint


# Plain templates (text, `{{ name }}`, `{{ name.key }}`) skip Jinja: the same text, or the
# same error, as Jinja's own render, for every kind of value a manifest can give.
PLAIN = [
    "{{ subject }}, {{ style }} style",
    "{{ prompt.id }}/{{ style }}.mp4",
    "  {{ n }}-{{ n }}\n",
    "{{ prompt.keys }}",  # dict's own attribute: Jinja prints the method (refused)
    "{{ prompt.missing }}",
    "{{ nothing }}",
    "{% raw %}{{ literal }}{% endraw %} {{ n }}",
    "a {b} }{ {0} {{ n }} {}",  # braces in the text are text
]
VALUES = [
    {"subject": "a fox", "style": "ink", "prompt": {"id": "p1"}, "n": 7},
    {"subject": "ü ✓", "style": "", "prompt": {"id": 3}, "n": -2},
    {"subject": None, "style": 1.5, "prompt": {"id": True}, "n": 10**20},
    {"subject": ["a"], "style": {"k": 1}, "prompt": "p", "n": False},
    {"subject": "<function f at 0x7f3a1c2b3d40>", "style": "x" * 200_000, "prompt": {}, "n": 0},
]


def _outcome(template: object, context: dict[str, object]) -> tuple[str, str]:
    try:
        return ("ok", template.render(context))  # type: ignore[attr-defined]
    except TemplateProblem as exc:
        return ("problem", str(exc))


@pytest.mark.parametrize("text", PLAIN)
@pytest.mark.parametrize("context", VALUES, ids=range(len(VALUES)))
def test_a_plain_template_renders_exactly_as_jinja_does(
    text: str, context: dict[str, object]
) -> None:
    fast = compile_template(text, memoize=False)
    slow = compile_template(text, memoize=False)
    assert fast.plain is not None, "a plain template takes the fast path"
    slow.plain = None  # Jinja's own render
    assert _outcome(fast, context) == _outcome(slow, context)


NOT_PLAIN = [
    "{{ n | upper }}",
    "{% if n %}{{ n }}{% endif %}",
    "{{ n + 1 }}",
    "{{ a['k'] }}",
    "{{ random([1]) }}",
    "{{ n }} {{ range }}",
]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_anything_more_than_substitution_is_left_to_jinja(text: str) -> None:
    assert compile_template(text).plain is None
