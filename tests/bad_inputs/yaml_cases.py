"""YAML: syntax, tags, aliases, numbers, encodings."""

from __future__ import annotations

import codecs

from .base import HEAD, ONE, case, matrix

Y = "yaml"
case(Y, "unclosed-quote", HEAD + "prompts:\n  - id: a\n    template: 'x\n", "m.yaml:5", "quotes")
case(Y, "bad-indent", HEAD + "  prompts: []\n", "m.yaml:3", "indentation")
case(Y, "tab-indent", HEAD + "prompts:\n\t- {id: a, template: x}\n", "m.yaml:4", "tabs")
case(
    Y,
    "duplicate-key",
    "name: t\nname: u\nprovider: xai\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "remove or rename",
)
case(Y, "duplicate-nested-key", matrix("  style: [x]\n  style: [y]\n"), "m.yaml:6", "rename")
case(
    Y,
    "merge-key",
    HEAD + "prompts: [{id: a, template: x}]\nd: &d {duration: 6}\ndefaults: {<<: *d}\n",
    "m.yaml:5",
    "write the keys out",
)
case(Y, "recursive-alias-list", ONE + "vars: {a: &a [1, *a]}\n", "m.yaml:4", "outside")
case(Y, "recursive-alias-map", ONE + "vars:\n  a: &a {b: *a}\n", "m.yaml:5", "outside")
LAUGHS = "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
    for i in range(9)
)
case(Y, "billion-laughs", ONE + "vars:\n" + LAUGHS, "m.yaml:", "fewer nested aliases")
case(
    Y,
    "billion-laughs-in-matrix",
    ONE
    + "x: &x [a, a, a, a, a, a, a, a, a, a]\n"
    + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}' if i else '*x'] * 10)}]\n" for i in range(6)),
    "m.yaml:",
    "aliases",
)
case(Y, "undefined-alias", ONE + "vars: {a: *nope}\n", "m.yaml:4", "anchor")
case(Y, "unknown-tag", ONE + "vars: {a: !foo x}\n", "m.yaml:4", "remove the tag")
case(
    Y,
    "python-tag",
    ONE + "vars: {a: !!python/object/apply:os.system [ls]}\n",
    "m.yaml:4",
    "remove the tag",
)
case(Y, "binary-tag", ONE + "vars: {a: !!binary aGVsbG8=}\n", "m.yaml:4", "remove the tag")
case(Y, "set-tag", ONE + "vars: {a: !!set {x: null}}\n", "m.yaml:4", "remove the tag")
case(Y, "omap-tag", ONE + "vars: {a: !!omap [{x: 1}]}\n", "m.yaml:4", "remove the tag")
case(Y, "bad-int-tag", ONE + "limits: {concurrency: !!int abc}\n", "m.yaml:4", "valid int")
case(Y, "bad-float-tag", ONE + "limits: {max_usd: !!float xyz}\n", "m.yaml:4", "valid float")
case(Y, "bad-bool-tag", ONE + "vars: {a: !!bool maybe}\n", "m.yaml:4", "valid bool")
case(
    Y,
    "bad-timestamp-tag",
    ONE + "limits: {concurrency: !!timestamp 2024-13-45}\n",
    "m.yaml:4",
    "write",
)
case(Y, "date-where-number", ONE + "limits: {retries: 2024-01-01}\n", "m.yaml:4", "number")
case(Y, "nul-byte", ONE.encode() + b'vars: {a: "x\x00y"}\n', "m.yaml:4", "UTF-8")
case(Y, "nul-escape", ONE + 'vars: {a: "x\\0y"}\n', "m.yaml:4", "remove it")
case(Y, "control-char", ONE + "vars: {a: x\x07y}\n", "m.yaml:4", "remove it")
case(Y, "nan-budget", ONE + "limits: {max_credits: .nan}\n", "m.yaml:4", "finite")
case(Y, "inf-usd", ONE + "limits: {max_usd: .inf}\n", "m.yaml:4", "NaN and infinity")
case(Y, "nan-rpm", ONE + "limits: {requests_per_minute: .nan}\n", "m.yaml:4", "NaN")
case(
    Y,
    "nan-rpm-per-provider",
    ONE + "limits: {requests_per_minute: {aivideoapi: .NaN}}\n",
    "m.yaml:4",
    "NaN",
)
case(
    Y, "neg-inf-price", ONE + "prices: {aivideoapi: {credits_per_job: -.inf}}\n", "m.yaml:4", "NaN"
)
case(
    Y,
    "overflow-float",
    ONE + "prices: {aivideoapi: {usd_per_credit: 1.0e+400}}\n",
    "m.yaml:4",
    "NaN",
)
case(
    Y,
    "exponent-as-text",
    ONE + "prices: {aivideoapi: {credits_per_job: 1e5}}\n",
    "m.yaml:4",
    "as text",
)
case(Y, "nan-var", ONE + "vars: {a: .NaN}\n", "m.yaml:4", "NaN")
case(Y, "huge-int", ONE + "limits: {retries: " + "9" * 5000 + "}\n", "m.yaml:4", "int")
case(Y, "deep-nesting", ONE + "vars: {a: " + "[" * 100 + "]" * 100 + "}\n", "m.yaml:4", "64 levels")
case(Y, "two-documents", ONE + "---\nname: u\n", "m.yaml:4", "one YAML document")
case(Y, "empty-file", "", "m.yaml", "campaign.yaml")
case(Y, "only-comments", "# nothing here\n", "m.yaml", "campaign.yaml")
case(Y, "a-list", "- name: t\n", "m.yaml:1", "campaign.yaml")
case(Y, "a-scalar", "hello\n", "m.yaml:1", "campaign.yaml")
case(Y, "complex-key", ONE + "vars:\n  ? [a, b]\n  : 1\n", "m.yaml:5", "name: value")
case(Y, "huge-file", ONE + "# " + "x" * 5_100_000 + "\n", "m.yaml", "prompts file")
case(Y, "latin-1", ONE.encode() + "vars: {a: café}\n".encode("latin-1"), "m.yaml:4", "UTF-8")
case(Y, "utf-16", codecs.BOM_UTF16_LE + ONE.encode("utf-16-le"), "m.yaml:1", "UTF-8")
case(Y, "binary-png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "m.yaml", "UTF-8")
case(
    Y,
    "manifest-is-a-directory",
    None,
    "m.yaml",
    "is a directory",
    setup=lambda d: (d / "m.yaml").mkdir(),
)
case(Y, "manifest-missing", None, "m.yaml", "check the path")
