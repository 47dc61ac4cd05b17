"""The command line: parse, call the library, print. Nothing else lives here.

Exit codes (every command): 0 success, 1 some jobs failed, 2 invalid input (nothing sent),
3 budget would be or was exceeded, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from . import __version__
from .errors import EXIT_BUDGET, EXIT_INTERRUPTED, GrokbatchError, InputError
from .manifest import load

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn grokbatch errors into a message on stderr and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GrokbatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def parse_max_credits(values: tuple[str, ...]) -> dict[str, float]:
    """`N` (the only provider) or `PROVIDER=N`, repeatable."""
    out: dict[str, float] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        try:
            amount = float(number)
        except ValueError:
            raise InputError(
                f"--max-credits {value!r}: expected a number or PROVIDER=NUMBER"
            ) from None
        if amount < 0:
            raise InputError(f"--max-credits {value!r}: a budget cannot be negative")
        out[name or "*"] = amount
    return out


manifest_argument = click.argument("manifest", type=click.Path(dir_okay=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grokbatch")
def main() -> None:
    """Generate Grok Imagine videos and images in bulk, within a budget, resumably."""


@main.command()
@manifest_argument
@handle_errors
def validate(manifest: str) -> None:
    """Check a manifest and every job it expands to; nothing is sent.

    Reports every problem at once, each with its file, line and fix; exit code 2 if any.
    """
    from .plan import make_plan

    plan = make_plan(load(manifest))
    providers = ", ".join(f"{n} ({t.jobs})" for n, t in plan.totals.items())
    click.echo(f"{manifest}: ok, {plan.jobs} jobs ({providers})")


@main.command()
@manifest_argument
@click.option(
    "--max-credits",
    "max_credits",
    multiple=True,
    metavar="[PROVIDER=]N",
    help="Budget in credits; PROVIDER=N per provider (repeatable). Overrides the "
    "manifest's limits.max_credits.",
)
@click.option("--max-usd", type=float, help="Budget in USD over every provider.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@handle_errors
def plan(manifest: str, max_credits: tuple[str, ...], max_usd: float | None, as_json: bool) -> None:
    """Price a manifest without sending anything; exit 3 if it would exceed the budget."""
    from .plan import format_plan, make_plan

    result = make_plan(load(manifest), max_credits=parse_max_credits(max_credits), max_usd=max_usd)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(format_plan(result))
    if result.over_budget:
        sys.exit(EXIT_BUDGET)


@main.command()
def schema() -> None:
    """Print the manifest's JSON Schema (for editors and CI)."""
    from .schema import schema_text

    click.echo(schema_text(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
