"""The emulator's knobs: latency, faults, balances, URL lifetime, randomness."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROVIDERS = ("pixeldojo", "aimlapi", "aivideoapi", "apiframe", "vydra", "xai")
# A generous starting balance in each provider's own unit: about 100,000 USD everywhere
# (AI/ML API bills 2,000,000 credits per USD; xAI's balance is in USD).
DEFAULT_CREDITS = {
    "pixeldojo": 10_000_000.0,
    "aimlapi": 200_000_000_000.0,
    "aivideoapi": 20_000_000.0,
    "apiframe": 10_000_000.0,
    "vydra": 10_000_000.0,
    "xai": 100_000.0,
}


@dataclass
class EmulatorConfig:
    latency: float = 2.0  # seconds from submit to a final status; 0: done at the first poll
    failure_rate: float = 0.0  # jobs that end failed (refunded where the provider refunds)
    moderation_rate: float = 0.0  # jobs that end refused by moderation
    rate_limit_rate: float = 0.0  # API requests answered 429
    server_error_rate: float = 0.0  # API requests answered 5xx (nothing is created)
    lost_response_rate: float = 0.0  # submits accepted and charged, answer never sent
    # Starting balance: None = DEFAULT_CREDITS; a number for every provider; or per provider
    # (missing names get DEFAULT_CREDITS). Not a flat 1,000,000: that is 0.50 USD at AI/ML,
    # less than one 10 s 720p clip (1,400,000 credits). `grokbatch emulate` passes None.
    credits: float | Mapping[str, float] | None = None
    url_ttl: float = 3600.0  # seconds an output URL stays valid after it is handed out
    seed: int | None = None  # makes every random decision reproducible
    retry_after: float = 1.0  # the Retry-After of a 429, where the provider sends one
    request_latency: float = 0.0  # extra delay before every API answer
    api_keys: frozenset[str] | None = None  # None: any non-empty key is accepted

    def balance_for(self, provider: str) -> float:
        if self.credits is None:
            return DEFAULT_CREDITS[provider]
        if isinstance(self.credits, Mapping):
            return float(self.credits.get(provider, DEFAULT_CREDITS[provider]))
        return float(self.credits)
