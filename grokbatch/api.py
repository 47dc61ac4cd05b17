"""The library behind the CLI: run, plan, status, report and export a manifest from Python.

Every function takes the manifest's path and explicit keywords, and returns a value the
CLI only prints. `run` checks everything it can before the first request: the whole
manifest is expanded and validated, every provider's key is found and every base URL
resolved; only then is anything sent. In sandbox mode the built-in emulator is started on
loopback and every provider's real adapter talks to it, with no key and no cost; the
sandbox keeps its own state database and output folder, so an emulated clip is never
mistaken for a paid one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO, TypeVar

import anyio
import httpx

from . import providers
from .emulator.config import DEFAULT_KEYS
from .errors import InputError
from .halt import FailureLimit
from .limits import budget_policy, run_settings
from .manifest import Manifest
from .plan import Plan, make_plan
from .progress import Reporter, make_reporter
from .providers.client import ProviderClient, resolve_api_key, resolve_base_url
from .runner import run_batch
from .scheduler import Lister
from .selection import SelectedJobs, Selection
from .state import StateStore
from .status import SHOW_LIMIT, Status, job_status
from .workspace import JobSet, Workspace, collector_paused, held, open_workspace

if TYPE_CHECKING:
    from .summary import RunSummary

P = ParamSpec("P")
T = TypeVar("T")

__all__ = [
    "export",
    "plan",
    "report",
    "run",
    "run_async",
    "status",
]


async def run_async(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    output_dir: str | Path | None = None,
    concurrency: int | None = None,
    requests_per_minute: Mapping[str, float] | None = None,
    max_credits: Mapping[str, float] | None = None,
    max_usd: float | None = None,
    retry_failed: bool = False,
    resubmit_ambiguous: bool = False,
    verify: bool = False,
    sandbox: bool | None = None,
    only: Iterable[str] = (),
    limit: int | None = None,
    max_failures: int | str | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    emulator_options: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
    write_report: bool = True,
    on_warning: Callable[[str], None] | None = None,
    listers: Mapping[str, Lister] | None = None,
) -> RunSummary:
    """Run a manifest from inside an event loop (a notebook); `run` is the blocking form.

    `db`, `output_dir`, `concurrency`, `requests_per_minute` and `max_credits`
    ({provider: n}, or {"*": n} for every provider), `max_usd`, `retry_failed`,
    `resubmit_ambiguous`, `verify` (re-hash every done job's file instead of trusting a
    matching stat), `sandbox`, `only` (`"AXIS=VALUE"` or `"key=PREFIX"` strings), `limit`
    and `max_failures` (3, or "10%") are the command's options. `reporter`
    receives the events (default: a live display on a terminal, plain lines otherwise).
    `environ` replaces os.environ (keys, base URLs); `emulator_options` configure the
    sandbox's emulator; `tuning` overrides RunSettings fields such as poll_initial or
    job_timeout (tests and benchmarks use it to run fast). At the end the HTML report is
    written to report.html in the output directory (`write_report=False`: not).
    `on_warning` receives the manifest's warnings (e.g. an exclude that removes nothing).
    `listers`: per provider, a `scheduler.Lister` whose one request tells which of many
    running jobs finished (default: every provider that lists its jobs by status).
    """
    env = os.environ if environ is None else environ
    selection = Selection.parse(only, limit)
    halt = FailureLimit.parse(max_failures) if max_failures is not None else None
    ws = open_workspace(manifest, db=db, output_dir=output_dir, sandbox=sandbox, environ=env)
    stack = ExitStack()
    # Expanded once, and kept: the run records and feeds these same jobs. Raises
    # ManifestError before anything is sent, output paths checked on the disk. The kept
    # jobs are frozen out of the collector's scans before it runs again: its first pass
    # over 100,000 new jobs would cost a tenth of a rerun.
    with collector_paused():
        jobs = JobSet(ws.manifest, output_dir=ws.output_dir, keep=True)
        assert jobs.jobs is not None
        stack.enter_context(held(jobs.jobs))
    with stack:  # from here on, whatever happens, the jobs are unfrozen at the end
        if on_warning is not None:
            for warning in jobs.warnings:
                on_warning(warning.format())
        if concurrency is not None and concurrency < 1:
            raise InputError(f"--concurrency {concurrency}: must be at least 1")
        policy = budget_policy(ws.manifest, jobs, max_credits, max_usd)
        chosen = list(SelectedJobs(jobs, selection)) if selection else jobs.jobs
        settings = run_settings(
            ws,
            concurrency=concurrency,
            requests_per_minute=requests_per_minute,
            retry_failed=retry_failed,
            resubmit_ambiguous=resubmit_ambiguous,
            max_failures=halt,
            tuning=tuning,
        )
        settings = replace(settings, verify=verify)
        sandbox_urls = start_sandbox(ws, stack, emulator_options)
        connections = resolve_connections(ws.manifest, sandbox_urls=sandbox_urls, environ=env)
        store = stack.enter_context(ws.open_store())
        timeout = httpx.Timeout(settings.request_timeout, connect=10.0)
        pool = httpx.Limits(max_connections=settings.concurrency * 2 + 8)
        tls = httpx.create_ssl_context()  # one for both clients: each costs 16 ms to load
        async with AsyncExitStack() as astack:
            api_http = await astack.enter_async_context(
                httpx.AsyncClient(timeout=timeout, limits=pool, verify=tls, follow_redirects=False)
            )
            # Outputs live on CDNs that redirect; this client never carries a key.
            files_http = await astack.enter_async_context(
                httpx.AsyncClient(timeout=timeout, limits=pool, verify=tls, follow_redirects=True)
            )
            clients = provider_clients(connections, http=api_http, timeout=timeout)
            summary = await run_batch(
                manifest=ws.name,
                manifest_path=str(Path(manifest).resolve()),
                jobs=chosen,
                store=store,
                clients=clients,
                files=files_http,
                policy=policy,
                settings=settings,
                reporter=reporter if reporter is not None else make_reporter(),
                units=ws.units(),
                usd_missing=jobs.usd_missing,
                listers=listers if listers is not None else _listers(clients),
            )
        if write_report:
            page = ws.output_dir / "report.html"
            # A rerun that changed no job leaves the page as it is: at 100,000 jobs writing
            # it again would cost more than the rest of the run (`grokbatch report` does).
            fresh = summary.changed > 0 or not page.exists()
            summary.report = str(_write_report(ws, store) if fresh else page)
        return summary


def _blocking(function: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """The same function, run to completion in its own event loop."""

    @functools.wraps(function)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return anyio.run(functools.partial(function, *args, **kwargs))

    return blocking


run = _blocking(run_async)
run.__name__ = run.__qualname__ = "run"
run.__doc__ = """Run a manifest to completion (or budget, or interruption); returns how it ended.

