"""The command line: parse, call the library, print. Nothing else lives here.

Exit codes (every command): 0 success, 1 some jobs failed, 2 invalid input (nothing sent),
3 budget would be or was exceeded, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__, providers
from .cli_emulate import emulate
from .cli_options import (
    CONCURRENCY_ENV,
    OUTPUT_DIR_ENV,
    REQUESTS_PER_MINUTE_ENV,
    EnvOption,
    budget_options,
    environment_epilog,
    handle_errors,
    manifest_argument,
    output_dir_option,
    parse_max_credits,
    parse_requests_per_minute,
    resume_options,
    selection_options,
    state_options,
)
from .cli_settle import COMMANDS as SETTLE_COMMANDS
from .errors import EXIT_BUDGET, InputError
from .halt import FailureLimit
from .progress import PROGRESS_EVERY


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=environment_epilog())
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
    from .workspace import open_workspace

    ws = open_workspace(manifest, sandbox=False)
    plan = make_plan(ws.manifest, output_dir=ws.output_dir)
    _warn(plan.warnings)
    providers = ", ".join(f"{n} ({t.jobs})" for n, t in plan.totals.items())
    click.echo(f"{manifest}: ok, {plan.jobs} jobs ({providers})")


@main.command()
@manifest_argument
@state_options
@output_dir_option
@budget_options
@resume_options
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--jobs", "with_rows", is_flag=True, help="With --json: one row per job.")
@handle_errors
def plan(manifest: str, max_credits: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """What a run would submit now and what it costs; exit 3 if that passes the budget left.

    Reads the state database when there is one: what is done, running or already paid is
    not priced again, and the budget left is the limit minus what was spent and reserved.
    Sends nothing.
    """
    show_plan(manifest, max_credits=max_credits, as_json=as_json, **options)


def show_plan(
    manifest: str,
    *,
    max_credits: tuple[str, ...],
    as_json: bool,
    dry_run: bool = False,
    **options: Any,
) -> None:
    """Plan and print (the plan command, or run --dry-run); exit 3 if it is over budget.

    `options`: api.plan's keywords, which the shared options are named after.
    """
    from . import api
    from .plan import format_plan

    result = api.plan(manifest, max_credits=parse_max_credits(max_credits), **options)
    _warn(result.warnings)
    if as_json:
        data = ({"dry_run": True} if dry_run else {}) | result.to_json()
        click.echo(json.dumps(data, indent=2))
    else:
        if dry_run:
            click.echo("dry run: nothing is sent or written; a run now would do this")
        click.echo(format_plan(result))
    if result.over_budget:
        sys.exit(EXIT_BUDGET)


@main.command()
@manifest_argument
@state_options
@output_dir_option
@click.option(
    "--concurrency",
    cls=EnvOption,
    envvar=CONCURRENCY_ENV,
    type=click.IntRange(1, 1000),
    help=f"Jobs in flight at once (default: limits.concurrency; also {CONCURRENCY_ENV}).",
)
@click.option(
    "--requests-per-minute",
    cls=EnvOption,
    envvar=REQUESTS_PER_MINUTE_ENV,
    multiple=True,
    metavar="[PROVIDER=]N",
    callback=parse_requests_per_minute,
    help="API requests per minute, for every provider or PROVIDER=N for one (repeatable); "
    f"overrides limits.requests_per_minute (also {REQUESTS_PER_MINUTE_ENV}, "
    "space-separated).",
)
@budget_options
@resume_options
@selection_options
@click.option(
    "--max-failures",
    metavar="N|P%",
    help="Stop submitting after N failed jobs of this run, or P% of its jobs; jobs in "
    "flight finish, and the run exits 1 saying why.",
)
@click.option(
    "--events",
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE.jsonl",
    help="Append one JSON line per event (submitted, done, failed, ...) to FILE as it "
    "happens; - for stdout (the summary then goes to stderr).",
)
@click.option(
    "--progress-every",
    type=click.FloatRange(0),
    default=PROGRESS_EVERY,
    show_default=True,
    metavar="SECONDS",
    help="Without a terminal, a progress line (done/total, spent, ETA) this often; 0: none.",
)
@click.option(
    "--dry-run",
    "-n",
    is_flag=True,
    help="List what a run now would submit, attach, fetch or skip, with costs; send nothing, "
    "write nothing, need no key.",
)
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
    requests_per_minute: dict[str, float],
    max_credits: tuple[str, ...],
    max_usd: float | None,
    retry_failed: bool,
    resubmit_ambiguous: bool,
    only: tuple[str, ...],
    limit: int | None,
    max_failures: str | None,
    events: str | None,
    progress_every: float,
    dry_run: bool,
    verify: bool,
    as_json: bool,
) -> None:
    """Run every job of a manifest: submit, poll, download, within the budget.

    A rerun skips what is done, re-attaches to jobs still running at the provider and never
    resends a submit whose answer was lost. Progress goes to stderr, the summary to stdout.
    Exit 0 all done, 1 some failed, 2 a key was refused, 3 budget, 130 interrupted.
    """
    from . import api
    from .events import EventLog
    from .progress import Tee, make_reporter

    if dry_run:
        if max_failures is not None:
            FailureLimit.parse(max_failures)  # a bad value is exit 2, as in a real run
        show_plan(
            manifest,
            max_credits=max_credits,
            as_json=as_json,
            dry_run=True,
            db=db,
            sandbox=sandbox,
            output_dir=output_dir,
            max_usd=max_usd,
            retry_failed=retry_failed,
            resubmit_ambiguous=resubmit_ambiguous,
            with_rows=as_json,
            only=only,
            limit=limit,
        )
        return
    reporter = make_reporter(json_mode=as_json, progress_every=progress_every)
    if events is not None:
        reporter = Tee(reporter, EventLog(sys.stdout if events == "-" else events))
    summary = api.run(
        manifest,
        db=db,
        output_dir=output_dir,
        concurrency=concurrency,
        requests_per_minute=requests_per_minute,
        max_credits=parse_max_credits(max_credits),
        max_usd=max_usd,
        retry_failed=retry_failed,
        resubmit_ambiguous=resubmit_ambiguous,
        verify=verify,
        sandbox=sandbox,
        only=only,
        limit=limit,
        max_failures=max_failures,
        reporter=reporter,
        on_warning=lambda text: click.echo(f"warning: {text}", err=True),
    )
    text = json.dumps(summary.to_json(), indent=2) if as_json else summary.format()
    click.echo(text, err=events == "-")  # stdout carries the event lines then
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
    cls=EnvOption,
    envvar=OUTPUT_DIR_ENV,
    type=click.Path(file_okay=False),
    help=f"Where the outputs are (default: the manifest's output.dir; also {OUTPUT_DIR_ENV}).",
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


main.add_command(emulate)
for _command in SETTLE_COMMANDS:  # reconcile, attach, not-created, cancel
    main.add_command(_command)


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


def _warn(warnings: list[Any]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning.format()}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
