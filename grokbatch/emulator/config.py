"""The emulator's knobs: latency, faults, balances, keys, URL lifetime, randomness, its file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

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
# The key each emulated provider accepts unless the emulator was started with one (`--key`);
# shaped like the real ones where their format is known (APIFrame `afk_...`, xAI `xai-...`).
# They are public on purpose: the emulator spends nothing, and the sandbox uses them.
DEFAULT_KEYS = {
    "pixeldojo": "pd-emulator-key",
    "aimlapi": "aiml-emulator-key",
    "aivideoapi": "aiv-emulator-key",
    "apiframe": "afk_emulator_key",
    "vydra": "vydra-emulator-key",
    "xai": "xai-emulator-key",
}
XAI_EMPTY_202 = 0.5


@dataclass
class EmulatorConfig:
    latency: float = 2.0  # seconds from submit to a final status; 0: done at the first poll
    latency_jitter: float = 0.0  # each job's latency is drawn uniformly in latency ± jitter
    failure_rate: float = 0.0  # jobs that end failed (refunded where the provider refunds)
    moderation_rate: float = 0.0  # jobs that end refused by moderation
    rate_limit_rate: float = 0.0  # API requests answered 429
    # API requests answered 5xx; on a submit the job may still have been created (a coin,
    # like a lost answer), except at APIFrame, whose 503 certainly created nothing
    server_error_rate: float = 0.0
    lost_response_rate: float = 0.0  # submits accepted and charged, answer never sent
    # Starting balance: None = DEFAULT_CREDITS; a number for every provider; or per provider
    # (missing names get DEFAULT_CREDITS). Not a flat 1,000,000: that is 0.50 USD at AI/ML,
    # less than one 10 s 720p clip (1,400,000 credits). `grokbatch emulate` passes None.
    credits: float | Mapping[str, float] | None = None
    # Seconds an output stays downloadable after its job finished; then it is purged (polls
    # say so where the provider does, downloads answer that provider's expired status)
    url_ttl: float = 3600.0
    seed: int | None = None  # makes every random decision reproducible
    retry_after: float = 1.0  # the Retry-After of a 429, where the provider sends one
    request_latency: float = 0.0  # extra delay before every API answer
    api_key: str | None = None  # the one key every provider accepts; None: DEFAULT_KEYS
    # Of xAI's HTTP 202 "still in progress" polls, the fraction with an empty body (the
    # rest carry {status: pending, progress}); both are seen from the live API
    xai_empty_202_rate: float = XAI_EMPTY_202
    log_delay: float = 0.0  # AI/ML API: seconds after completion before a /v2/logs row shows
    state_file: str | None = None  # SQLite file that keeps jobs, balances, keys across runs

    def balance_for(self, provider: str) -> float:
        if self.credits is None:
            return DEFAULT_CREDITS[provider]
        if isinstance(self.credits, Mapping):
            return float(self.credits.get(provider, DEFAULT_CREDITS[provider]))
        return float(self.credits)

    def key_for(self, provider: str) -> str:
        return self.api_key if self.api_key is not None else DEFAULT_KEYS[provider]


_NUMBERS = {f.name for f in fields(EmulatorConfig) if f.type == "float"}
_LIVE = {f.name for f in fields(EmulatorConfig)} - {"state_file"}


def coerce(name: str, value: Any) -> Any:
    """A setting as EmulatorConfig holds it (values may come as JSON from /_emulator/config).

    Raises ValueError for an unknown name or a bad value; `state_file` is fixed at start.
    """
    if name not in _LIVE:
        raise ValueError(f"unknown emulator setting {name!r}")
    try:
        if name in _NUMBERS:
            number = float(value)
            if number < 0 or (name.endswith("_rate") and number > 1):
                raise ValueError
            return number
        if name == "seed":
            return None if value is None else int(value)
        if name == "api_key":
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError
            return value
        if name == "credits":
            if value is None:
                return None
            if isinstance(value, Mapping):
                return {str(k): float(v) for k, v in value.items()}
            return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad value for emulator setting {name!r}: {value!r}") from None
    return value


def config_json(config: EmulatorConfig) -> dict[str, Any]:
    """The settings as JSON, without the key (never echoed)."""
    out = dict(vars(config))
    out["api_key"] = "set" if config.api_key is not None else "per-provider defaults"
    if isinstance(out.get("credits"), Mapping):
        out["credits"] = dict(out["credits"])
    return out
