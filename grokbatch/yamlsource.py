"""Load YAML and remember where every value came from, so each problem can name its line.

Only plain data comes out: strings, whole numbers, finite floats, booleans, null, lists and
mappings with string keys. Whatever else YAML can express ends in a located error instead
of a traceback or a silent surprise: unknown or Python tags, `!!binary`, `!!set`, NaN and
infinity (a budget of `.nan` would compare as "within budget" forever), NUL characters,
merge keys, duplicate keys, aliases that refer to themselves, and aliases that multiply
(the "billion laughs": nine lines that expand to 10⁹ values). Dates (`2024-05-01`) stay the
text they were written as. Loading is bounded: at most MAX_BYTES of text, MAX_VALUES values,
of which at most MAX_ALIASED come from expanding aliases, and MAX_DEPTH levels of nesting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ManifestError, Problem
from .textfiles import read_text

try:  # the C parser is several times faster; the pure one gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PathKey = tuple[str | int, ...]
MAX_BYTES = 5_000_000
MAX_VALUES = 1_000_000
MAX_ALIASED = 100_000
MAX_DEPTH = 64
_YAML = "tag:yaml.org,2002:"
_SCALARS = {f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTIONS = {yaml.MappingNode: f"{_YAML}map", yaml.SequenceNode: f"{_YAML}seq"}


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
    """Parse a YAML file into data plus positions; every mistake becomes a ManifestError."""
    name = display or str(path)
    return parse_yaml(read_text(path, display=name, limit=MAX_BYTES), file=name)


def parse_yaml(text: str, *, file: str) -> Source:
    """Parse YAML text into a Source."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise ManifestError([_syntax_problem(exc, file, text)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ManifestError(
            [
                Problem(
                    f"the control character U+{_code(exc.character):04X} is not allowed in YAML",
                    file=file,
                    line=line,
                    hint="remove it, or write it as an escape in a double-quoted string",
                )
            ]
        ) from None
    except RecursionError:
        raise ManifestError(
            [Problem("the YAML is nested too deeply", file=file, hint="flatten it")]
        ) from None
    source = Source(file=file, data=None)
    if node is None:
        return source
    builder = _Builder(file, source.positions)
    source.data = builder.build(node, (), ())
    if builder.problems:
        raise ManifestError(builder.problems)
    return source


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and "end of stream" in str(exc.problem):
        mark = exc.context_mark  # an unclosed quote or bracket: point at where it opened
    hint = (
        "check indentation, colons and quotes on this line and the one above; "
        'quote values that contain ": " or start with "{", "*", "&" or "@"'
    )
    if "another document" in str(exc.problem):
        hint = "a manifest is one YAML document: remove the `---` line and what follows"
    elif "undefined alias" in str(exc.problem):
        hint = "define the anchor (&name) before the alias (*name) that uses it"
    elif mark is not None and _line(text, mark.line).lstrip(" ").startswith("\t"):
        hint = "indent with spaces, not tabs"
    return Problem(
        f"YAML syntax error: {exc.problem or exc}" + (f" ({exc.context})" if exc.context else ""),
        file=file,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint=hint,
    )


class _Stop(Exception):
    """Building cannot go on (too many values, too deep): report what was found so far."""


