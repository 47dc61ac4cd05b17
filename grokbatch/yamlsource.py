"""Load YAML and remember where every value came from, so each problem can name its line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ManifestError, Problem

try:  # the C loader is several times faster; the pure one gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PathKey = tuple[str | int, ...]


@dataclass
class Source:
    """A loaded document: its data, its file name, and the position of every node."""

    file: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """(line, column), 1-based, of the deepest known node on path."""
        key = tuple(path)
        while key:
            if key in self.positions:
                return self.positions[key]
            key = key[:-1]
        return self.positions.get((), (None, None))

    def problem(
        self,
        path: Sequence[str | int],
        message: str,
        *,
        hint: str | None = None,
        job: str | None = None,
        count: int = 1,
    ) -> Problem:
        line, column = self.locate(path)
        return Problem(
            message,
            file=self.file,
            line=line,
            column=column,
            where=format_path(path) or None,
            hint=hint,
            job=job,
            count=count,
        )


def format_path(path: Sequence[str | int]) -> str:
    """('matrix', 'duration', 2) → 'matrix.duration[2]'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml(path: Path, *, display: str | None = None) -> Source:
    """Parse a YAML file into data plus positions; syntax errors become a ManifestError."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            [Problem("file not found", file=name, hint="check the path to the manifest")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([Problem(f"cannot read the file: {exc}", file=name)]) from None
    return parse_yaml(text, file=name)


def parse_yaml(text: str, *, file: str) -> Source:
    """Parse YAML text into a Source."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and "end of stream" in str(exc.problem):
            mark = exc.context_mark  # an unclosed quote or bracket: point at where it opened
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise ManifestError(
            [
                Problem(
                    f"YAML syntax error: {exc.problem or exc}"
                    + (f" ({exc.context})" if exc.context else ""),
                    file=file,
                    line=line,
                    column=column,
                    hint="check indentation, colons and quotes on this line and the one above; "
                    'quote values that contain ": " or start with "{", "*", "&" or "@"',
                )
            ]
        ) from None
    source = Source(file=file, data=None)
    if node is None:
        return source
    source.data = _build(node, (), source.positions, file)
    return source


_constructor = yaml.SafeLoader("")  # only used to turn scalar nodes into Python values


def _build(
    node: yaml.Node, path: PathKey, positions: dict[PathKey, tuple[int, int]], file: str
) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ManifestError(
                    [
                        Problem(
                            "YAML merge keys (<<) are not supported",
                            file=file,
                            line=key_node.start_mark.line + 1,
                            hint="write the keys out, or use `defaults:` for shared values",
                        )
                    ]
                )
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise ManifestError(
                    [
                        Problem(
                            f"duplicate key {key!r}: the second value would silently replace "
                            "the first",
                            file=file,
                            line=key_node.start_mark.line + 1,
                            column=key_node.start_mark.column + 1,
                            where=format_path((*path, key)),
                            hint="remove or rename one of them",
                        )
                    ]
                )
            out[key] = _build(value_node, (*path, key), positions, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), positions, file) for i, child in enumerate(node.value)]
    return _constructor.construct_object(node, deep=True)
