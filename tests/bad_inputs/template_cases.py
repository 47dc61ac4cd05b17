"""Templates: syntax, names, the sandbox's bounds, determinism."""

from __future__ import annotations

from .base import HEAD, ONE, case, matrix

T = "template"


def tpl(template: str) -> str:
    """A manifest whose only prompt template (line 5) is `template`, given as YAML text."""
    return HEAD + "vars: {n: 9, word: lamp}\nprompts:\n  - id: a\n    template: " + template + "\n"


case(T, "syntax", tpl("'A {{ x'"), "m.yaml:6", "{{ }}")
case(
    T,
    "syntax-block-line",
    HEAD + "prompts:\n  - id: a\n    template: |\n      one\n      {% if x %}open\n",
    "m.yaml:7",
    "{% %}",
)
case(T, "undefined-with-suggestion", tpl("'A {{ wrod }}'"), "m.yaml:6", "did you mean 'word'")
case(T, "unknown-filter", tpl("'{{ word | uper }}'"), "m.yaml:6", "did you mean 'upper'")
case(T, "unknown-test", tpl("'{% if n is od %}x{% endif %}'"), "m.yaml:6", "did you mean 'odd'")
case(T, "include", tpl("'{% include \"x\" %}'"), "m.yaml:6", "share values")
case(T, "import", tpl("'{% import \"x\" as y %}'"), "m.yaml:6", "share values")
case(T, "extends", tpl("'{% extends \"x\" %}'"), "m.yaml:6", "share values")
case(T, "unsafe-class", tpl("\"{{ ''.__class__.__mro__ }}\""), "m.yaml:6", "not reach into")
case(T, "unsafe-globals", tpl("'{{ cycler.__init__.__globals__ }}'"), "m.yaml:6", "reach into")
case(T, "string-repeat", tpl("\"{{ 'x' * 3000000000 }}\""), "m.yaml:6", "keep strings")
case(T, "list-repeat", tpl("'{{ [1] * 10**9 }}'"), "m.yaml:6", "keep strings")
case(T, "power-tower", tpl("'{{ n ** (n ** n) }}'"), "m.yaml:6", "smaller power")
case(T, "big-power", tpl("'{{ 10 ** 100000 }}'"), "m.yaml:6", "smaller power")
case(
    T,
    "big-product",
    tpl("'{{ (2 ** 3000) * (2 ** 3000) * (2 ** 3000) * (2 ** 3000) }}'"),
    "m.yaml:6",
    "smaller numbers",
)
case(T, "printf-width", tpl("\"{{ '%0999999999d' % 1 }}\""), "m.yaml:6", "at most 10,000")
case(T, "printf-star", tpl("\"{{ '%*d' % (999999999, 1) }}\""), "m.yaml:6", "at most 10,000")
case(
    T,
    "format-method-width",
    tpl("\"{{ '{:>999999999}'.format(1) }}\""),
    "m.yaml:6",
    "at most 10,000",
)
case(
    T,
    "format-filter-width",
    tpl("\"{{ '%0999999999d' | format(1) }}\""),
    "m.yaml:6",
    "at most 10,000",
)
case(T, "center", tpl('"{{ word | center(1000000000) }}"'), "m.yaml:6", "at most 10,000")
case(T, "ljust", tpl('"{{ word.ljust(10**9) }}"'), "m.yaml:6", "at most 10,000")
case(T, "indent", tpl('"{{ word | indent(999999999) }}"'), "m.yaml:6", "at most 10,000")
case(
    T,
    "replace-growth",
    tpl("\"{{ 'ab' | replace('', 'x' * 900000) }}\""),
    "m.yaml:6",
    "keep strings",
)
case(
    T,
    "join-growth",
    tpl("\"{{ range(100000) | join('x' * 100000) }}\""),
    "m.yaml:6",
    "keep strings",
)
case(T, "huge-range", tpl("'{{ range(10**9) | list }}'"), "m.yaml:6", "at most 100,000")
case(T, "huge-lipsum", tpl("'{{ lipsum(10**9) }}'"), "m.yaml:6", "n up to 100")
case(
    T,
    "nested-loops",
    tpl("'{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'"),
    "m.yaml:6",
    "loop over fewer",
)
case(
    T,
    "macro-recursion",
    tpl("'{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}'"),
    "m.yaml:6",
    "way to stop",
)
case(
    T,
    "recursive-loop",
    tpl("'{% for i in [1] recursive %}{{ loop([i]) }}{% endfor %}'"),
    "m.yaml:6",
    "way to stop",
)
case(
    T,
    "doubling",
    tpl(
        "\"{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        '{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"'
    ),
    "m.yaml:6",
    "keep strings",
)
case(T, "rendered-too-long", tpl("\"{{ 'x' * 200000 }}\""), "m.yaml:6", "few thousand")
case(T, "prints-a-function", tpl("'{{ lipsum }}'"), "m.yaml:6", "call it")
case(T, "prints-an-address", tpl("'{{ cycler(1) }}'"), "m.yaml:6", "print values")
case(T, "prints-a-method", tpl("'{{ word.upper }}'"), "m.yaml:6", "call it")
case(T, "division-by-zero", tpl("'{{ n / 0 }}'"), "m.yaml:6", "check the values")
case(T, "missing-index", tpl("'{{ word[99] }}'"), "m.yaml:6", "default")
case(T, "missing-attribute", tpl("'{{ word.colour }}'"), "m.yaml:6", "default")
case(
    T,
    "output-path-undefined",
    matrix("  style: [x, y]\n") + "output: {path: '{{ stlye }}.mp4'}\n",
    "m.yaml:6",
    "did you mean 'style'",
)
case(T, "output-path-syntax", ONE + "output: {path: '{{ key'}\n", "m.yaml:4", "{{ }}")
case(
    T,
    "image-template-undefined",
    "name: t\nprovider: xai\nprompts: [{id: a, template: x, "
    "image: 'https://e.x/{{ nope }}.png'}]\n",
    "m.yaml:3",
    "define it",
)
