"""Settling jobs outside a run: look lost submits up now, take a person's word, cancel.

* `reconcile`: what a run does before it sends anything, on demand: SUBMITTING jobs of a
  run that is no longer alive become ambiguous, and every ambiguous job is looked up where
  its provider allows it (`lookup.py`). Nothing is submitted or downloaded: the next run
  does that.
* `attach` / `not_created`: a person settles an ambiguous job grokbatch cannot, naming the
  remote job it made or saying it made none. Each is one transition, recorded with who
  (the OS user and host) and why.
* `cancel`: running jobs are cancelled at providers that document a way (Vydra) and marked
  failed as `JobCancelledError`; their charge stays spent unless the provider refunds it.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from . import providers
from .api import provider_clients, resolve_connections, start_sandbox
from .books import Books
from .budget import BudgetPolicy
from .control import Control
from .errors import (
    ConflictError,
    GrokbatchError,
    InputError,
    JobCancelledError,
    StateConflictError,
)
from .lookup import Reconciler, job_of
from .progress import Reporter
from .providers.client import ProviderClient
from .providers.parse import epoch
from .reconcile import (
    CannotTell,
    Found,
    Method,
    NotCreated,
    Remedy,
    Settings,
    method_of,
    no_lookup,
    remedy,
)
from .state import StateStore
from .state.base import JobRow, JobState
from .workspace import JobSet, Workspace, open_workspace

TIMEOUT = 60.0


def who() -> str:
    """The OS user and host a manual settlement is recorded under."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in this environment (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def find_job(store: StateStore, manifest: str, prefix: str) -> JobRow:
    """The one job of the manifest whose key starts with `prefix`; InputError otherwise."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4:
        raise InputError(f"--job {prefix!r}: give at least 4 characters of the job's key")
    found = [r for r in store.jobs(manifest) if r.key.startswith(prefix)]
    if not found:
        raise InputError(
            f"--job {prefix}: no job of {manifest} has a key starting so; "
            "`grokbatch status MANIFEST --json` lists the keys"
        )
    if len(found) > 1:
        raise InputError(f"--job {prefix}: {len(found)} jobs have keys starting so; give more")
    return found[0]


# --- a person's word ------------------------------------------------------------------------


def attach(
    manifest: str | Path,
    *,
    job: str,
    remote_id: str,
    reason: str | None = None,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> JobRow:
    """Record that an ambiguous job's lost submit made the remote job `remote_id`; the next
    run polls and downloads it. It is paid once: its reservation becomes that job's charge."""
    remote_id = remote_id.strip()
    if not remote_id or any(c.isspace() for c in remote_id):
        raise InputError(f"--remote-id {remote_id!r}: give the provider's id of the job")

    def act(store: StateStore, name: str, key: str, detail: dict[str, Any]) -> JobRow:
        try:
            return store.attach(name, key, run_id=None, remote_id=remote_id, detail=detail)
        except StateConflictError as error:
            raise InputError(f"--remote-id {remote_id}: {error}") from None

    ws = open_workspace(manifest, db=db, sandbox=sandbox, environ=environ)
    return _by_hand(ws, job, reason, "attach", act)


