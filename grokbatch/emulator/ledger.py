"""What the emulated providers remember: jobs, balances, keys and the counters tests read.

One lock guards everything; every method is short. Every change is written through to the
state file (`store.py`) inside the lock, so what the file holds is what clients were told.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .config import PROVIDERS, EmulatorConfig
from .jobs import EmuJob
from .stats import compute_stats
from .store import StateFile

COUNTERS = (
    "submissions",
    "replays",
    "polls",
    "list_requests",  # list and lookup endpoints (AI/ML logs, Vydra and APIFrame job lists)
    "cancels",
    "downloads",
    "rate_limited",
    "server_errors",
    "server_errors_created",  # a 5xx on a submit whose job was created all the same
    "submit_server_errors",  # the 5xx of server_errors that answered a submit (created or not)
    "lost_responses",
    "rejected",
    "callbacks",  # AI Video API callback_url POSTs delivered
    "callbacks_failed",
)


class Ledger:
    jobs: dict[str, EmuJob]  # in order of creation
    unsettled: dict[str, EmuJob]  # not yet charged or refunded for good
    sequence: int

    def __init__(self, config: EmulatorConfig) -> None:
        self.lock = threading.Lock()
        self.config = config
        self.file = StateFile(config.state_file)
        self._load()

    def _load(self) -> None:
        """Start from the state file when it has anything, else from the configuration."""
        with self.lock:
            self._blank()
            kept = self.file.balances()
            for p, (balance, charged, refunded) in kept.items():
                if p in self.balance:
                    self.balance[p], self.charged[p], self.refunded[p] = balance, charged, refunded
            for job in self.file.jobs():
                self.jobs[job.id] = job
                if not job.settled:
                    self.unsettled[job.id] = job
                self.sequence = max(self.sequence, job.seq)
            for p, name, value in self.file.counters():
                if p in self.counters:
                    self.counters[p][name] = value
            for p, key, body_key, job_id, at in self.file.idempotency_keys():
                self.idempotency[(p, key)] = (body_key, job_id, at)
            secret = self.file.meta("secret")
            self.secret = bytes.fromhex(secret) if secret else secrets.token_bytes(16)
            with self.file.transaction():
                self.file.put_meta("secret", self.secret.hex())
                if not kept:
                    for p in PROVIDERS:
                        self._save_balance(p)

    def _blank(self) -> None:
        self.jobs = {}
        self.unsettled = {}
        self.balance = {p: self.config.balance_for(p) for p in PROVIDERS}
        self.counters = {p: Counter[str]() for p in PROVIDERS}
        self.charged = dict.fromkeys(PROVIDERS, 0.0)
        self.refunded = dict.fromkeys(PROVIDERS, 0.0)
        # (provider, key) → (canonical body, job id, wall time when first seen)
        self.idempotency: dict[tuple[str, str], tuple[str, str, float]] = {}
        self.sequence = 0

    def reset(self) -> None:
        with self.lock, self.file.transaction():
            self._blank()
            self.file.clear()
            for p in PROVIDERS:
                self._save_balance(p)

    def close(self) -> None:
        with self.lock:
            self.file.close()

    def _save_balance(self, p: str) -> None:
        self.file.put_balance(p, self.balance[p], self.charged[p], self.refunded[p])

    def count(self, provider: str, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[provider][name] += n
            self.file.put_counter(provider, name, self.counters[provider][name])

    # --- jobs -------------------------------------------------------------------------------

    def next_seq(self) -> int:
        with self.lock:
            self.sequence += 1
            return self.sequence

    def add(self, job: EmuJob) -> bool:
        """Create the job if the balance covers its price (charging it if billed at submit).

        Checked and charged under one lock, so concurrent submits never overspend.
        """
        p = job.provider
        now = time.time()
        with self.lock, self.file.transaction():
            for other in list(self.unsettled.values()):  # charge what finished since, first
                self._settle(other, now)
            if self.balance[p] + 1e-9 < job.price:
                return False
            self.jobs[job.id] = job
            self.unsettled[job.id] = job
            self.counters[p]["submissions"] += 1
            self.file.put_counter(p, "submissions", self.counters[p]["submissions"])
            if job.charge_at_submit:
                self._charge(job, job.price)
            self.file.put_job(job)
            return True

    def get(self, job_id: str) -> EmuJob | None:
        with self.lock:
            return self.jobs.get(job_id)

    def of(self, provider: str) -> list[EmuJob]:
        """A provider's jobs, newest first."""
        with self.lock:
            return [j for j in reversed(self.jobs.values()) if j.provider == provider]

    def settle(self, job: EmuJob, now: float | None = None) -> str:
        """The job's phase; once final, its charge or refund is applied exactly once."""
        with self.lock, self.file.transaction():
            return self._settle(job, time.time() if now is None else now)

    def _settle(self, job: EmuJob, now: float) -> str:
        phase, _ = job.phase(now)
        if phase != "final" or job.settled:
            return phase
        job.settled = True
        self.unsettled.pop(job.id, None)
        if job.cancelled is not None:
            pass  # nothing refunded: see Ledger.cancel
        elif job.outcome == "ok" or (job.outcome == "moderated" and job.bills_moderated):
            if not job.charge_at_submit:
                self._charge(job, job.price)
        elif job.charge_at_submit and job.refunds_failures:
            job.refunded = job.charged
            self.refunded[job.provider] += job.charged
            self.balance[job.provider] += job.charged
            self._save_balance(job.provider)
        self.file.put_job(job)
        return phase

    def _charge(self, job: EmuJob, amount: float) -> None:
        job.charged += amount
        self.charged[job.provider] += amount
        self.balance[job.provider] -= amount
        self._save_balance(job.provider)

    def observed(self, jobs: Iterable[EmuJob], *, poll: bool, now: float) -> None:
        """A poll (one job) or a list answer (many) told the client about these jobs: count
        the poll, and note when each job was first reported finished (detection delay)."""
        with self.lock, self.file.transaction():
            for job in jobs:
                changed = False
                if poll:
                    job.polls += 1
                    changed = True
                if job.reported is None and job.phase(now)[0] == "final":
                    job.reported = now
                    changed = True
                if changed:
                    self.file.put_job(job)

    def cancel(self, job: EmuJob, now: float) -> bool:
        """End a job still in progress; False when it had already finished.

        Vydra's docs name the DELETE route but not what it refunds: nothing is refunded.
        """
        with self.lock, self.file.transaction():
            if job.phase(now)[0] == "final":
                return False
            job.cancelled = now
            job.settled = True
            self.unsettled.pop(job.id, None)
            self.counters[job.provider]["cancels"] += 1
            self.file.put_counter(job.provider, "cancels", self.counters[job.provider]["cancels"])
            self.file.put_job(job)
            return True

    def update(self, job: EmuJob, **details: Any) -> None:
        with self.lock, self.file.transaction():
            job.details.update(details)
            self.file.put_job(job)

    def remember_key(self, provider: str, key: str, body_key: str, job_id: str) -> None:
        now = time.time()
        with self.lock, self.file.transaction():
            self.idempotency[(provider, key)] = (body_key, job_id, now)
            self.file.put_key(provider, key, body_key, job_id, now)

    def recall_key(self, provider: str, key: str, within: float) -> tuple[str, str] | None:
        """(canonical body, job id) first sent with this key less than `within` s ago."""
        with self.lock:
            seen = self.idempotency.get((provider, key))
        if seen is None or time.time() - seen[2] >= within:
            return None
        return seen[0], seen[1]

    def set_balance(self, provider: str, credits: float) -> None:
        with self.lock, self.file.transaction():
            self.balance[provider] = float(credits)
            self._save_balance(provider)

    # --- stats ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        now = time.time()
        with self.lock:
            with self.file.transaction():
                for job in list(self.unsettled.values()):
                    self._settle(job, now)
            return compute_stats(
                list(self.jobs.values()),
                {p: dict(self.counters[p]) for p in PROVIDERS},
                charged=self.charged,
                refunded=self.refunded,
                balance=self.balance,
                counters=COUNTERS,
                now=now,
            )