class _Builder:
    """Turns composed nodes into plain data, recording positions and every problem."""

    def __init__(self, file: str, positions: dict[PathKey, tuple[int, int]]) -> None:
        self.file = file
        self.positions = positions
        self.problems: list[Problem] = []
        self.values = 0
        self.aliased = 0  # values built again because an alias (*name) repeats them
        self.seen: set[int] = set()
        self.constructor = yaml.SafeLoader("")  # only turns scalar nodes into values

    def problem(self, node: yaml.Node, path: PathKey, message: str, hint: str) -> None:
        self.problems.append(
            Problem(
                message,
                file=self.file,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                where=format_path(path) or None,
                hint=hint,
            )
        )

    def build(self, node: yaml.Node, path: PathKey, parents: tuple[int, ...]) -> Any:
        try:
            return self._build(node, path, parents)
        except _Stop:
            return None

    def _build(
        self, node: yaml.Node, path: PathKey, parents: tuple[int, ...], aliased: bool = False
    ) -> Any:
        self.values += 1
        aliased = aliased or id(node) in self.seen
        self.seen.add(id(node))
        self.aliased += aliased
        if self.aliased > MAX_ALIASED:
            self.problem(
                node,
                path,
                f"aliases (*name) expand to more than {MAX_ALIASED:,} values: aliases that "
                "repeat aliases multiply (a 'billion laughs')",
                "write the values out, or use fewer nested aliases",
            )
            raise _Stop
        if self.values > MAX_VALUES:
            self.problem(
                node, (), f"the document holds more than {MAX_VALUES:,} values", "shorten it"
            )
            raise _Stop
        if len(parents) > MAX_DEPTH:
            self.problem(node, (), "nested too deeply", f"use {MAX_DEPTH} levels at most")
            raise _Stop
        if id(node) in parents:
            self.problem(
                node,
                path,
                "this alias refers to a value that contains it: it would never end",
                "point the alias (*name) at something outside the anchored (&name) value",
            )
            return None
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if (
            isinstance(node, yaml.MappingNode | yaml.SequenceNode)
            and node.tag != _COLLECTIONS[type(node)]
        ):
            return self._unknown_tag(node, path)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, (*parents, id(node)), aliased)
        if isinstance(node, yaml.SequenceNode):
            inner = (*parents, id(node))
            return [
                self._build(child, (*path, i), inner, aliased) for i, child in enumerate(node.value)
            ]
        return self._scalar(node, path)

    def _mapping(
        self, node: yaml.MappingNode, path: PathKey, parents: tuple[int, ...], aliased: bool
    ) -> Any:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_YAML}merge":
                self.problem(
                    key_node,
                    path,
                    "YAML merge keys (<<) are not supported",
                    "write the keys out, or use `defaults:` for shared values",
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "a key must be a plain name", "write `name: value`")
                continue
            # The key as written: `no:` stays "no", not False (YAML 1.1's Norway problem).
            key = key_node.value
            if key in out:
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r}: the second value would silently replace the first",
                    "remove or rename one of them",
                )
                continue
            out[key] = self._build(value_node, (*path, key), parents, aliased)
            if isinstance(value_node, yaml.CollectionNode) and not value_node.flow_style:
                # A block under `key:` starts on the next line; the key's line reads better.
                mark = key_node.start_mark
                self.positions[(*path, key)] = (mark.line + 1, mark.column + 1)
        return out

    def _unknown_tag(self, node: yaml.Node, path: PathKey) -> None:
        self.problem(
            node,
            path,
            f"unknown YAML tag {node.tag.replace(_YAML, '!!')}",
            "remove the tag; values are plain text, numbers, true/false, lists and mappings",
        )

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        tag = node.tag
        if tag not in _SCALARS:
            return self._unknown_tag(node, path)
        if tag == f"{_YAML}timestamp":
            return node.value  # a date means its text here (a prompt, a file name)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
            kind = tag.replace(_YAML, "")
            self.problem(
                node,
                path,
                f"{_short(node.value)} cannot be read as {kind} ({str(exc).splitlines()[0][:80]})",
                "remove the !!" + kind + " tag, or write a valid " + kind,
            )
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(
                node,
                path,
                f"{node.value} is not a finite number",
                "write a number: NaN and infinity cannot be prices, budgets, rates or limits",
            )
            return None
        if isinstance(value, str) and "\x00" in value:
            self.problem(node, path, "a NUL character (\\0) in a value", "remove it")
            return None
        return value


def _line(text: str, index: int) -> str:
    lines = text.splitlines()
    return lines[index] if 0 <= index < len(lines) else ""


def _code(character: int | str) -> int:
    return character if isinstance(character, int) else ord(character[:1] or "\0")


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
