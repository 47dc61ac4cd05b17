"""The grid: size, include and exclude, clashes."""

from __future__ import annotations

from .base import HEAD, case, matrix, rows

G = "grid"
case(
    G,
    "billion-jobs",
    matrix("".join(f"  a{i}: [{', '.join(map(str, range(10)))}]\n" for i in range(9))).replace(
        "{{ style }}", "{{ a0 }}{{ a1 }}{{ a2 }}{{ a3 }}{{ a4 }}{{ a5 }}{{ a6 }}{{ a7 }}{{ a8 }}"
    ),
    "m.yaml:4",
    "limits.max_jobs",
)
case(
    G,
    "rows-times-axes",
    HEAD + "prompts: {file: p.csv, template: '{{ product }} {{ s }}'}\n"
    "matrix:\n  s: [" + ", ".join(map(str, range(1000))) + "]\nlimits: {max_jobs: 1500}\n",
    "m.yaml:4",
    "max_jobs",
    files={"p.csv": rows("a,lamp", "b,mug")},
)
case(
    G,
    "over-own-cap",
    matrix("  style: [x, y, z]\n") + "limits: {max_jobs: 2}\n",
    "m.yaml:4",
    "max_jobs",
)
case(
    G,
    "exclude-unknown-axis",
    matrix("  style: [x, y]\n  exclude:\n    - {stlye: x}\n"),
    "m.yaml:7",
    "did you mean 'style'",
)
case(
    G,
    "include-unknown-prompt",
    matrix("  style: [x]\n  include:\n    - {prompt: b, style: y}\n"),
    "m.yaml:7",
    "id of one of",
)
case(
    G,
    "include-bad-duration",
    matrix("  style: [x]\n  include:\n    - {style: x, duration: 99}\n"),
    "m.yaml:7",
    "at most 30",
)
case(
    G,
    "include-bad-provider",
    matrix("  style: [x]\n  include:\n    - {style: x, provider: foo}\n"),
    "m.yaml:7",
    "use one of",
)
case(
    G,
    "include-only-bad-provider-mapping",
    matrix("  include:\n    - {style: x, provider: {name: xai, base_url: 'file:///x'}}\n"),
    "m.yaml:6",
    "http:// or https://",
)
case(
    G,
    "standalone-string-duration",
    matrix("  style: [x]\n  duration: [6]\n  include:\n    - {style: y, duration: ten}\n"),
    "m.yaml:8",
    "number",
)
case(
    G,
    "include-take-word",
    matrix("  style: [x]\n  include:\n    - {style: x, take: one}\n"),
    "m.yaml:7",
    "take: 1, 2, 3",
)
case(G, "axis-duplicates", matrix("  style: [x, y, x]\n"), "m.yaml:5", "repeated value")
case(
    G,
    "misspelt-axis",
    matrix("  stlye: [x, y, z]\n  duration: [6, 10]\n"),
    "m.yaml:5",
    "rename the axis to 'style'",
)
case(G, "unused-axis", matrix("  style: [x]\n  lens: [35mm, 50mm]\n"), "m.yaml:6", "{{ lens }}")
case(
    G,
    "identical-prompts",
    HEAD + "prompts:\n  - {id: a, template: same}\n  - {id: b, template: same}\n",
    "m.yaml:3",
    "take",
)
case(
    G,
    "repeated-include",
    matrix("  style: [x]\n  include:\n    - {style: y}\n    - {style: y}\n"),
    "m.yaml:4",
    "repeated include entry",
)
case(
    G,
    "identical-via-include",
    matrix(
        "  style: [x]\n  lens: [a]\n  include:\n"
        "    - {style: y, lens: b}\n    - {style: y, lens: c}\n"
    ),
    "m.yaml:",
    "lens",
)
case(
    G,
    "path-clash-take",
    matrix("  style: [x, y]\n  take: [1, 2, 3]\n") + "output: {path: '{{ style }}.mp4'}\n",
    "m.yaml:7",
    "{{ take }}",
)
case(
    G,
    "everything-excluded",
    matrix("  style: [x, y]\n  exclude:\n    - {style: X}\n    - {style: 'Y'}\n"),
    "m.yaml:6",
    "narrow",
)
