"""Output paths and the output directory on disk."""

from __future__ import annotations

import os
from pathlib import Path

from .base import HEAD, JSONL, ONE, case, matrix

OUT = "output"


def out(path: str, head: str = ONE) -> str:
    return matrix("  style: [x, y]\n", head) + f"output: {{path: {path!r}}}\n"  # path: line 6


def link_outside(d: Path) -> None:
    (d / "elsewhere").mkdir()
    (d / "out" / "t").mkdir(parents=True)
    (d / "out" / "t" / "a").symlink_to(d / "elsewhere")


case(OUT, "escape-dotdot", out("../../etc/{{ style }}.mp4"), "m.yaml:6", "without '..'")
case(OUT, "absolute", out("/tmp/{{ style }}.mp4"), "m.yaml:6", "leading '/'")
case(
    OUT,
    "renders-empty",
    out("{{ '' }}{% if false %}{{ style }}{% endif %}"),
    "m.yaml:6",
    "render a file name",
)
case(OUT, "trailing-slash", out("{{ style }}/"), "m.yaml:6", "relative path")
case(OUT, "windows-drive", out("C:/{{ style }}.mp4"), "m.yaml:6", "relative path")
case(
    OUT,
    "newline-in-name",
    HEAD
    + 'vars: {sep: "\\n"}\n'
    + ONE.split("\n", 2)[2]
    + "matrix:\n  style: [x, y]\noutput: {path: '{{ style }}{{ sep }}.mp4'}\n",
    "m.yaml:7",
    "control characters",
)
case(
    OUT,
    "nul-from-jsonl",
    JSONL.replace("'A {{ product }}'", "'A {{ product }}{{ tag }}'")
    + "output: {path: '{{ tag }}.mp4'}\n",
    "m.yaml:4",
    "NUL",
    files={"p.jsonl": '{"id": "a", "product": "x", "tag": "a\\u0000b"}\n'},
)
case(OUT, "name-over-255-bytes", out("{{ style }}-{{ 'é' * 130 }}.mp4"), "m.yaml:6", "truncate")
case(OUT, "name-without-room", out("{{ style }}{{ 'x' * 244 }}.mp4"), "m.yaml:6", "temporary")
case(
    OUT,
    "path-over-4000-bytes",
    out("{% for i in range(40) %}{{ 'd' * 120 }}/{% endfor %}{{ style }}.mp4"),
    "m.yaml:6",
    "4,000 bytes",
)
case(
    OUT,
    "file-where-dir-goes",
    out("a/{{ style }}.mp4"),
    "m.yaml:6",
    "move the file away",
    setup=lambda d: ((d / "out" / "t").mkdir(parents=True), (d / "out/t/a").write_text("x")),
)
case(
    OUT,
    "dir-where-file-goes",
    out("{{ style }}.mp4"),
    "m.yaml:6",
    "existing directory",
    setup=lambda d: (d / "out/t/x.mp4").mkdir(parents=True),
)
case(
    OUT,
    "output-dir-under-a-file",
    ONE + "output: {dir: m.yaml/out}\n",
    "m.yaml:4",
    "another output directory",
)
case(
    OUT,
    "output-dir-is-a-file",
    ONE + "output: {dir: notes.txt}\n",
    "m.yaml:4",
    "move the file",
    files={"notes.txt": "x"},
)
case(
    OUT,
    "symlink-outside",
    out("a/{{ style }}.mp4"),
    "m.yaml:6",
    "remove the link",
    setup=link_outside,
)
case(
    OUT,
    "file-and-dir-at-once",
    ONE + "matrix:\n  style: [x, x/y]\noutput: {path: '{{ style }}'}\n",
    "m.yaml:6",
    "different names",
)
case(
    OUT,
    "output-dir-flag-is-a-file",
    ONE,
    "notes.txt",
    "is a file",
    files={"notes.txt": "x"},
    args=("--output-dir", "notes.txt"),
    commands=("run",),
)
if hasattr(os, "geteuid") and os.geteuid() != 0:  # root may write anywhere

    def read_only(d: Path) -> None:
        (d / "ro").mkdir()
        (d / "ro").chmod(0o500)

    case(
        OUT,
        "unwritable-dir",
        ONE + "output: {dir: ro/out}\n",
        "m.yaml:4",
        "can write",
        setup=read_only,
    )
