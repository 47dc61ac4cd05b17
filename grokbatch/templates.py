"""Jinja2 templates, rendered in the sandbox with strict undefined variables.

A template is rendered once per distinct combination of the variables it actually uses, so
a prompt crossed with durations and aspect ratios it does not mention renders once, not
once per job: this is what keeps expanding 100,000 jobs fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)


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
    variables: tuple[str, ...]  # top-level names the template reads
    _compiled: Any = field(repr=False)
    memoize: bool = True  # off for templates whose output differs for every job
    _memo: dict[Any, str] = field(default_factory=dict, repr=False)
    constant: str | None = None  # the output, for templates that read no variable
    _ctx: Any = field(default=None, repr=False)

    def render(self, context: Mapping[str, Any]) -> str:
        """Render with context; raises TemplateProblem naming an undefined variable."""
        if self.constant is not None:
            return self.constant
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
                hit = self._memo.get(memo_key)
                if hit is not None:
                    return hit
        for name in self.variables:
            if name not in local and name in ENV.globals:
                local[name] = ENV.globals[name]
        try:
            out = "".join(self._compiled.root_render_func(self._context(local)))
        except UndefinedError as exc:
            missing = [n for n in self.variables if n not in local]
            names = ", ".join(sorted(k for k in context if not k.startswith("_")))
            raise TemplateProblem(
                f"undefined variable {missing[0]!r}"
                if missing
                else f"undefined variable: {exc.message}",
                hint="define it under `vars:`, as a matrix axis or a CSV column; "
                f"defined here: {names}",
            ) from None
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template: {exc}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateProblem(f"template failed: {exc!r}") from None
        if memo_key is not None and len(self._memo) < 200_000:
            self._memo[memo_key] = out
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
        ast = ENV.parse(text)
        compiled = ENV.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"template syntax error: {exc.message}",
            line=exc.lineno,
            hint="check the {{ }} and {% %} pairs; a literal brace is written {{ '{{' }}",
        ) from None
    variables = tuple(sorted(meta.find_undeclared_variables(ast)))
    template = Template(text=text, variables=variables, _compiled=compiled, memoize=memoize)
    if not variables:
        template.constant = template.render({})
    return template


def looks_like_template(value: str) -> bool:
    return "{{" in value or "{%" in value
