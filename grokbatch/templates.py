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
    _memo: dict[Any, str] = field(default_factory=dict, repr=False)
    constant: str | None = None  # the output, for templates that read no variable

    def render(self, context: Mapping[str, Any]) -> str:
        """Render with context; raises TemplateProblem naming an undefined variable."""
        if self.constant is not None:
            return self.constant
        try:
            memo_key = tuple(_freeze(context.get(name, _MISSING)) for name in self.variables)
        except TypeError:
            memo_key = None
        if memo_key is not None:
            hit = self._memo.get(memo_key)
            if hit is not None:
                return hit
        try:
            out: str = self._compiled.render(context)
        except UndefinedError as exc:
            missing = [n for n in self.variables if n not in context]
            names = ", ".join(sorted(context))
            raise TemplateProblem(
                f"undefined variable: {exc.message}"
                if not missing
                else f"undefined variable {missing[0]!r}",
                hint=f"define it under `vars:`, as a matrix axis or a CSV column; "
                f"defined here: {names}",
            ) from None
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template: {exc}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {exc}") from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateProblem(f"template failed: {exc}") from None
        if memo_key is not None and len(self._memo) < 200_000:
            self._memo[memo_key] = out
        return out


_MISSING = object()


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    hash(value)
    return value


def compile_template(text: str) -> Template:
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
    template = Template(text=text, variables=variables, _compiled=compiled)
    if not variables:
        template.constant = template.render({})
    return template


def looks_like_template(value: str) -> bool:
    return "{{" in value or "{%" in value
