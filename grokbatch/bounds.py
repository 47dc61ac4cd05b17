"""The bounds on template work, and the checks that enforce them before anything is built.

Every check estimates what an operation would build from its inputs (`size`), so a runaway
template is refused before its first big allocation; `Budget` counts the steps and
characters of one render. The numbers are documented in `sandbox`'s docstring.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

MAX_STRING = 1_000_000
MAX_BUILT = 20_000_000
MAX_STEPS = 1_000_000
MAX_RANGE = 100_000
MAX_WIDTH = 10_000
MAX_INT_BITS = 10_000
MAX_SECONDS = 2.0


class LimitError(Exception):
    """A template asked for more work than the bounds allow."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class Budget:
    """What one render may still do."""

    seed: str = ""
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)
    steps: int = 0
    built: int = 0
    _rng: random.Random | None = None

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise LimitError(
                f"the template takes more than {MAX_STEPS:,} steps (loop iterations and calls)",
                "loop over fewer items; templates are for wording prompts, not for computing",
            )
        if not self.steps & 1023 and time.monotonic() > self.deadline:
            raise LimitError(
                f"the template takes longer than {MAX_SECONDS:g} s to render",
                "simplify the template: fewer loops, calls and repeats",
            )

    def build(self, value: Any) -> None:
        if isinstance(value, str | list | tuple | dict):
            self.built += len(value)
            if self.built > MAX_BUILT:
                raise LimitError(
                    f"the template builds more than {MAX_BUILT:,} characters of text",
                    "build less text: repeats and concatenations in loops add up",
                )

    def rng(self) -> random.Random:
        if self._rng is None:
            digest = hashlib.sha256(self.seed.encode("utf-8", "surrogatepass")).digest()
            self._rng = random.Random(int.from_bytes(digest[:8], "big"))
        return self._rng


_budget: ContextVar[Budget | None] = ContextVar("grokbatch_template_budget", default=None)


def budget() -> Budget:
    """The current render's budget; a fresh one while Jinja folds constants at compile time."""
    return _budget.get() or Budget()


class rendering:
    """Give the render inside this block its own budget, seeded with `seed`."""

    __slots__ = ("seed", "token")

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def __enter__(self) -> Budget:
        current = Budget(seed=self.seed)
        self.token = _budget.set(current)
        return current

    def __exit__(self, *exc: object) -> None:
        _budget.reset(self.token)


# --- sizes -------------------------------------------------------------------------------


def size(value: Any, limit: int = MAX_STRING) -> int:
    """About how many characters `value` prints as; stops counting once past `limit`.

    Lists that repeat one list (`[[x] * 1000] * 1000`) are counted as printed, not as
    stored: that is what str(), tojson and loops over them would do.
    """
    if isinstance(value, str):
        return len(value)
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict):
            total += 2 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            total += 2 * len(item) + 2
            stack.extend(item)
        else:
            total += 8
    return total


def too_long(what: str) -> LimitError:
    return LimitError(
        f"{what} would be longer than {MAX_STRING:,} characters",
        "keep strings and lists short: a prompt is read by a model, not stored in bulk",
    )


def check_size(value: Any, what: str = "a value") -> None:
    kind = type(value)
    if kind is str:  # the common case, without a call
        if len(value) > MAX_STRING:
            raise too_long(what)
    elif kind is not int and kind is not float and kind is not bool and size(value) > MAX_STRING:
        raise too_long(what)


def check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and abs(width) > MAX_WIDTH:
        raise LimitError(f"{what} {width:,} is over {MAX_WIDTH:,}", f"use at most {MAX_WIDTH:,}")


def check_int(value: int) -> None:
    if value.bit_length() > MAX_INT_BITS:
        raise LimitError(
            f"a number with over {MAX_INT_BITS:,} bits", "use numbers of a sensible size"
        )


# --- operators ---------------------------------------------------------------------------

_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?[hlL]?"
    r"(?P<conv>[diouxXeEfFgGcrsa%])"
)


def check_printf(fmt: str, args: Any) -> None:
    """`fmt % args` would stay within MAX_STRING (width, precision and each value counted)."""
    values = list(args) if isinstance(args, tuple) else [args]
    total = len(fmt)
    for spec in _PRINTF.finditer(fmt):
        if spec["conv"] == "%":
            continue
        for part in ("width", "prec"):
            number = spec[part]
            if number == "*":
                number = values.pop(0) if values else 0
            if number is not None:
                check_width(int(number), "a format width or precision")
                total += abs(int(number))
        if spec["key"] is not None and isinstance(args, Mapping):
            total += size(args.get(spec["key"], ""))
        elif values:
            total += size(values.pop(0))
    if total > MAX_STRING:
        raise too_long("the formatted text")


