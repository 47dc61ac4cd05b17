"""The commands that settle jobs outside a run: reconcile, attach, not-created, cancel.

Parse, call `grokbatch.settle`, print; registered on the main group by `cli.py`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

import click

from . import settle
from .cli_options import handle_errors, manifest_argument, state_options
from .reconcile import Settings
from .state.base import JobRow, JobState

job_option = click.option(
    "--job",
    "job",
    metavar="KEY_PREFIX",
    help="The job: the first characters of its key (status and the run's messages show them).",
)
reason_option = click.option("--reason", help="Why: kept with the event, with your user and host.")


@click.command()
@manifest_argument
@state_options
@click.option(
    "--settle-window",
    type=click.FloatRange(0),
    default=Settings.settle_window,
    show_default=True,
    help="AI/ML API: seconds after a lost submit before no log row means it made nothing.",
)
@click.option(
    "--clock-skew",
    type=click.FloatRange(0),
    default=Settings.clock_skew,
    show_default=True,
    help="Vydra: seconds of margin around a lost submit's time on the wire.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one object per job as JSON.")
@handle_errors
def reconcile(
    manifest: str,
    db: str | None,
    sandbox: bool | None,
    settle_window: float,
    clock_skew: float,
    as_json: bool,
) -> None:
    """Look up jobs whose submit's answer was lost, where the provider allows it.

    A job found at the provider is attached (the next run downloads it); one it certainly
    never made is released (the next run submits it); the rest stay ambiguous, each with
    what you can do. Submits of a run that is no longer alive count as lost. Exit 1 while
    some stay ambiguous.
    """
    results = settle.reconcile(
        manifest, db=db, sandbox=sandbox, settle_window=settle_window, clock_skew=clock_skew
    )
    _print(results, as_json, empty="no job of this manifest is ambiguous")
    if any(r.state is JobState.AMBIGUOUS for r in results):
        sys.exit(1)


@click.command()
@manifest_argument
@state_options
@job_option
@click.option("--remote-id", required=True, help="The provider's id of the job the submit made.")
@reason_option
@handle_errors
def attach(
    manifest: str,
    db: str | None,
    sandbox: bool | None,
    job: str | None,
    remote_id: str,
    reason: str | None,
) -> None:
    """Settle an ambiguous job: its lost submit made the provider's job REMOTE_ID.

    The next run polls and downloads it; it is paid once.
    """
    row = settle.attach(
        manifest, job=_required(job), remote_id=remote_id, reason=reason, db=db, sandbox=sandbox
    )
    _done(row, f"attached to {row.provider} job {row.remote_id}; the next run downloads it")


@click.command("not-created")
@manifest_argument
@state_options
@job_option
@reason_option
@handle_errors
def not_created(
    manifest: str, db: str | None, sandbox: bool | None, job: str | None, reason: str | None
) -> None:
    """Settle an ambiguous job: its lost submit made nothing at the provider.

    Its reserved credits are returned, and the next run submits it.
    """
    row = settle.not_created(manifest, job=_required(job), reason=reason, db=db, sandbox=sandbox)
    _done(row, "pending again, its reservation returned; the next run submits it")


@click.command()
@manifest_argument
@state_options
@job_option
@click.option("--all-running", is_flag=True, help="Every job running at its provider.")
@reason_option
@click.option("--json", "as_json", is_flag=True, help="Print one object per job as JSON.")
@handle_errors
def cancel(
    manifest: str,
    db: str | None,
    sandbox: bool | None,
    job: str | None,
    all_running: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Cancel running jobs at providers that document a way (Vydra).

    A cancelled job is marked failed (JobCancelledError); its charge stays spent unless the
    provider refunds it. Elsewhere the provider runs the job to its end: only the local run
    can be stopped.
    """
    results = settle.cancel(
        manifest, job=job, all_running=all_running, reason=reason, db=db, sandbox=sandbox
    )
    _print(results, as_json, empty="no job of this manifest is running at its provider")


COMMANDS = (reconcile, attach, not_created, cancel)


def _required(job: str | None) -> str:
    if not job:
        raise click.UsageError("name the job with --job KEY_PREFIX")
    return job


def _done(row: JobRow, what: str) -> None:
    coords = " ".join(f"{k}={v}" for k, v in row.coords.items())
    click.echo(f"{row.key[:12]} {coords}: {what}")


def _print(results: Sequence[settle.Settled], as_json: bool, *, empty: str) -> None:
    if as_json:
        rows = [asdict(r) | {"state": r.state.value} for r in results]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not results:
        click.echo(empty)
    for r in results:
        coords = " ".join(f"{k}={v}" for k, v in r.coords.items())
        click.echo(f"{r.state.value:<10} {r.key[:12]} {coords}: {r.text}")
        for command in r.commands:
            click.echo(f"{'':13}{command}")
