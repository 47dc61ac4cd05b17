"""The Jinja2 environment templates run in: sandboxed, bounded in work, deterministic.

Jinja's own sandbox stops attribute tricks (`''.__class__`), but not work: `'x' * 3000000000`,
`9 ** 9 ** 9`, `'%0999999999d' % 1`, a macro that calls itself twice, or two nested loops
over a long string would each take the process down. Here every operation that can make
something big is checked *before* it runs, against an estimate of what it would build:

| bound (per render)       | value       | what it stops                                   |
|--------------------------|-------------|-------------------------------------------------|
| MAX_STRING characters    | 1,000,000   | any one string or list (`*`, `+`, `~`, `%`,     |
|                          |             | `.format`, center, indent, join, replace, …)    |
| MAX_BUILT characters     | 20,000,000  | everything built during one render, together    |
| MAX_STEPS                | 1,000,000   | loop iterations, calls, operators and filters   |
| MAX_RANGE items          | 100,000     | one `range()`                                   |
| MAX_WIDTH                | 10,000      | a format width or precision, `center`, `indent` |
| MAX_INT_BITS             | 10,000      | integers (`**`, `*`)                            |
| MAX_SECONDS              | 2           | a backstop on time                              |

Jinja's `random` filter and `lipsum` draw from a generator seeded by the job (its grid
coordinates), so the same job renders the same prompt on every run and gets the same key;
printing a function or an object whose text holds its memory address is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from string import Formatter
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes, pass_context
from jinja2.constants import LOREM_IPSUM_WORDS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from .bounds import (
    FILTER_CHECKS,
    MAX_RANGE,
    MAX_STRING,
    LimitError,
    budget,
    check_binop,
    check_call,
    check_int,
    check_size,
    check_width,
    size,
    too_long,
)

LOOP_FILTER = "grokbatch_loop"


class _BoundedFormatter(Formatter):
    """str.format with every width, precision and value size checked first."""

    def __init__(self, env: BoundedEnvironment) -> None:
        self.env = env
        super().__init__()

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        from _string import formatter_field_name_split  # type: ignore[import-not-found]

        first, rest = formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = self.env.getattr(obj, key) if is_attr else self.env.getitem(obj, key)
        return obj, first

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget().step()
        for number in re.findall(r"\d+", format_spec):
            check_width(int(number), "a format width or precision")
        check_size(value, "a formatted value")
        out = super().format_field(value, format_spec)
        budget().build(out)
        return out


# --- the environment -----------------------------------------------------------------------


def _concat(parts: Iterable[Any]) -> str:
    items = list(parts)
    total = 0
    for item in items:
        total += size(item)
        if total > MAX_STRING:
            raise too_long("the text")
    out = "".join(items)
    budget().build(out)
    return out


def _str_join(parts: Iterable[Any]) -> str:
    return _concat(str(p) if not isinstance(p, str) else p for p in _checked(parts))


def _checked(parts: Iterable[Any]) -> Iterator[Any]:
    for part in parts:
        check_size(part, "a joined value")
        yield part


def _loop(iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` loop iterates through here, one step per item."""
    current = budget()
    for item in iterable:
        current.step()
        yield item


def _range(*args: int) -> range:
    budget().step()
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise LimitError(
            f"range of {len(numbers):,} numbers is over {MAX_RANGE:,}",
            f"use a range of at most {MAX_RANGE:,} numbers",
        )
    return numbers


@pass_context
def _random(context: Any, seq: Any) -> Any:
    items = list(seq)
    if not items:
        return context.environment.undefined("No random item, sequence was empty.")
    return budget().rng().choice(items)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Lorem ipsum paragraphs, seeded by the job like `random`."""
    if not (0 <= n <= 100 and 1 <= min <= max <= 1000):
        raise LimitError(
            f"lipsum(n={n}, min={min}, max={max}) is out of bounds",
            "use n up to 100 and 1 <= min <= max <= 1000",
        )
    rng = budget().rng()
    words = LOREM_IPSUM_WORDS.split()
    paragraphs = []
    for _ in range(n):
        chosen = [rng.choice(words) for _ in range(rng.randint(min, max))]
        text = " ".join(chosen).capitalize() + "."
        paragraphs.append(f"<p>{text}</p>" if html else text)
    return "\n\n".join(paragraphs)


def _finalize(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int:  # the common case, at once
        check_size(value, "a printed value")
        return value
    check_size(value, "a printed value")
    if callable(value) and not isinstance(value, Undefined):
        name = getattr(value, "__name__", None) or getattr(value, "name", None) or "it"
        raise LimitError(
            f"the template prints a function ({name}) instead of a value",
            f"call it, e.g. {{{{ {name}() }}}}",
        )
    return value


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if _PassArg.from_obj(func) is not None else 0

    @wraps(func)
    def filtered(*args: Any, **kwargs: Any) -> Any:
        current = budget()
        current.step()
        own = args[skip:]
        if name == "join" and own and not isinstance(own[0], list | tuple | str | dict):
            args = (*args[:skip], list(own[0]), *args[skip + 1 :])  # to size it once
            own = args[skip:]
        for value in (*own, *kwargs.values()):
            check_size(value, f"the value given to |{name}")
        check = FILTER_CHECKS.get(name)
        if check is not None:
            check(*own, **kwargs)
        out = func(*args, **kwargs)
        current.build(out)
        return out

    return filtered


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with every amplifying operation bounded."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    concat = staticmethod(_concat)

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters["random"] = _bounded_filter("random", _random)
        self.filters[LOOP_FILTER] = _loop
        _range.__name__, _lipsum.__name__ = "range", "lipsum"
        self.globals.update(range=_range, lipsum=_lipsum)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        current = budget()
        current.step()
        check_binop(operator, left, right)
        out = super().call_binop(context, operator, left, right)
        if isinstance(out, int) and not isinstance(out, bool):
            check_int(out)
        current.build(out)
        return out

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current = budget()
        current.step()
        check_call(__obj, args, kwargs)
        out = super().call(__context, __obj, *args, **kwargs)
        current.build(out)
        return out

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None
        owner: str = value.__self__
        formatter = _BoundedFormatter(self)
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                kwargs, args = dict(args[0]) if args else {}, ()
            return _concat([formatter.vformat(owner, args, kwargs)])

        return bounded

    def parse_bounded(self, text: str) -> nodes.Template:
        """Parse a template and route each `{% for %}` loop through the step counter."""
        tree = self.parse(text)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
        return tree

    def bind(self, compiled: Any) -> None:
        """Route `~` (string joins) in compiled code through the size check."""
        namespace = compiled.root_render_func.__globals__
        namespace["str_join"] = _str_join
        namespace["markup_join"] = _str_join


ADDRESS = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