def check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if right * max(abs(left).bit_length(), 1) > MAX_INT_BITS and abs(left) > 1:
            raise LimitError(
                f"{left} ** {right} has over {MAX_INT_BITS:,} bits", "use a smaller power"
            )
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitError(
                    f"a product with over {MAX_INT_BITS:,} bits", "use smaller numbers"
                )
        elif isinstance(left, int) or isinstance(right, int):
            times, seq = (left, right) if isinstance(left, int) else (right, left)
            if isinstance(seq, str | list | tuple) and times * size(seq) > MAX_STRING:
                raise too_long(f"repeating a value {times:,} times")
    elif operator == "+" and not isinstance(left, int | float):
        if size(left) + size(right) > MAX_STRING:
            raise too_long("the joined value")
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


# --- calls -------------------------------------------------------------------------------


def grown(text: str, old: Any, new: Any, count: Any = -1) -> int:
    """The length of text.replace(old, new, count), computed without building it."""
    old, new = str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _check_str_method(obj: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill"):
        check_width(values[0] if values else 0, f"str.{name} width")
    elif name == "expandtabs":
        tab = values[0] if values else 8
        check_width(tab, "str.expandtabs size")
        if len(obj) + obj.count("\t") * int(tab) > MAX_STRING:
            raise too_long("the expanded text")
    elif name == "replace" and len(values) >= 2:
        if grown(obj, values[0], values[1], values[2] if len(values) > 2 else -1) > MAX_STRING:
            raise too_long("the replaced text")
    elif name == "join" and values:
        parts = values[0]
        if isinstance(parts, list | tuple) and size(parts) + len(obj) * len(parts) > MAX_STRING:
            raise too_long("the joined text")
    elif name == "translate":
        raise LimitError("str.translate is not available in templates", "use replace")


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        check_size(value, "an argument")
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, str):
        _check_str_method(owner, getattr(obj, "__name__", ""), args, kwargs)


def _join_check(value: Any = (), d: Any = "", attribute: Any = None) -> None:
    if isinstance(value, list | tuple) and size(value) + len(str(d)) * len(value) > MAX_STRING:
        raise too_long("the joined text")


def _indent_check(s: Any = "", width: Any = 4, *args: Any, **kwargs: Any) -> None:
    text = str(s)
    check_width(width, "indent width")
    per_line = width if isinstance(width, int) else len(str(width))
    if len(text) + (text.count("\n") + 1) * per_line > MAX_STRING:
        raise too_long("the indented text")


def _wordwrap_check(s: Any = "", width: Any = 79, *args: Any, **kwargs: Any) -> None:
    wrap = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
    lines = len(str(s)) // max(int(width), 1) + str(s).count("\n") + 1
    if len(str(s)) + lines * len(str(wrap)) > MAX_STRING:
        raise too_long("the wrapped text")


def _replace_check(s: Any = "", old: Any = "", new: Any = "", count: Any = None) -> None:
    if grown(str(s), old, new, -1 if count is None else count) > MAX_STRING:
        raise too_long("the replaced text")


def _format_check(value: Any = "", *args: Any, **kwargs: Any) -> None:
    check_printf(str(value), kwargs or args)


def _count_check(value: Any = None, count: Any = 0, *args: Any, **kwargs: Any) -> None:
    check_width(count, "a count")


def _tojson_check(value: Any = None, indent: Any = None) -> None:
    if indent is not None and (not isinstance(indent, int) or indent > 16):
        raise LimitError(f"tojson indent {indent!r} is too large", "use an indent of 16 or less")


def _urlize_check(value: Any = "", *args: Any, **kwargs: Any) -> None:
    if len(str(value)) > MAX_WIDTH or any(size(a) > 200 for a in (*args, *kwargs.values())):
        raise LimitError("urlize on a long text", f"use it on at most {MAX_WIDTH:,} characters")


FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "join": _join_check,
    "indent": _indent_check,
    "wordwrap": _wordwrap_check,
    "replace": _replace_check,
    "format": _format_check,
    "center": _count_check,
    "batch": _count_check,
    "slice": _count_check,
    "truncate": _count_check,
    "tojson": _tojson_check,
    "urlize": _urlize_check,
}
