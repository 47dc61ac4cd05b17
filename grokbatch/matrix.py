"""The grid: GitHub Actions' matrix rules, exactly, with the prompts as an outer loop.

GitHub builds `strategy.matrix` like this (its workflow parser's `MatrixBuilder`,
actions/runner, and the docs' "Running variations of jobs in a workflow"):

1. The axes are crossed in the order written, the first one varying slowest.
2. An `exclude` entry removes every combination that matches all of its values.
3. An `include` entry is split into the keys that are axes (its filter) and the others (its
   extra values). The extra values are added to every combination left after `exclude` that
   matches the filter; an entry without axis keys matches every combination. A later entry
   overwrites the extra values of an earlier one, never an axis value.
4. An `include` entry that matches no combination becomes a combination of its own, with
   its values as written. So a matrix with no axes makes one combination per entry.
5. Values are compared as GitHub expressions compare them with `==`: strings without regard
   to case, a string and a number as numbers ("10" == 10), null and booleans as numbers,
   and a mapping or list in an entry leaf by leaf (`{name: xai}` matches any mapping whose
   `name` is xai, whatever else it holds).

grokbatch adds the prompts as an outer loop: for each prompt the matrix is built from the
entries that apply to it, those without `prompt:` and those whose `prompt:` is its id.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_ABSENT = object()


# --- GitHub's `==` ---------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "object"


_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_number(text: str) -> float:
    """A string as GitHub's expressions read it as a number (JavaScript's Number(), nearly)."""
    text = text.strip()
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text)
    for prefix, base, digits in (("0x", 16, "0123456789abcdefABCDEF"), ("0o", 8, "01234567")):
        rest = text[2:]
        if text.startswith(prefix) and rest and all(c in digits for c in rest):
            number = int(rest, base)
            return float(number) if number < 2**31 else math.nan
    return {"Infinity": math.inf, "-Infinity": -math.inf}.get(text, math.nan)


def _number(value: Any) -> float:
    kind = _kind(value)
    if kind == "null":
        return 0.0
    if kind in ("boolean", "number"):
        return float(value)
    return parse_number(value) if kind == "string" else math.nan


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    kl, kr = _kind(left), _kind(right)
    if kl == kr:
        return left, right
    if kl == "number" and kr == "string":
        return left, parse_number(right)
    if kl == "string" and kr == "number":
        return parse_number(left), right
    if kl in ("null", "boolean"):
        return _coerce(_number(left), right)
    if kr in ("null", "boolean"):
        return _coerce(left, _number(right))
    return left, right


def _upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    # Ordinal, one character at a time; the dotless ı stays as it is, as in GitHub's.
    return "".join(c if c == "ı" or len(c.upper()) != 1 else c.upper() for c in text)


def loose_equal(left: Any, right: Any) -> bool:
    """GitHub's `left == right`."""
    left, right = _coerce(left, right)
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "null":
        return True
    if kind == "number":
        return not (math.isnan(left) or math.isnan(right)) and float(left) == float(right)
    if kind == "string":
        return _upper(left) == _upper(right)
    if kind == "boolean":
        return bool(left) == bool(right)
    return left is right  # mappings and lists: only the very same one


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, scalar) of an entry's value: what GitHub compares, leaf by leaf."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, (*path, i))]
    return [(path, value)]


def _lookup(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(value, dict) and isinstance(key, str):
            if key not in value:  # GitHub's mappings ignore case in keys
                key = next((k for k in value if _upper(str(k)) == _upper(key)), key)
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def matches(value: Any, wanted: Any) -> bool:
    """Whether an axis value matches an entry's value for that axis, as GitHub decides."""
    return all(loose_equal(_lookup(value, path), leaf) for path, leaf in leaves(wanted))


# --- the grid --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An include or exclude entry, compiled against the axes."""

    index: int
    filters: tuple[tuple[int, frozenset[int]], ...]  # (axis position, indexes it matches)
    prompt: Any  # the `prompt:` it names, or _ABSENT
    extra: Mapping[str, Any] = field(default_factory=dict)  # include: the other keys
    written: Mapping[str, Any] = field(default_factory=dict)  # include: all, as written

    def applies_to(self, prompt_id: str) -> bool:
        return self.prompt is _ABSENT or loose_equal(prompt_id, self.prompt)

    def matches(self, indexes: Sequence[int]) -> bool:
        return all(indexes[p] in ok for p, ok in self.filters)


@dataclass
class Combo:
    """One grid point: an index per axis (a product combination) or an include as written."""

    indexes: tuple[int, ...] | None  # None: a standalone include entry
    extra: dict[str, Any]  # the include values added to it
    extra_from: dict[str, int]  # key → the include entry it came from


class Grid:
    """The axes with their include and exclude entries; walked once per prompt."""

    def __init__(
        self,
        axes: Sequence[tuple[str, Sequence[Any]]],
        include: Sequence[Mapping[str, Any]],
        exclude: Sequence[Mapping[str, Any]],
    ) -> None:
        self.names = [name for name, _ in axes]
        self.values = [list(values) for _, values in axes]
        self.excludes = [self._entry(i, e) for i, e in enumerate(exclude)]
        self.includes = [self._entry(i, e, include=True) for i, e in enumerate(include)]
        self.excluded = [0] * len(self.excludes)  # combinations each exclude removed

    def _entry(self, index: int, entry: Mapping[str, Any], *, include: bool = False) -> Entry:
        position = {name: p for p, name in enumerate(self.names)}
        filters = tuple(
            (p, frozenset(i for i, v in enumerate(self.values[p]) if matches(v, w)))
            for k, w in entry.items()
            if (p := position.get(k)) is not None
        )
        extra = {k: v for k, v in entry.items() if k not in position and k != "prompt"}
        written = {k: v for k, v in entry.items() if k != "prompt"} if include else {}
        return Entry(index, filters, entry.get("prompt", _ABSENT), extra, written)

    def product_size(self) -> int:
        """Combinations per prompt before exclude (GitHub: none without axes but includes)."""
        if not self.names:
            return 0 if self.includes else 1
        return math.prod(len(v) for v in self.values)

    def size_bound(self, prompts: int) -> int:
        """The most jobs the grid can make for `prompts` prompts."""
        return prompts * (self.product_size() + len(self.includes))

    def combos(self, prompt_id: str, unmatched: list[int]) -> Iterator[Combo]:
        """The product combinations for one prompt; appends to `unmatched` the includes that
        apply to it but matched none (each becomes a combination of its own)."""
        excludes = [e for e in self.excludes if e.applies_to(prompt_id)]
        includes = [e for e in self.includes if e.applies_to(prompt_id)]
        matched = [False] * len(includes)
        if self.product_size():
            for indexes in itertools.product(*(range(len(v)) for v in self.values)):
                hit = next((e for e in excludes if e.matches(indexes)), None)
                if hit is not None:
                    self.excluded[hit.index] += 1
                    continue
                extra: dict[str, Any] = {}
                extra_from: dict[str, int] = {}
                for n, entry in enumerate(includes):
                    if entry.matches(indexes):
                        matched[n] = True
                        extra.update(entry.extra)
                        extra_from.update(dict.fromkeys(entry.extra, entry.index))
                yield Combo(indexes, extra, extra_from)
        unmatched.extend(e.index for e, hit in zip(includes, matched, strict=True) if not hit)

    def standalone(self, include: int) -> Combo:
        """An include entry that matched nothing, as a combination of its own."""
        entry = self.includes[include]
        return Combo(None, dict(entry.written), dict.fromkeys(entry.written, include))
