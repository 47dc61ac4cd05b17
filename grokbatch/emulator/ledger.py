"""What the emulated providers remember: jobs, balances and the counters tests read.

One lock guards everything; every method is short. The counter that matters most is
`duplicates`: a paid submission whose canonical request body equals that of an earlier paid
submission at the same provider that was neither refunded nor failed — somebody paying twice
for the same clip. It is worked out when stats are read, from what every job finally cost, so
a twin whose first copy is later refunded stops counting, and a resubmission after a failure
(refunded or, at PixelDojo, not) never counts.
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
    "polls",
    "downloads",
    "rate_limited",
    "server_errors",
    "lost_responses",
    "rejected",
    "callbacks",  # AI Video API callback_url POSTs delivered
    "callbacks_failed",
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
        with self.lock:
            self.jobs: dict[str, EmuJob] = {}  # in order of creation
            self.balance = {p: self.config.balance_for(p) for p in PROVIDERS}
            self.counters = {p: Counter[str]() for p in PROVIDERS}
            self.charged = dict.fromkeys(PROVIDERS, 0.0)
            self.refunded = dict.fromkeys(PROVIDERS, 0.0)
            # (provider, key) → (canonical body, job id, time.monotonic() when first seen)
            self.idempotency: dict[tuple[str, str], tuple[str, str, float]] = {}
            self.sequence = 0

    def count(self, provider: str, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[provider][name] += n

    def next_id(self) -> int:
        with self.lock:
            self.sequence += 1
            return self.sequence

    # --- jobs -------------------------------------------------------------------------------

    def add(self, job: EmuJob) -> bool:
        """Create the job if the balance covers its price (charging it if billed at submit).

        Checked and charged under one lock, so concurrent submits never overspend.
        """
        p = job.provider
        with self.lock:
            if self.balance[p] + 1e-9 < job.price:
                return False
            self.jobs[job.id] = job
            self.counters[p]["submissions"] += 1
            if job.charge_at_submit:
                self._charge(job, job.price)
            return True

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
            elif job.charge_at_submit and job.refunds_failures:
                job.refunded = job.charged
                self.refunded[job.provider] += job.charged
                self.balance[job.provider] += job.charged
        return phase

    def _charge(self, job: EmuJob, amount: float) -> None:
        job.charged += amount
        self.charged[job.provider] += amount
        self.balance[job.provider] -= amount

    def remember_key(self, provider: str, key: str, body_key: str, job_id: str) -> None:
        with self.lock:
            self.idempotency[(provider, key)] = (body_key, job_id, time.monotonic())

    def recall_key(self, provider: str, key: str, within: float) -> tuple[str, str] | None:
        """(canonical body, job id) first sent with this key less than `within` s ago."""
        with self.lock:
            seen = self.idempotency.get((provider, key))
        if seen is None or time.monotonic() - seen[2] >= within:
            return None
        return seen[0], seen[1]

    def set_balance(self, provider: str, credits: float) -> None:
        with self.lock:
            self.balance[provider] = float(credits)

    # --- stats ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            self.settle(job, now)
        with self.lock:
            states = {p: Counter[str]() for p in PROVIDERS}
            paid = Counter[str]()
            duplicates = Counter[str]()
            kept: set[tuple[str, str]] = set()  # (provider, body) paid for and not failed
            for job in self.jobs.values():  # in order of creation
                phase = job.phase(now)[0]
                states[job.provider][job.outcome if phase == "final" else phase] += 1
                if job.charged - job.refunded <= 0:
                    continue
                paid[job.provider] += 1
                twin = (job.provider, job.body_key)
                if twin in kept:
                    duplicates[job.provider] += 1
                if phase != "final" or job.outcome == "ok":
                    kept.add(twin)
            out: dict[str, Any] = {}
            for p in PROVIDERS:
                entry: dict[str, Any] = {n: self.counters[p][n] for n in COUNTERS}
                entry["paid"] = paid[p]
                entry["duplicates"] = duplicates[p]
                entry["credits_charged"] = round(self.charged[p], 10)
                entry["credits_refunded"] = round(self.refunded[p], 10)
                entry["balance"] = round(self.balance[p], 10)
                entry["jobs"] = dict(states[p])
                out[p] = entry
            totals = {
                n: sum(out[p][n] for p in PROVIDERS) for n in (*COUNTERS, "paid", "duplicates")
            }
        return {"providers": out, "totals": totals}
