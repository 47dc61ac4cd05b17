"""What several commands share: options as decorators, error handling, option parsing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from .errors import EXIT_INTERRUPTED, GrokbatchError, InputError

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


def state_options(func: F) -> F:
    """--db and --sandbox, shared by every command that reads a batch's state."""
    func = click.option(
        "--sandbox/--no-sandbox",
        default=None,
        help="Use the built-in emulator's separate state and outputs (also GROKBATCH_SANDBOX=1).",
    )(func)
    func = click.option(
        "--db",
        type=click.Path(),
        help="State database (default: .grokbatch/state.db beside the manifest; "
        ".grokbatch/sandbox.db with --sandbox).",
    )(func)
    return func


def budget_options(func: F) -> F:
    """--max-credits and --max-usd, shared by plan and run."""
    func = click.option("--max-usd", type=float, help="Budget in USD over every provider.")(func)
    func = click.option(
        "--max-credits",
        "max_credits",
        multiple=True,
        metavar="[PROVIDER=]N",
        help="Budget in credits over every run of this manifest; PROVIDER=N per provider "
        "(repeatable). Overrides the manifest's limits.max_credits.",
    )(func)
    return func


def resume_options(func: F) -> F:
    """--retry-failed and --resubmit-ambiguous, shared by plan and run."""
    func = click.option(
        "--resubmit-ambiguous",
        is_flag=True,
        help="Send again jobs whose submit answer was lost (they may be paid twice).",
    )(func)
    func = click.option(
        "--retry-failed", is_flag=True, help="Submit failed jobs again (paid again)."
    )(func)
    return func


def output_dir_option(func: F) -> F:
    return click.option(
        "--output-dir",
        type=click.Path(file_okay=False),
        help="Where outputs go (default: the manifest's output.dir, beside the manifest).",
    )(func)


def selection_options(func: F) -> F:
    """--only and --limit, shared by plan and run (and so the dry run)."""
    func = click.option(
        "--limit",
        type=click.IntRange(1),
        help="Only the first N jobs (in the plan's order) that pass --only.",
    )(func)
    func = click.option(
        "--only",
        "only",
        multiple=True,
        metavar="AXIS=VALUE",
        help="Only jobs with this grid coordinate (repeatable: values of one axis are "
        "alternatives, different axes must all match); key=PREFIX selects by job key.",
    )(func)
    return func
