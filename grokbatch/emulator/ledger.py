"""What the emulated providers remember: jobs, balances and the counters tests read.

One lock guards everything; every method is short. The counter that matters most is
`duplicates`: a paid submission whose request body equals that of an earlier submission
at the same provider that has not failed — somebody paying twice for the same clip.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .config import PROVIDERS, EmulatorConfig

COUNTERS = (
    "submissions",
    "replays",
    "duplicates",
    "polls",
    "downloads",
    "rate_limited",
    "server_errors",
    "lost_responses",
    "rejected",
)


@dataclass
class EmuJob:
    id: str
    provider: str
    body_key: str  # canonical JSON of the request body
    created: float  # time.monotonic()
    latency: float
    price: float
    kind: str  # video | image
    outcome: str  # ok | failed | moderated
    charge_at_submit: bool
    refunds_failures: bool
    details: dict[str, Any] = field(default_factory=dict)  # what the answers echo
    charged: float = 0.0
    refunded: float = 0.0
    settled: bool = False

    def phase(self, now: float) -> tuple[str, float]:
        """(queued | running | final, progress 0..100) at `now`."""
        if self.latency <= 0:
            return "final", 100.0
        f = (now - self.created) / self.latency
        if f >= 1:
            return "final", 100.0
        return ("queued" if f < 1 / 3 else "running"), round(100 * f, 1)


class Ledger:
    def __init__(self, config: EmulatorConfig) -> None:
        self.lock = threading.Lock()
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.jobs: dict[str, EmuJob] = {}
        self.balance = {p: self.config.balance_for(p) for p in PROVIDERS}
        self.counters = {p: Counter[str]() for p in PROVIDERS}
        self.charged = dict.fromkeys(PROVIDERS, 0.0)
        self.refunded = dict.fromkeys(PROVIDERS, 0.0)
        self.live: dict[str, Counter[str]] = {p: Counter() for p in PROVIDERS}
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}  # (p, key) → (body, id)
        self.sequence = 0

    def count(self, provider: str, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[provider][name] += n

    def next_id(self) -> int:
        with self.lock:
            self.sequence += 1
            return self.sequence

    # --- jobs -------------------------------------------------------------------------------

    def add(self, job: EmuJob) -> None:
        """A new job: counted, checked for duplicates, charged if billed at submit."""
        p = job.provider
        with self.lock:
            self.jobs[job.id] = job
            self.counters[p]["submissions"] += 1
            if self.live[p][job.body_key] > 0:
                self.counters[p]["duplicates"] += 1
            self.live[p][job.body_key] += 1
            if job.charge_at_submit:
                self._charge(job, job.price)

    def get(self, job_id: str) -> EmuJob | None:
        with self.lock:
            return self.jobs.get(job_id)

    def settle(self, job: EmuJob, now: float | None = None) -> str:
        """The job's phase; once final, its charge or refund is applied exactly once."""
        phase, _ = job.phase(time.monotonic() if now is None else now)
        if phase != "final" or job.settled:
            return phase
        with self.lock:
            if job.settled:
                return phase
            job.settled = True
            if job.outcome == "ok":
                if not job.charge_at_submit:
                    self._charge(job, job.price)
            else:
                self.live[job.provider][job.body_key] -= 1
                if job.charge_at_submit and job.refunds_failures:
                    job.refunded = job.charged
                    self.refunded[job.provider] += job.charged
                    self.balance[job.provider] += job.charged
        return phase

    def _charge(self, job: EmuJob, amount: float) -> None:
        job.charged += amount
        self.charged[job.provider] += amount
        self.balance[job.provider] -= amount

    def can_afford(self, provider: str, price: float) -> bool:
        with self.lock:
            return self.balance[provider] + 1e-9 >= price

    def remember_key(self, provider: str, key: str, body_key: str, job_id: str) -> None:
        with self.lock:
            self.idempotency[(provider, key)] = (body_key, job_id)

    def recall_key(self, provider: str, key: str) -> tuple[str, str] | None:
        with self.lock:
            return self.idempotency.get((provider, key))

    def set_balance(self, provider: str, credits: float) -> None:
        with self.lock:
            self.balance[provider] = float(credits)

    # --- stats ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            self.settle(job, now)
        with self.lock:
            out: dict[str, Any] = {}
            for p in PROVIDERS:
                jobs = [j for j in self.jobs.values() if j.provider == p]
                states = Counter(
                    j.outcome if j.phase(now)[0] == "final" else j.phase(now)[0] for j in jobs
                )
                entry: dict[str, Any] = {n: self.counters[p][n] for n in COUNTERS}
                entry["paid"] = sum(1 for j in jobs if j.charged - j.refunded > 0)
                entry["credits_charged"] = round(self.charged[p], 10)
                entry["credits_refunded"] = round(self.refunded[p], 10)
                entry["balance"] = round(self.balance[p], 10)
                entry["jobs"] = dict(states)
                out[p] = entry
            totals = {n: sum(out[p][n] for p in PROVIDERS) for n in (*COUNTERS, "paid")}
        return {"providers": out, "totals": totals}
