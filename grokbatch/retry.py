"""Exponential backoff with full jitter, honouring a provider's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for attempt 0, 1, 2…: uniform in [0, min(cap, base × factor^attempt)].

    Full jitter spreads a crowd of retries (100 jobs hit by one outage) over the window
    instead of sending them back in lockstep. A Retry-After from the provider is a floor.
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(0, attempt))
        wait = self.rng.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, 3600.0))
        return wait
