"""The command line: parse, call the library, print. Nothing else lives here.

Exit codes (every command): 0 success, 1 some jobs failed, 2 invalid input (nothing sent),
3 budget would be or was exceeded, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__, providers
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


@main.command()
@manifest_argument
@state_options
@output_dir_option
@budget_options
@resume_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--jobs", "with_rows", is_flag=True, help="With --json: one row per job.")
@handle_errors
def plan(
    manifest: str,
    db: str | None,
    sandbox: bool | None,
    output_dir: str | None,
    max_credits: tuple[str, ...],
    max_usd: float | None,
    retry_failed: bool,
    resubmit_ambiguous: bool,
    as_json: bool,
    with_rows: bool,
) -> None:
    """What a run would submit now and what it costs; exit 3 if that passes the budget left.

    Reads the state database when there is one: what is done, running or already paid is
    not priced again, and the budget left is the limit minus what was spent and reserved.
    Sends nothing.
    """
    from . import api
    from .plan import format_plan

    result = api.plan(
        manifest,
        db=db,
        sandbox=sandbox,
        output_dir=output_dir,
        max_credits=parse_max_credits(max_credits),
        max_usd=max_usd,
        retry_failed=retry_failed,
        resubmit_ambiguous=resubmit_ambiguous,
        with_rows=with_rows,
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(format_plan(result))
    if result.over_budget:
        sys.exit(EXIT_BUDGET)


@main.command()
@manifest_argument
@state_options
@output_dir_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    help="Jobs in flight at once (default: limits.concurrency).",
)
@budget_options
@resume_options
@click.option(
    "--verify",
    is_flag=True,
    help="Re-hash every done job's file (by default a file whose size, mtime and inode "
    "match those recorded when it was written is trusted unread).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")
@handle_errors
def run(
    manifest: str,
    db: str | None,
    sandbox: bool | None,
    output_dir: str | None,
    concurrency: int | None,
    max_credits: tuple[str, ...],
    max_usd: float | None,
    retry_failed: bool,
    resubmit_ambiguous: bool,
    verify: bool,
    as_json: bool,
) -> None:
    """Run every job of a manifest: submit, poll, download, within the budget.

    A rerun skips what is done, re-attaches to jobs still running at the provider and never
    resends a submit whose answer was lost. Progress goes to stderr, the summary to stdout.
    Exit 0 all done, 1 some failed, 2 a key was refused, 3 budget, 130 interrupted.
    """
    from . import api
    from .progress import make_reporter

    summary = api.run(
        manifest,
        db=db,
        output_dir=output_dir,
        concurrency=concurrency,
        max_credits=parse_max_credits(max_credits),
        max_usd=max_usd,
        retry_failed=retry_failed,
        resubmit_ambiguous=resubmit_ambiguous,
        verify=verify,
        sandbox=sandbox,
        reporter=make_reporter(json_mode=as_json),
    )
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        click.echo(summary.format())
    sys.exit(summary.exit_code)


@main.command()
@manifest_argument
@state_options
@click.option("--all", "show_all", is_flag=True, help="List every job, however many.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@handle_errors
def status(
    manifest: str, db: str | None, sandbox: bool | None, show_all: bool, as_json: bool
) -> None:
    """Show where every job of a manifest stands, and what needs attention."""
    from . import api
    from .status import format_status

    result = api.status(manifest, db=db, sandbox=sandbox, show_all=show_all)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(format_status(result))


@main.command()
@manifest_argument
@state_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Where to write the page (default: report.html in the output directory).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Where the outputs are (default: the manifest's output.dir).",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in the browser.")
@handle_errors
def report(
    manifest: str,
    db: str | None,
    sandbox: bool | None,
    out: str | None,
    output_dir: str | None,
    open_page: bool,
) -> None:
    """Write one self-contained HTML page: every clip playable, with its prompt and costs."""
    from . import api

    path = api.report(manifest, db=db, sandbox=sandbox, out=out, output_dir=output_dir)
    click.echo(f"wrote {path}")
    if open_page:
        click.launch(str(path.resolve()))


@main.command()
@manifest_argument
@state_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    required=True,
    help="csv (one column per grid axis) or jsonl.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
@handle_errors
def export(manifest: str, db: str | None, sandbox: bool | None, fmt: str, out: str | None) -> None:
    """Export one row per job: coordinates, prompt, state, output, checksum, credits."""
    from . import api

    if not out:
        api.export(manifest, sys.stdout, format=fmt, db=db, sandbox=sandbox)
        return
    target = Path(out)
    if not target.parent.is_dir():
        raise InputError(
            f"--out {out}: the directory {target.parent} does not exist; create it first"
        )
    with open(target, "w", encoding="utf-8", newline="") as fh:
        n = api.export(manifest, fh, format=fmt, db=db, sandbox=sandbox)
    click.echo(f"wrote {n} rows to {out}", err=True)


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds a job takes from submit to done.",
)
@click.option(
    "--failure-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of jobs that fail (refunded where the provider refunds).",
)
@click.option(
    "--moderation-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of jobs refused by moderation.",
)
@click.option(
    "--rate-limit-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of requests answered 429 (with Retry-After where sent).",
)
@click.option(
    "--server-error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of requests answered 5xx (a submit's may still have created the job, "
    "except APIFrame's 503).",
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of submits accepted and charged whose answer is lost.",
)
@click.option(
    "--credits",
    type=click.FloatRange(0),
    default=None,
    help="Starting balance of every provider, in its own credits (USD for xai); "
    "default: about 100,000 USD worth each.",
)
@click.option(
    "--url-ttl",
    type=click.FloatRange(0),
    default=3600.0,
    show_default=True,
    help="Seconds before an output URL expires.",
)
@click.option("--seed", type=int, help="Make every random fault reproducible.")
@click.option(
    "--latency-jitter",
    type=click.FloatRange(0),
    default=0.0,
    help="Draw each job's latency uniformly within --latency ± this many seconds.",
)
@click.option(
    "--key",
    envvar="GROKBATCH_EMULATOR_KEY",
    help="The one API key every provider accepts (default: a documented key per provider).",
)
@click.option(
    "--xai-empty-202-rate",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Fraction of xAI's 202 'still in progress' polls that have an empty body.",
)
@click.option(
    "--log-delay",
    type=click.FloatRange(0),
    default=0.0,
    help="Seconds after a generation completes before AI/ML API's /v2/logs shows it.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    help="Keep jobs, balances and keys in this SQLite file across restarts.",
)
@handle_errors
def emulate(
    port: int,
    latency: float,
    failure_rate: float,
    moderation_rate: float,
    rate_limit_rate: float,
    server_error_rate: float,
    lost_response_rate: float,
    credits: float | None,
    url_ttl: float,
    seed: int | None,
    latency_jitter: float,
    key: str | None,
    xai_empty_202_rate: float,
    log_delay: float,
    state_file: str | None,
) -> None:
    """Serve every provider's API on loopback, for free, with faults you can dial.

    Each provider lives under its own prefix: http://127.0.0.1:PORT/aimlapi is the AI/ML
    API's base URL. Point grokbatch at it with GROKBATCH_<NAME>_BASE_URL.
    """
    from .emulator import EmulatorConfig, serve

    if key is not None and not key.strip():
        raise InputError("--key: the key must not be empty")
    serve(
        EmulatorConfig(
            latency=latency,
            latency_jitter=latency_jitter,
            failure_rate=failure_rate,
            moderation_rate=moderation_rate,
            rate_limit_rate=rate_limit_rate,
            server_error_rate=server_error_rate,
            lost_response_rate=lost_response_rate,
            credits=credits,
            url_ttl=url_ttl,
            seed=seed,
            api_key=key,
            xai_empty_202_rate=xai_empty_202_rate,
            log_delay=log_delay,
            state_file=state_file,
        ),
        port=port,
    )


@main.command()
def schema() -> None:
    """Print the manifest's JSON Schema (for editors and CI)."""
    from .schema import schema_text

    click.echo(schema_text(), nl=False)


@main.command()
@click.argument(
    "provider",
    required=False,
    default="aivideoapi",
    metavar="[PROVIDER]",
    type=click.Choice(providers.NAMES),
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where to write the starter files.",
)
@handle_errors
def init(provider: str, directory: str) -> None:
    """Write a commented starter manifest for PROVIDER and the prompts CSV it reads.

    PROVIDER: pixeldojo, aimlapi, aivideoapi (the default), apiframe, vydra or xai.
    Never overwrites a file. The manifest validates and runs in the sandbox as written.
    """
    from .starter import MANIFEST, write_starter

    written = write_starter(provider, Path(directory))
    click.echo("wrote " + ", ".join(str(p) for p in written))
    manifest = Path(directory) / MANIFEST
    click.echo(f"next: grokbatch validate {manifest}")
    click.echo(f"      grokbatch run {manifest} --sandbox   (free, against the built-in emulator)")


if __name__ == "__main__":  # pragma: no cover
    main()
