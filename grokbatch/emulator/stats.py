"""`/_emulator/stats`: what each provider was sent, charged and told, worked out from its jobs.

The counter that matters most is `duplicates`: a paid submission whose canonical request
body equals that of an earlier paid submission at the same provider that was neither
refunded nor failed — somebody paying twice for the same clip. It is worked out when stats
are read, from what every job finally cost, so a twin whose first copy is later refunded
stops counting, and a resubmission after a failure (refunded or, at PixelDojo, not) never
counts.

For benchmarks: `polls_per_job` (polls over jobs created) and the detection delay, for each
finished job the time from when it finished here to the first poll or list answer that
reported it finished (`detection_delay_mean` / `_max`, seconds, over `detected` jobs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .config import PROVIDERS
from .jobs import EmuJob


def compute_stats(
    jobs: Sequence[EmuJob],
    counts: Mapping[str, Mapping[str, int]],
    *,
    charged: Mapping[str, float],
    refunded: Mapping[str, float],
    balance: Mapping[str, float],
    counters: Sequence[str],
    now: float,
) -> dict[str, Any]:
    states = {p: Counter[str]() for p in PROVIDERS}
    paid = Counter[str]()
    duplicates = Counter[str]()
    delays: dict[str, list[float]] = {p: [] for p in PROVIDERS}
    kept: set[tuple[str, str]] = set()  # (provider, body) paid for and not failed
    for job in jobs:  # in order of creation
        state = job.state(now)
        states[job.provider][state] += 1
        if job.reported is not None:
            delays[job.provider].append(max(0.0, job.reported - job.finished_at))
        if job.charged - job.refunded <= 0:
            continue
        paid[job.provider] += 1
        twin = (job.provider, job.body_key)
        if twin in kept:
            duplicates[job.provider] += 1
        if state in ("queued", "running", "ok", "expired"):
            kept.add(twin)
    out: dict[str, Any] = {}
    for p in PROVIDERS:
        entry: dict[str, Any] = {n: counts[p].get(n, 0) for n in counters}
        entry["paid"] = paid[p]
        entry["duplicates"] = duplicates[p]
        entry["credits_charged"] = round(charged[p], 10)
        entry["credits_refunded"] = round(refunded[p], 10)
        entry["balance"] = round(balance[p], 10)
        entry["jobs"] = dict(states[p])
        created = sum(states[p].values())
        entry["polls_per_job"] = round(entry["polls"] / created, 3) if created else 0.0
        found = delays[p]
        entry["detected"] = len(found)
        entry["detection_delay_mean"] = round(sum(found) / len(found), 4) if found else None
        entry["detection_delay_max"] = round(max(found), 4) if found else None
        out[p] = entry
    totals = {n: sum(out[p][n] for p in PROVIDERS) for n in (*counters, "paid", "duplicates")}
    return {"providers": out, "totals": totals}
