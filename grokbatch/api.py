"""The library behind the CLI: run, status, report and export a manifest from Python.

`run` checks everything it can before the first request: the whole manifest is expanded
and validated, every provider's key is found and every base URL resolved; only then is
anything sent. In sandbox mode the built-in emulator is started on loopback and every
provider's real adapter talks to it, with no key and no cost; the sandbox keeps its own
state database and output folder, so an emulated clip is never mistaken for a paid one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from . import providers
from .errors import InputError
from .expand import Expander
from .jobs import Job
from .manifest import Manifest, load
from .plan import credit_limits

if TYPE_CHECKING:
    from .summary import RunSummary

DEFAULT_DB = Path(".grokbatch") / "state.db"
SANDBOX_DB = Path(".grokbatch") / "sandbox.db"
SANDBOX_KEY = "sandbox-key"  # the emulator accepts any non-empty key
SANDBOX_ENV = "GROKBATCH_SANDBOX"
# The emulator finishes a job in seconds: poll it often so the quick start is quick.
_SANDBOX_TUNING: dict[str, Any] = {"poll_initial": 0.25, "poll_max": 2.0}


def sandbox_requested(flag: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """--sandbox, or GROKBATCH_SANDBOX=1 in the environment."""
    if flag is not None:
        return flag
    env = os.environ if environ is None else environ
    return env.get(SANDBOX_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def default_db(*, sandbox: bool) -> Path:
    return SANDBOX_DB if sandbox else DEFAULT_DB


def output_dir_for(manifest: Manifest, override: str | Path | None, *, sandbox: bool) -> Path:
    """--output-dir, else the manifest's output.dir (under sandbox/ in the sandbox)."""
    if override is not None:
        return Path(override)
    base = Path(manifest.output_dir)
    return Path("sandbox") / base if sandbox and not base.is_absolute() else base


class JobSet:
    """The jobs of a validated manifest; iterating twice yields the same jobs.

    With `output_dir`, every output path is checked against that directory first.
    """

    def __init__(self, manifest: Manifest, *, output_dir: Path | None = None) -> None:
        self.manifest = manifest
        expander = Expander(manifest, output_dir=output_dir)
        self.count = sum(1 for _ in expander.jobs())
        expander.raise_problems()
        self.warnings = expander.warnings

    def __iter__(self) -> Iterator[Job]:
        return Expander(self.manifest).jobs(explain_clashes=False)

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True)
class Connection:
    """Where one provider is reached, and with which key (never stored or printed)."""

    provider: str
    base_url: str
    api_key: str


def resolve_connections(
    manifest: Manifest, *, sandbox_urls: Mapping[str, str] | None, environ: Mapping[str, str]
) -> dict[str, Connection]:
    """Base URL and key for every provider the manifest uses; MissingKeyError if one lacks."""
    from .providers.client import resolve_api_key, resolve_base_url

    out: dict[str, Connection] = {}
    for ref in manifest.provider_refs():
        if ref.name in out:
            continue
        adapter = providers.get(ref.name)
        if sandbox_urls is not None:
            out[ref.name] = Connection(ref.name, sandbox_urls[ref.name], SANDBOX_KEY)
        else:
            out[ref.name] = Connection(
                ref.name,
                resolve_base_url(adapter, ref.base_url, environ),
                resolve_api_key(adapter, environ),
            )
    return out


def units_for(names: list[str]) -> dict[str, str]:
    return {n: providers.get(n).credit_unit for n in names}


def run(manifest: str | Path, **options: Any) -> RunSummary:
    """Run a manifest to completion (or budget, or interruption); returns the RunSummary.

    The same as `grokbatch run`, blocking, for scripts; takes the keyword arguments of
    `run_async`.
    """
    summary: RunSummary = anyio.run(functools.partial(run_async, manifest, **options))
    return summary