The same as `grokbatch run`, blocking; it takes `run_async`'s keywords (see there), and
`run_async` is the same inside an event loop (a notebook).
"""


def plan(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    output_dir: str | Path | None = None,
    max_credits: Mapping[str, float] | None = None,
    max_usd: float | None = None,
    retry_failed: bool = False,
    resubmit_ambiguous: bool = False,
    with_rows: bool = False,
    only: Iterable[str] = (),
    limit: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """What a run would do now and what it would cost, against what is left of the budget.

    With a state database (beside the manifest, or `db`), jobs already done, running or
    paid are not priced again, and the budget left is the limit minus what was spent and
    reserved. `with_rows`: one row per job (key, coordinates, state, action, estimate).
    `only` and `limit` select jobs as for `run`. Sends nothing.
    """
    selection = Selection.parse(only, limit)
    ws = open_workspace(manifest, db=db, output_dir=output_dir, sandbox=sandbox, environ=environ)
    if max_usd is not None:
        JobSet(ws.manifest).check_max_usd(max_usd)
    store = ws.existing_store()
    try:
        return make_plan(
            ws.manifest,
            max_credits=max_credits,
            max_usd=max_usd,
            store=store,
            output_dir=ws.output_dir,
            retry_failed=retry_failed,
            resubmit_ambiguous=resubmit_ambiguous,
            with_rows=with_rows,
            selection=selection or None,
        )
    finally:
        if store is not None:
            store.close()


def status(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    show_all: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Status:
    """Where every job of the manifest stands; InputError if it never ran."""
    ws = open_workspace(manifest, db=db, sandbox=sandbox, environ=environ)
    jobs = JobSet(ws.manifest)
    with _require_store(ws) as store:
        show = None if show_all else SHOW_LIMIT
        return job_status(
            store,
            ws.name,
            (j.key for j in jobs),
            show=show,
            units=ws.units(),
            manifest_path=str(manifest),
        )


def report(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    out: str | Path | None = None,
    output_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Write the HTML report (default: report.html in the output directory); its path."""
    ws = open_workspace(manifest, db=db, output_dir=output_dir, sandbox=sandbox, environ=environ)
    with _require_store(ws) as store:
        return _write_report(ws, store, Path(out) if out is not None else None)


