"""The runner: feeds every job of a batch to `lifecycle.Run`, under the limits.

Invariants, each one the reason a user can leave a paid batch running unattended:

* Never pay twice. A job's credits are reserved, and the intent to submit recorded, in one
  transaction before the request is sent. The remote id the provider returns is committed
  with `mark_submitted` before the next await: nothing can interrupt between the answer
  and the record. A submit whose answer is lost is AMBIGUOUS and never resent without
  --resubmit-ambiguous, except where an Idempotency-Key makes resending safe (APIFrame).
* Never spend past the budget. `store.reserve` checks spent + reserved over every run of
  the manifest in the same transaction that claims the job, so it holds with any number of
  jobs in flight. The first job that does not fit stops all new submissions; what is in
  flight finishes; the run exits 3. An out-of-credits answer does the same.
* Resume exactly. What to do with each job at the start of a run is `resume.decide`.
* A submit is retried only when the provider certainly did not accept it: connection
  refused, 429, 503, or an idempotency key.
* Interruption: the first Ctrl-C / SIGTERM stops submitting and polling at the next safe
  point; a submit already sent is awaited so its answer is recorded. The second cancels
  everything at once: every transition is its own transaction, so the state stays
  consistent (a submit cut off mid-flight is SUBMITTING, hence ambiguous next time).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import anyio
import httpx

from .budget import BudgetPolicy
from .download import verify
from .errors import TransientError
from .jobs import Job
from .lifecycle import Run, RunSettings
from .progress import Reporter
from .providers.client import ProviderClient
from .resume import Action, decide
from .state.base import JobRecord, JobState, StateStore
from .summary import RunSummary

__all__ = ["RunSettings", "record_for", "run_batch"]


def record_for(job: Job) -> JobRecord:
    return JobRecord(
        key=job.key,
        provider=job.provider,
        model=job.model,
        prompt_id=job.prompt_id,
        coords=dict(job.coords),
        request=job.request_record(),
        output_path=job.output,
        estimated_credits=job.credits,
        estimated_usd=job.usd,
        price_basis=job.price_basis,
    )


async def run_batch(
    *,
    manifest: str,
    manifest_path: str,
    jobs: Iterable[Job],
    store: StateStore,
    clients: Mapping[str, ProviderClient],
    http: httpx.AsyncClient,
    policy: BudgetPolicy,
    settings: RunSettings,
    reporter: Reporter,
    units: Mapping[str, str],
) -> RunSummary:
    """Run every job (jobs is re-iterable); returns how it ended."""
    started = time.monotonic()
    run_id = store.start_run(
        manifest=manifest, manifest_path=manifest_path, options=_options(settings, policy)
    )
    keys: set[str] = set()

    def records() -> Iterable[JobRecord]:
        for job in jobs:
            keys.add(job.key)
            yield record_for(job)

    store.add_jobs(manifest, records(), run_id=run_id)
    run = Run(
        manifest=manifest,
        store=store,
        clients=clients,
        http=http,
        policy=policy,
        settings=settings,
        reporter=reporter,
        units=units,
        run_id=run_id,
    )
    total = len(keys)
    reporter.start(manifest=manifest, total=total)
    try:
        async with anyio.create_task_group() as tg:
            if settings.handle_signals and threading.current_thread() is threading.main_thread():
                tg.start_soon(_watch_signals, run, tg.cancel_scope)
            tg.start_soon(_tick, run)
            async with anyio.create_task_group() as workers:
                for job in jobs:
                    if run.stopping.is_set():
                        break
                    row = store.get(manifest, job.key)
                    action = decide(
                        row,
                        idempotent=clients[job.provider].provider.idempotent_submit,
                        retry_failed=settings.retry_failed,
                        resubmit_ambiguous=settings.resubmit_ambiguous,
                        output_ok=lambda r: verify(
                            settings.output_dir / r.output_path,
                            size=r.size or 0,
                            sha256=r.sha256 or "",
                        ),
                    )
                    run.states[job.key] = row.state.value if row else JobState.PENDING.value
                    if action is Action.MARK_AMBIGUOUS:
                        run._ambiguous(
                            job,
                            TransientError(
                                "a previous run sent this submit and stopped before recording "
                                "the answer",
                                provider=job.provider,
                            ),
                        )
                        continue
                    if action in (Action.SKIP_DONE, Action.SKIP_FAILED, Action.SKIP_AMBIGUOUS):
                        continue
                    if action in (Action.SUBMIT, Action.RETRY, Action.RESUBMIT) and (
                        run.stop_submitting or job.provider in run.refused
                    ):
                        continue
                    await run.slots.acquire()
                    workers.start_soon(run.work, job, action, row)
            tg.cancel_scope.cancel()  # stop the ticker and the signal watcher
    finally:
        reporter.tick(run.counts(), run.budget())
        reporter.finish()
    summary = _summarise(run, manifest, keys, started)
    store.finish_run(run_id, status=summary.status, summary=summary.to_json())
    return summary


async def _tick(run: Run) -> None:
    while True:
        run.reporter.tick(run.counts(), run.budget())
        await anyio.sleep(0.5)


async def _watch_signals(run: Run, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if run.stopping.is_set():
                run.reporter.event("interrupted", None, "second signal: stopping now")
                scope.cancel()
                return
            run.interrupted = True
            run.stop_submitting = True
            run.stopping.set()
            run.reporter.event(
                "interrupted",
                None,
                "finishing sends in flight; press Ctrl-C "
                "again to stop at once (state stays consistent)",
            )


def _summarise(run: Run, manifest: str, keys: set[str], started: float) -> RunSummary:
    counts: Counter[str] = Counter()
    ambiguous: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for row in run.store.jobs(manifest):
        if row.key not in keys:
            continue
        counts[row.state.value] += 1
        entry = {
            "key": row.key,
            "coords": row.coords,
            "error_kind": row.error_kind,
            "error": row.error,
            "remote_id": row.remote_id,
        }
        if row.state is JobState.AMBIGUOUS and len(ambiguous) < 1000:
            ambiguous.append(entry)
        elif row.state is JobState.FAILED and len(failed) < 1000:
            failed.append(entry)
    return RunSummary(
        run_id=run.run_id,
        manifest=manifest,
        total=len(keys),
        counts=dict(counts),
        ambiguous=ambiguous,
        failed=failed,
        budget=run.budget(),
        budget_stopped=run.budget_stopped,
        credits_exhausted=run.credits_exhausted,
        interrupted=run.interrupted,
        elapsed=time.monotonic() - started,
        submitted=run.submitted,
    )


def _options(settings: RunSettings, policy: BudgetPolicy) -> dict[str, Any]:
    return {
        "output_dir": str(settings.output_dir),
        "concurrency": settings.concurrency,
        "provider_concurrency": dict(settings.provider_concurrency),
        "requests_per_minute": dict(settings.requests_per_minute),
        "retries": settings.retries,
        "retry_failed": settings.retry_failed,
        "resubmit_ambiguous": settings.resubmit_ambiguous,
        "max_credits": dict(policy.max_credits),
        "max_usd": policy.max_usd,
    }