def not_created(
    manifest: str | Path,
    *,
    job: str,
    reason: str | None = None,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> JobRow:
    """Record that an ambiguous job's lost submit made nothing: its reservation is returned
    and the next run submits it."""

    def act(store: StateStore, name: str, key: str, detail: dict[str, Any]) -> JobRow:
        return store.not_created(name, key, run_id=None, detail=detail)

    ws = open_workspace(manifest, db=db, sandbox=sandbox, environ=environ)
    return _by_hand(ws, job, reason, "not-created", act)


def _by_hand(
    ws: Workspace,
    prefix: str,
    reason: str | None,
    command: str,
    act: Callable[[StateStore, str, str, dict[str, Any]], JobRow],
) -> JobRow:
    """One transition out of AMBIGUOUS on a person's word, recorded with who and why."""
    with _existing(ws) as store:
        row = find_job(store, ws.name, prefix)
        if row.state is not JobState.AMBIGUOUS:
            raise InputError(
                f"job {row.key[:12]} is {row.state.value}, not ambiguous: `grokbatch {command}` "
                "settles only a job whose submit's answer was lost"
            )
        return act(store, ws.name, row.key, {"by": who(), "reason": reason or "", "manual": True})


def _existing(ws: Workspace) -> StateStore:
    store = ws.existing_store()
    if store is None:
        raise InputError(f"no state database at {ws.db}: run the manifest first")
    return store


# --- looking up now -----------------------------------------------------------------------


@dataclass(frozen=True)
class Settled:
    """What one look-up (or cancel) did to one job."""

    key: str
    coords: dict[str, Any]
    provider: str
    state: JobState
    text: str
    commands: tuple[str, ...] = field(default=())


def reconcile(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    environ: Mapping[str, str] | None = None,
    settle_window: float = Settings.settle_window,
    clock_skew: float = Settings.clock_skew,
    reporter: Reporter | None = None,
) -> list[Settled]:
    """Look up the manifest's lost submits now; one line per job still in doubt before."""
    ws = open_workspace(manifest, db=db, sandbox=sandbox, environ=environ)
    keys = {j.key for j in JobSet(ws.manifest)}
    settings = Settings(settle_window=settle_window, clock_skew=clock_skew)
    doubt = [JobState.AMBIGUOUS, JobState.SUBMITTING]
    with _existing(ws) as store:
        names = {r.provider for r in store.jobs(ws.name, states=doubt) if r.key in keys}
        lookable = {n for n in names if method_of(providers.get(n)) is not Method.NONE}

        async def look() -> dict[str, tuple[Any, Remedy | None]]:
            async with _clients(ws, lookable, environ) as clients:
                options = {"command": "reconcile"}
                run_id = store.start_run(
                    manifest=ws.name, manifest_path=str(manifest), options=options
                )
                books = Books(
                    store,
                    manifest=ws.name,
                    run_id=run_id,
                    policy=BudgetPolicy(),
                    units=ws.units(),
                    reporter=reporter or Reporter(),
                )
                rec = Reconciler(
                    books=books,
                    clients=clients,
                    control=Control(concurrency=1),
                    settings=settings,
                    manifest_path=str(manifest),
                )
                books.register(lease=60.0)
                try:
                    await rec.begin(keys, names=names)
                finally:
                    books.retire()
                summary = {"looked_up": len(rec.results)}
                store.finish_run(run_id, status="completed", summary=summary)
                return rec.results

        results = anyio.run(look) if names else {}
        for row in store.jobs(ws.name, states=doubt):
            if row.key in keys and row.key not in results:
                results[row.key] = _unlooked(row, str(manifest))
        out = []
        for key, (verdict, way) in results.items():
            now = store.get(ws.name, key)
            assert now is not None
            out.append(_settled(now, verdict, way))
        return out


def _unlooked(row: JobRow, manifest: str) -> tuple[CannotTell | None, Remedy]:
    """A job no lookup was made for: in flight, or at a provider without one."""
    adapter = providers.get(row.provider)
    if row.state is JobState.SUBMITTING:
        if adapter.idempotent_submit:
            return None, Remedy(True, "the next run resends it with the same Idempotency-Key")
        return None, Remedy(True, "a run is sending it now; that run records its answer")
    method = method_of(adapter)
    verdict = no_lookup(adapter.title) if method is Method.NONE else None
    sent = epoch(row.submitted_at)
    way = remedy(method, verdict, title=adapter.title, manifest=manifest, key=row.key, sent=sent)
    return verdict, way


def _settled(row: JobRow, verdict: Any, way: Remedy | None) -> Settled:
    if isinstance(verdict, Found):
        text = f"found: {verdict.remote_id} ({verdict.reason}); the next run downloads it"
    elif isinstance(verdict, NotCreated):
        text = f"never made ({verdict.reason}); the next run submits it"
    else:
        reason = verdict.reason + "; " if isinstance(verdict, CannotTell) else ""
        text = reason + (way.text if way else "")
    commands = way.commands if way else ()
    return Settled(row.key, row.coords, row.provider, row.state, text, commands)


@asynccontextmanager
async def _clients(
    ws: Workspace, names: set[str], environ: Mapping[str, str] | None
) -> AsyncIterator[dict[str, ProviderClient]]:
    """Clients for the named providers only: a provider without a lookup needs no key."""
    env = os.environ if environ is None else environ
    with ExitStack() as stack:
        urls = start_sandbox(ws, stack)
        connections = resolve_connections(ws.manifest, sandbox_urls=urls, environ=env, only=names)
        timeout = httpx.Timeout(TIMEOUT, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            yield provider_clients(connections, http=http, timeout=timeout)


# --- cancelling -----------------------------------------------------------------------------


def cancel(
    manifest: str | Path,
    *,
    job: str | None = None,
    all_running: bool = False,
    reason: str | None = None,
    db: str | Path | None = None,
    sandbox: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Settled]:
    """Cancel running jobs at their providers where a way is documented; one line per job."""
    if (job is None) == (not all_running):
        raise InputError("say which jobs: --job KEY_PREFIX, or --all-running")
    ws = open_workspace(manifest, db=db, sandbox=sandbox, environ=environ)
    keys = {j.key for j in JobSet(ws.manifest)}
    with _existing(ws) as store:
        if job is not None:
            rows = [find_job(store, ws.name, job)]
            if rows[0].state is not JobState.RUNNING:
                raise InputError(
                    f"job {rows[0].key[:12]} is {rows[0].state.value}: only a job running at "
                    "its provider can be cancelled"
                )
        else:
            rows = [r for r in store.jobs(ws.name, states=[JobState.RUNNING]) if r.key in keys]
        can = {r.provider for r in rows if providers.get(r.provider).cancel_request("x")}
        out = [_no_cancel(r) for r in rows if r.provider not in can]
        todo = [r for r in rows if r.provider in can]
        if todo:
            out += anyio.run(_cancel_all, store, ws, todo, can, reason, environ)
        return out


def _no_cancel(row: JobRow) -> Settled:
    title = providers.get(row.provider).title
    return Settled(
        row.key,
        row.coords,
        row.provider,
        row.state,
        f"{title} has no cancel: the job runs on there (and is paid); only the local run "
        "can be stopped (Ctrl-C), and the next run downloads the result",
    )


async def _cancel_all(
    store: StateStore,
    ws: Workspace,
    rows: list[JobRow],
    names: set[str],
    reason: str | None,
    environ: Mapping[str, str] | None,
) -> list[Settled]:
    out = []
    async with _clients(ws, names, environ) as clients:
        run_id = store.start_run(
            manifest=ws.name, manifest_path=str(ws.db), options={"command": "cancel"}
        )
        books = Books(
            store,
            manifest=ws.name,
            run_id=run_id,
            policy=BudgetPolicy(),
            units=ws.units(),
            reporter=Reporter(),
        )
        for row in rows:
            out.append(await _cancel_one(clients[row.provider], books, row, reason))
        store.finish_run(run_id, status="completed", summary={"cancelled": len(out)})
    return out


async def _cancel_one(
    client: ProviderClient, books: Books, row: JobRow, reason: str | None
) -> Settled:
    assert row.remote_id is not None
    try:
        polled = await client.cancel(row.remote_id)
    except ConflictError:
        text = "it had already finished at the provider; the next run downloads it"
        return Settled(row.key, row.coords, row.provider, row.state, text)
    except GrokbatchError as error:
        return Settled(row.key, row.coords, row.provider, row.state, f"not cancelled: {error}")
    assert polled is not None
    why = f"cancelled by {who()} at {time.strftime('%Y-%m-%d %H:%M:%S')}"
    cancelled = JobCancelledError(f"{why}: {reason}" if reason else why)
    try:
        new = books.fail(job_of(row), cancelled, polled=polled)
    except StateConflictError as conflict:  # a run finished it meanwhile
        return Settled(row.key, row.coords, row.provider, row.state, f"cancelled; {conflict}")
    paid = "refunded" if polled.refunded else "its charge stays spent (no refund is documented)"
    return Settled(
        new.key, new.coords, new.provider, new.state, f"cancelled at the provider; {paid}"
    )