def export(
    manifest: str | Path,
    out: TextIO,
    *,
    format: str,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Write one row per job to `out` as "csv" or "jsonl"; returns how many."""
    from .export import export_rows

    ws = open_workspace(manifest, db=db, sandbox=sandbox, environ=environ)
    with _require_store(ws) as store:
        # The outputs are probed there, to compare what was delivered with what was asked.
        return export_rows(store.jobs(ws.name), out, format=format, output_dir=ws.output_dir)


# --- the pieces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """Where one provider is reached, and with which key (never stored or printed)."""

    provider: str
    base_url: str
    api_key: str


def resolve_connections(
    manifest: Manifest,
    *,
    sandbox_urls: Mapping[str, str] | None,
    environ: Mapping[str, str],
    only: Collection[str] | None = None,
) -> dict[str, Connection]:
    """Base URL and key for every provider the manifest uses (or those of them in `only`);
    MissingKeyError if one lacks."""
    out: dict[str, Connection] = {}
    for ref in manifest.provider_refs():
        if ref.name in out or (only is not None and ref.name not in only):
            continue
        adapter = providers.get(ref.name)
        if sandbox_urls is not None:
            # The keys the sandbox's emulator accepts, one per provider.
            out[ref.name] = Connection(ref.name, sandbox_urls[ref.name], DEFAULT_KEYS[ref.name])
        else:
            out[ref.name] = Connection(
                ref.name,
                resolve_base_url(adapter, ref.base_url, environ),
                resolve_api_key(adapter, environ),
            )
    return out


def start_sandbox(
    ws: Workspace, stack: ExitStack, emulator_options: Mapping[str, Any] | None = None
) -> dict[str, str] | None:
    """In the sandbox, start the emulator (closed with `stack`); its base URL per provider."""
    if not ws.sandbox:
        return None
    from .emulator import Emulator, EmulatorConfig

    # A clip takes a second: long enough to watch the run, short enough not to wait for.
    # The emulator's jobs and balances live beside the sandbox's state database, so
    # a rerun after Ctrl-C finds its jobs where a real provider would keep them.
    options: dict[str, Any] = {"latency": 1.0}
    if isinstance(ws.db, Path):
        options["state_file"] = str(ws.db.with_name(f"{ws.db.stem}-emulator.db"))
    options |= dict(emulator_options or {})
    emu = stack.enter_context(Emulator(EmulatorConfig(**options), port=0))
    return {n: emu.base_url(n) for n in providers.NAMES}


def provider_clients(
    connections: Mapping[str, Connection], *, http: httpx.AsyncClient, timeout: httpx.Timeout
) -> dict[str, ProviderClient]:
    """A client per provider, over one shared httpx client that never follows redirects."""
    return {
        name: ProviderClient(
            providers.get(name),
            http=http,
            base_url=conn.base_url,
            api_key=conn.api_key,
            timeout=timeout,
        )
        for name, conn in connections.items()
    }


def _listers(clients: Mapping[str, ProviderClient]) -> dict[str, Lister]:
    """Every provider whose list of jobs in every state tells, in one request, which of
    many running jobs are through (Vydra, APIFrame; AI/ML API's logs show only finished
    generations, so a job missing from them could be running or pushed off the page)."""
    return {name: client for name, client in clients.items() if client.lists_jobs}


def _require_store(ws: Workspace) -> StateStore:
    store = ws.existing_store()
    if store is None:
        hint = "" if ws.sandbox else " (add --sandbox for the sandbox's state)"
        raise InputError(f"no state database at {ws.db}: run the manifest first{hint}")
    return store


def _write_report(ws: Workspace, store: StateStore, target: Path | None = None) -> Path:
    """Every run leaves report.html beside its outputs: what it made, at a glance."""
    from .report import write_report

    return write_report(
        store.jobs(ws.name),
        manifest_name=ws.name,
        output_dir=ws.output_dir,
        report_path=target if target is not None else ws.output_dir / "report.html",
        units=ws.units(),
    )
