"""What several commands share: options as decorators, error handling, option parsing,
and the environment variables that set options' defaults.

A default from the environment (GROKBATCH_DB, GROKBATCH_OUTPUT_DIR, GROKBATCH_CONCURRENCY,
GROKBATCH_REQUESTS_PER_MINUTE) is checked like the option itself, and a bad value is exit 2
naming the variable. GROKBATCH_DB and GROKBATCH_OUTPUT_DIR do not apply to the sandbox: it
keeps its own state and outputs, so an emulated clip is never taken for a paid one (an
explicit --db or --output-dir still does).
"""

from __future__ import annotations

import difflib
import sys
import textwrap
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from . import providers
from .errors import EXIT_INTERRUPTED, GrokbatchError, InputError
from .providers.client import base_url_env
from .workspace import SANDBOX_ENV, sandbox_requested

F = TypeVar("F", bound=Callable[..., Any])

DB_ENV = "GROKBATCH_DB"
OUTPUT_DIR_ENV = "GROKBATCH_OUTPUT_DIR"
CONCURRENCY_ENV = "GROKBATCH_CONCURRENCY"
REQUESTS_PER_MINUTE_ENV = "GROKBATCH_REQUESTS_PER_MINUTE"


def environment() -> list[tuple[str, str]]:
    """Every environment variable grokbatch reads, with what it does (for --help)."""
    names = providers.NAMES
    keys = ", ".join(providers.get(n).key_env for n in names)
    urls = ", ".join(base_url_env(providers.get(n)) for n in names)
    return [
        (keys, "each provider's API key; never stored or shown"),
        (urls, "a provider's base URL, instead of the manifest's or its own"),
        (SANDBOX_ENV, "1: run against the built-in emulator, as --sandbox"),
        (DB_ENV, "the state database, as --db (not for the sandbox)"),
        (OUTPUT_DIR_ENV, "the output directory, as --output-dir (not for the sandbox)"),
        (CONCURRENCY_ENV, "jobs in flight at once, as run --concurrency"),
        (REQUESTS_PER_MINUTE_ENV, "[PROVIDER=]N, space-separated, as run --requests-per-minute"),
        ("GROKBATCH_EMULATOR_KEY", "the one key `grokbatch emulate` accepts, as its --key"),
    ]


def environment_epilog() -> str:
    r"""The `grokbatch --help` epilog; `\b` keeps click from rewrapping the list."""
    lines = ["\b", "Environment variables:"]
    for names, meaning in environment():
        lines += [f"  {line}" for line in textwrap.wrap(names, 76)]
        lines.append(f"      {meaning}")
    return "\n".join(lines)


class EnvOption(click.Option):
    """An option whose default may come from an environment variable: a bad value from
    there is reported (exit 2) under the variable's name, not only the option's."""

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except click.BadParameter as exc:
            if ctx.get_parameter_source(self.name or "") is not ParameterSource.ENVIRONMENT:
                raise
            exc.param_hint = f"the environment variable {self.envvar} (for {self.opts[0]})"
            raise


def sandbox_keeps_its_own(func: F) -> F:
    """GROKBATCH_DB and GROKBATCH_OUTPUT_DIR do not apply to the sandbox: it keeps its own
    state and outputs (--db and --output-dir given on the command line still do)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if sandbox_requested(kwargs.get("sandbox")):
            ctx = click.get_current_context()
            for name in ("db", "output_dir"):
                if name in kwargs and ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT:
                    kwargs[name] = None
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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


def parse_requests_per_minute(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> dict[str, float]:
    """`N` (every provider) or `PROVIDER=N`, repeatable; a click callback."""
    out: dict[str, float] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        if name and name not in providers.NAMES:
            close = difflib.get_close_matches(name, providers.NAMES, n=1)
            known = f"did you mean {close[0]}?" if close else ", ".join(providers.NAMES)
            raise click.BadParameter(f"{value!r}: no provider is called {name!r} ({known})")
        try:
            rate = float(number)
        except ValueError:
            rate = 0.0
        if not rate > 0 or rate == float("inf"):
            raise click.BadParameter(f"{value!r}: expected a positive number or PROVIDER=NUMBER")
        out[name or "*"] = rate
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
        cls=EnvOption,
        envvar=DB_ENV,
        type=click.Path(dir_okay=False),
        help="State database: an SQLite file (default: .grokbatch/state.db beside the "
        "manifest; .grokbatch/sandbox.db with --sandbox) or a PostgreSQL URL "
        "(postgresql://user:password@host/db, shared by runners on several machines; "
        f"needs grokbatch[postgres]). Also {DB_ENV} (not in the sandbox).",
    )(func)
    return sandbox_keeps_its_own(func)


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
        cls=EnvOption,
        envvar=OUTPUT_DIR_ENV,
        type=click.Path(file_okay=False),
        help="Where outputs go (default: the manifest's output.dir, beside the manifest; "
        f"also {OUTPUT_DIR_ENV}).",
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
