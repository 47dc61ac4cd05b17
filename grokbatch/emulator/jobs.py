"""One emulated job: its fate is drawn at submit, its progress follows the wall clock.

Times are wall-clock seconds (`time.time()`), so a job kept in the emulator's state file is
finished (or expired) at the right moment after a restart, as a real provider's would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EmuJob:
    id: str
    provider: str
    body_key: str  # canonical JSON of the request body
    created: float  # wall clock
    latency: float  # seconds from creation to the final status
    url_ttl: float  # seconds the output stays downloadable after the job finished
    price: float
    kind: str  # video | image
    outcome: str  # ok | failed | moderated
    charge_at_submit: bool
    refunds_failures: bool
    bills_moderated: bool = False  # a clip refused by moderation is paid for all the same
    details: dict[str, Any] = field(default_factory=dict)  # what the answers echo
    seq: int = 0  # order of creation
    charged: float = 0.0
    refunded: float = 0.0
    settled: bool = False
    cancelled: float | None = None  # when a cancel request ended it
    reported: float | None = None  # when a poll or list answer first said it was finished
    polls: int = 0
    client_request_id: str | None = None  # AI/ML API's X-Client-Request-Id, when valid

    @property
    def finished_at(self) -> float:
        if self.cancelled is not None:
            return self.cancelled
        return self.created + max(self.latency, 0.0)

    @property
    def expires_at(self) -> float:
        return self.finished_at + self.url_ttl

    def phase(self, now: float) -> tuple[str, float]:
        """(queued | running | final, progress 0..100) at `now`."""
        if self.cancelled is not None or self.latency <= 0 or now >= self.finished_at:
            return "final", 100.0
        f = (now - self.created) / self.latency
        return ("queued" if f < 1 / 3 else "running"), round(100 * max(f, 0.0), 1)

    def expired(self, now: float) -> bool:
        """A finished clip whose output has been purged."""
        return self.outcome == "ok" and self.cancelled is None and now >= self.expires_at

    def state(self, now: float) -> str:
        """queued | running | ok | failed | moderated | cancelled | expired (for stats)."""
        if self.cancelled is not None:
            return "cancelled"
        phase = self.phase(now)[0]
        if phase != "final":
            return phase
        return "expired" if self.expired(now) else self.outcome
