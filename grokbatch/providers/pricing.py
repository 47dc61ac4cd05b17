"""Price helpers shared by the adapters: declared prices and per-second rates."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .wire import DeclaredPrice, Price


def declared_price(
    params: Mapping[str, Any], declared: DeclaredPrice | None, usd_per_credit: float | None
) -> Price | None:
    """The manifest's own price for this job, when it declares one that applies."""
    if declared is None:
        return None
    rate = usd_per_credit if declared.usd_per_credit is None else declared.usd_per_credit
    if declared.credits_per_job is not None:
        credits = float(declared.credits_per_job)
    elif declared.credits_per_second is not None:
        per_second = declared.credits_per_second
        if isinstance(per_second, Mapping):
            resolution = str(params.get("resolution", ""))
            if resolution not in per_second:
                return None  # no declared rate for this resolution: the caller falls back
            per_second = per_second[resolution]
        credits = float(per_second) * int(params.get("duration") or 0)
    else:
        return None
    return Price(credits, usd(credits, rate), "declared")


def usd(credits: float, usd_per_credit: float | None) -> float | None:
    return None if usd_per_credit is None else round(credits * usd_per_credit, 10)


def round_up(credits: float) -> float:
    """Providers bill whole credits; an unstated rounding is taken upwards (never under-budget)."""
    return float(math.ceil(round(credits, 9)))