async def run_async(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    output_dir: str | Path | None = None,
    concurrency: int | None = None,
    max_credits: Mapping[str, float] | None = None,
    max_usd: float | None = None,
    retry_failed: bool = False,
    resubmit_ambiguous: bool = False,
    sandbox: bool | None = None,
    reporter: Any = None,
    environ: Mapping[str, str] | None = None,
    emulator_options: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
    write_report_page: bool = True,
    on_warning: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run a manifest from inside an event loop (a notebook); `run` is the blocking form.

    `db`, `output_dir`, `concurrency`, `max_credits` ({provider: n}), `max_usd`,
    `retry_failed`, `resubmit_ambiguous` and `sandbox` are the command's options. `reporter`
    receives the events (default: a live display on a terminal, plain lines otherwise).
    `environ` replaces os.environ (keys, base URLs); `emulator_options` configure the
    sandbox's emulator; `tuning` overrides RunSettings fields such as poll_initial or
    job_timeout (tests and benchmarks use it to run fast). At the end the HTML report is
    written to report.html in the output directory (`write_report_page=False`: not).
    `on_warning` receives the manifest's warnings (e.g. an exclude that removes nothing).
    """
    from .budget import BudgetPolicy
    from .progress import make_reporter
    from .providers.client import ProviderClient
    from .runner import RunSettings, run_batch
    from .state import open_store

    env = os.environ if environ is None else environ
    use_sandbox = sandbox_requested(sandbox, env)
    loaded = load(manifest)
    out_dir = output_dir_for(loaded, output_dir, sandbox=use_sandbox)
    jobs = JobSet(loaded, output_dir=out_dir)  # raises ManifestError before anything is sent
    if on_warning is not None:
        for warning in jobs.warnings:
            on_warning(warning.format())
    if concurrency is not None and concurrency < 1:
        raise InputError(f"--concurrency {concurrency}: must be at least 1")
    limits = credit_limits(loaded, max_credits)
    policy = BudgetPolicy(
        max_credits=limits, max_usd=max_usd if max_usd is not None else loaded.limits.max_usd
    )
    names = loaded.provider_names()
    rpm = dict(loaded.limits.requests_per_minute)
    if "*" in rpm:
        every = rpm.pop("*")
        rpm = {n: rpm.get(n, every) for n in names}
    fields: dict[str, Any] = {
        "output_dir": out_dir,
        "concurrency": concurrency or loaded.limits.concurrency,
        "provider_concurrency": dict(loaded.limits.provider_concurrency),
        "requests_per_minute": rpm,
        "retries": loaded.limits.retries,
        "retry_failed": retry_failed,
        "resubmit_ambiguous": resubmit_ambiguous,
    }
    if use_sandbox:
        fields.update(_SANDBOX_TUNING)
    settings = RunSettings(**(fields | dict(tuning or {})))
    with ExitStack() as stack:
        sandbox_urls = None
        if use_sandbox:
            from .emulator import Emulator, EmulatorConfig

            options = {"latency": 2.0, **(emulator_options or {})}
            emu = stack.enter_context(Emulator(EmulatorConfig(**options), port=0))
            sandbox_urls = {n: emu.base_url(n) for n in providers.NAMES}
        connections = resolve_connections(loaded, sandbox_urls=sandbox_urls, environ=env)
        store = open_store(db if db is not None else default_db(sandbox=use_sandbox))
        stack.callback(store.close)
        timeout = httpx.Timeout(settings.request_timeout, connect=10.0)
        pool = httpx.Limits(max_connections=settings.concurrency * 2 + 8)
        async with AsyncExitStack() as astack:
            api_http = await astack.enter_async_context(
                httpx.AsyncClient(timeout=timeout, limits=pool, follow_redirects=False)
            )
            # Outputs live on CDNs that redirect; this client never carries a key.
            files_http = await astack.enter_async_context(
                httpx.AsyncClient(timeout=timeout, limits=pool, follow_redirects=True)
            )
            clients = {
                name: ProviderClient(
                    providers.get(name),
                    http=api_http,
                    base_url=conn.base_url,
                    api_key=conn.api_key,
                    timeout=timeout,
                )
                for name, conn in connections.items()
            }
            summary = await run_batch(
                manifest=loaded.name,
                manifest_path=str(manifest),
                jobs=jobs,
                store=store,
                clients=clients,
                http=files_http,
                policy=policy,
                settings=settings,
                reporter=reporter if reporter is not None else make_reporter(),
                units=units_for(names),
            )
        if write_report_page:
            summary.report = str(_write_report(store, loaded, out_dir, units_for(names)))
        return summary


def _write_report(store: Any, manifest: Manifest, out_dir: Path, units: dict[str, str]) -> Path:
    """Every run leaves report.html beside its outputs: what it made, at a glance."""
    from .report import write_report

    return write_report(
        store.jobs(manifest.name),
        manifest_name=manifest.name,
        output_dir=out_dir,
        report_path=out_dir / "report.html",
        units=units,
    )
