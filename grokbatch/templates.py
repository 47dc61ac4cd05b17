"""Jinja2 templates, rendered in the bounded sandbox with strict undefined variables.

A template is rendered once per distinct combination of the variables it actually uses, so
a prompt crossed with durations and aspect ratios it does not mention renders once, not
once per job: this is what keeps expanding 100,000 jobs fast. A template that draws at
random (`random`, `lipsum`) is also keyed by its seed, the job's coordinates. A template
that is only text and `{{ name }}` / `{{ name.key }}` (most prompts and output paths) is
substituted without Jinja when every value is a string or a small int: the same text, and
anything else goes to Jinja.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError

from .bounds import MAX_STRING, LimitError, rendering
from .jinja_env import ADDRESS, BoundedEnvironment

ENV = BoundedEnvironment()
MAX_OUTPUT = 100_000  # characters of one rendered prompt, path or URL
_RANDOM_NAMES = frozenset({"random", "lipsum"})


class TemplateProblem(Exception):
    """A template failed to compile or render; `line` is relative to the template."""

    def __init__(self, message: str, *, line: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.line = line
        self.hint = hint


@dataclass
class Template:
    """A compiled template that remembers what it rendered."""

    text: str
    variables: tuple[str, ...]  # top-level names the template reads (Jinja's globals aside)
    _compiled: Any = field(repr=False)
    globals_used: tuple[str, ...] = ()  # Jinja globals it reads (range, lipsum, ...)
    seeded: bool = False  # draws at random: renders differ per seed (the job)
    memoize: bool = True  # off for templates whose output differs for every job
    _memo: dict[Any, str] = field(default_factory=dict, repr=False)
    constant: str | None = None  # the output, for templates that read no variable
    # Text and `{{ name }}` / `{{ name.key }}` only (most prompts and output paths):
    # rendered without Jinja.
    plain: Plain | None = None
    _ctx: Any = field(default=None, repr=False)

    def render(self, context: Mapping[str, Any], *, seed: str = "") -> str:
        """Render with context; raises TemplateProblem naming an undefined variable."""
        if self.constant is not None:
            return self.constant
        if self.plain is not None:
            fast = _substitute(self.plain, context)
            if fast is not None:
                return fast
        # Only the names the template reads are handed to Jinja, in a context it shares
        # rather than copies: half the cost of a plain render, which matters at 100k jobs.
        local = {n: context[n] for n in self.variables if n in context}
        memo_key = None
        if self.memoize:
            try:
                memo_key = tuple(_freeze(local.get(n, _MISSING)) for n in self.variables)
            except TypeError:
                memo_key = None
            else:
                if self.seeded:
                    memo_key = (*memo_key, seed)
                hit = self._memo.get(memo_key)
                if hit is not None:
                    return hit
        for name in self.globals_used:
            local.setdefault(name, ENV.globals[name])
        out = self._render(local, context, seed)
        if memo_key is not None and len(self._memo) < 200_000:
            self._memo[memo_key] = out
        return out

    def _render(self, local: dict[str, Any], context: Mapping[str, Any], seed: str) -> str:
        parts: list[str] = []
        length = 0
        try:
            with rendering(seed):
                for part in self._compiled.root_render_func(self._context(local)):
                    length += len(part)
                    if length > MAX_OUTPUT:
                        raise LimitError(
                            f"the template renders more than {MAX_OUTPUT:,} characters",
                            "shorten it: providers take prompts of a few thousand characters",
                        )
                    parts.append(part)
        except UndefinedError as exc:
            missing = [n for n in self.variables if n not in local]
            if missing:
                raise TemplateProblem(
                    f"undefined variable {missing[0]!r}", hint=undefined_hint(missing[0], context)
                ) from None
            raise TemplateProblem(
                f"undefined: {exc.message}",
                hint="the value has no such key or attribute here; test it with `is defined`, "
                "or give a default: {{ x.key | default('') }}",
            ) from None
        except LimitError as exc:
            raise TemplateProblem(str(exc), hint=exc.hint) from None
        except SecurityError as exc:
            raise TemplateProblem(
                f"not allowed in a template: {exc}",
                hint="templates can read variables and call filters, not reach into Python",
            ) from None
        except RecursionError:
            raise TemplateProblem(
                "the template calls itself without end (a macro or a recursive loop)",
                hint="give the recursion a way to stop, or write the text out",
            ) from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {exc}", hint=_hint(str(exc))) from None
        except Exception as exc:  # the template's own doing: any failure is a problem in it
            raise TemplateProblem(
                f"template failed: {type(exc).__name__}: {str(exc)[:200]}",
                hint="check the values this template reads, and the filters it applies",
            ) from None
        out = "".join(parts)
        found = ADDRESS.search(out)
        if found:
            raise TemplateProblem(
                f"the template prints {found.group(0)}, a Python object whose text changes on "
                "every run (so would the job's key, and it would be paid again)",
                hint="print values, not functions or objects",
            )
        return out

    def _context(self, local: dict[str, Any]) -> Any:
        """A Jinja Context over `local`, reused between renders: building one per render
        costs as much as rendering a short template. Safe because expansion renders one
        template at a time and every render starts from cleared variables."""
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = self._compiled.new_context(local, shared=True)
        else:
            ctx.parent = local
            ctx.vars.clear()
            ctx.exported_vars.clear()
        return ctx


_MISSING = object()
_LARGEST_INT = 10**15  # printed the same by Jinja and str(), far from Python's digit limit


def _substitute(plain: Plain, context: Mapping[str, Any]) -> str | None:
    """A plain template's output, exactly as Jinja would print it; None where Jinja must
    decide (a missing name, a value that is not a string or a small int, a long output,
    an object's address), and the full render then raises or prints the same."""
    values: list[Any] = []
    for name, key in plain.slots:
        value = context.get(name, _MISSING)
        if key is not None:
            # Jinja's `a.key` on a dict: the attribute if dict has one, else the item.
            if type(value) is not dict or hasattr(dict, key) or key not in value:
                return None
            value = value[key]
        kind = type(value)
        if kind is str:
            if len(value) > MAX_STRING:
                return None
        elif kind is not int or not -_LARGEST_INT < value < _LARGEST_INT:
            return None
        values.append(value)
    out = plain.text.format(*values)
    if len(out) > MAX_OUTPUT or ADDRESS.search(out):
        return None
    return out


@dataclass(frozen=True, slots=True)
class Plain:
    """A template made of text and `{{ name }}` / `{{ name.key }}` alone: the text as a
    format string with one `{}` per value, and per value its (name, key or None)."""

    text: str
    slots: tuple[tuple[str, str | None], ...]


def _plain(tree: nodes.Template, variables: Collection[str]) -> Plain | None:
    """The Plain form of a template made of text and `{{ name }}` / `{{ name.key }}`."""
    text: list[str] = []
    slots: list[tuple[str, str | None]] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                text.append(node.data.replace("{", "{{").replace("}", "}}"))
                continue
            if isinstance(node, nodes.Name) and node.name in variables:
                slots.append((node.name, None))
            elif (
                isinstance(node, nodes.Getattr)
                and isinstance(node.node, nodes.Name)
                and node.node.name in variables
            ):
                slots.append((node.node.name, node.attr))
            else:
                return None
            text.append("{}")
    return Plain("".join(text), tuple(slots))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    hash(value)
    return value


def compile_template(text: str, *, memoize: bool = True) -> Template:
    """Compile a template; syntax errors raise TemplateProblem with the template line."""
    try:
        tree = ENV.parse_bounded(text)
        compiled = ENV.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"template syntax error: {exc.message}", line=exc.lineno, hint=_hint(exc.message or "")
        ) from None
    except (LimitError, RecursionError, MemoryError) as exc:
        raise TemplateProblem(f"the template is too complex: {exc}") from None
    ENV.bind(compiled)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise TemplateProblem(
            "a template cannot include, import or extend another template",
            line=node.lineno,
            hint="write the text in the template itself; share values through `vars:`",
        )
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    filters = {f.name for f in tree.find_all(nodes.Filter)}
    constants = {c.value for c in tree.find_all(nodes.Const) if isinstance(c.value, str)}
    template = Template(
        text=text,
        variables=tuple(sorted(meta.find_undeclared_variables(tree))),
        _compiled=compiled,
        globals_used=tuple(sorted(n for n in names if n in ENV.globals)),
        # `map('random')` names the filter in a string: count those too.
        seeded=bool((names | filters | constants) & _RANDOM_NAMES),
        memoize=memoize,
    )
    if not template.variables and not template.seeded:
        template.constant = template.render({})
    elif not template.seeded:
        template.plain = _plain(tree, template.variables)
    return template


def _hint(message: str) -> str:
    for kind, known in (("filter", ENV.filters), ("test", ENV.tests)):
        if message.startswith(f"No {kind} named "):
            name = message.split("'")[1] if "'" in message else ""
            close = difflib.get_close_matches(name, sorted(known), n=1)
            lead = f"did you mean {close[0]!r}? " if close else ""
            return f"{lead}Jinja's built-in {kind}s are listed in its template documentation"
    return "check the {{ }} and {% %} pairs; a literal brace is written {{ '{{' }}"


def looks_like_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def undefined_hint(name: str | None, context: Iterable[str]) -> str:
    """'did you mean' the closest defined name, and what is defined."""
    names = sorted(k for k in context if not k.startswith("_"))
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6) if name else []
    shown = ", ".join(names[:30]) + (", …" if len(names) > 30 else "")
    lead = f"did you mean {close[0]!r}? " if close else ""
    return f"{lead}define it under `vars:`, as a matrix axis or a CSV column; defined: {shown}"
