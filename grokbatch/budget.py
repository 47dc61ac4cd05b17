"""Budgets: the limits a batch runs within, and where it stands against them.

The guarantee itself lives in the store: `StateStore.reserve` checks a job against its
provider's limit and the manifest's USD limit and claims it in one transaction, counting
spent + reserved credits over every run of the manifest. This module only turns a
manifest's settings into the `Limits` each reservation passes, and reports the totals.

A provider may charge more than it was estimated to, so `committed > limit` can happen
after the fact (`BudgetStatus.exceeded`); no reservation is made past a limit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .formatting import amount
from .state.base import Limits, StateStore

_PRECISION = 6  # prices are decimals: compare at micro-credit precision, like the store


@dataclass(frozen=True)
class BudgetPolicy:
    """The limits of a batch: credits per provider, and USD over every provider."""

    max_credits: Mapping[str, float] = field(default_factory=dict)
    max_usd: float | None = None

    @classmethod
    def resolve(
        cls,
        max_credits: float | Mapping[str, float] | None,
        providers: Iterable[str],
        *,
        max_usd: float | None = None,
    ) -> BudgetPolicy:
        """A policy from a manifest's setting: a single number applies to every provider."""
        if max_credits is None:
            limits: dict[str, float] = {}
        elif isinstance(max_credits, Mapping):
            limits = dict(max_credits)
        else:
            limits = dict.fromkeys(providers, float(max_credits))
        return cls(max_credits=limits, max_usd=max_usd)

    def limits_for(self, provider: str) -> Limits:
        """The Limits a reservation for a job of this provider must fit in."""
        return Limits(max_credits=self.max_credits.get(provider), max_usd=self.max_usd)


@dataclass(frozen=True)
class ProviderBudget:
    """One provider's credits against its limit."""

    spent: float
    reserved: float
    limit: float | None  # None: no limit
    unit: str = "credits"

    @property
    def committed(self) -> float:
        return round(self.spent + self.reserved, _PRECISION)

    @property
    def remaining(self) -> float | None:
        if self.limit is None:
            return None
        return max(0.0, round(self.limit - self.committed, _PRECISION))

    def exceeded(self) -> bool:
        return self.limit is not None and self.committed > round(self.limit, _PRECISION)

    def format(self, provider: str) -> str:
        """E.g. "aivideoapi 93 spent + 27 reserved of 500 credits"."""
        text = f"{provider} {amount(self.spent)} spent"
        if self.reserved:
            text += f" + {amount(self.reserved)} reserved"
        if self.limit is not None:
            text += f" of {amount(self.limit)}"
        return f"{text} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "spent": self.spent,
            "reserved": self.reserved,
            "limit": self.limit,
            "unit": self.unit,
        }


@dataclass(frozen=True)
class BudgetStatus:
    """Where a manifest stands against its budget, for progress displays and summaries."""

    per_provider: Mapping[str, ProviderBudget]
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    max_usd: float | None = None
    # Providers whose price in USD is unknown: the USD sums leave them out, so no USD
    # total is shown as the total while any is missing.
    usd_missing: tuple[str, ...] = ()

    @property
    def committed_usd(self) -> float:
        return round(self.spent_usd + self.reserved_usd, _PRECISION)

    def exceeded(self) -> bool:
        """True when some limit is passed (a provider charged more than estimated)."""
        usd_over = self.max_usd is not None and self.committed_usd > round(self.max_usd, _PRECISION)
        return usd_over or any(p.exceeded() for p in self.per_provider.values())

    def format(self) -> str:
        """E.g. "aivideoapi 93 spent + 27 reserved of 500 credits · USD $0.47 spent"."""
        parts = [b.format(name) for name, b in self.per_provider.items()]
        if self.usd_missing:
            if self.committed_usd or self.max_usd is not None:
                parts.append(f"USD total unknown (no USD price for {', '.join(self.usd_missing)})")
        elif self.committed_usd or self.max_usd is not None:
            usd = f"USD ${self.spent_usd:,.2f} spent"
            if self.reserved_usd:
                usd += f" + ${self.reserved_usd:,.2f} reserved"
            if self.max_usd is not None:
                usd += f" of ${self.max_usd:,.2f}"
            parts.append(usd)
        return " · ".join(parts) or "nothing spent"

    def to_json(self) -> dict[str, Any]:
        """The same figures as `format`, with the same labels, for every --json."""
        known = not self.usd_missing
        return {
            "providers": {name: b.to_json() for name, b in self.per_provider.items()},
            "usd": {
                "spent": self.spent_usd if known else None,
                "reserved": self.reserved_usd if known else None,
                "limit": self.max_usd,
                "missing_prices": list(self.usd_missing),
            },
        }


def budget_status(
    store: StateStore,
    manifest: str,
    policy: BudgetPolicy,
    units: Mapping[str, str],
    *,
    usd_missing: Collection[str] = (),
) -> BudgetStatus:
    """The manifest's spent and reserved totals (over every run) against the policy.

    Lists every provider with usage or a limit; `units` names each provider's credit
    unit ("credits" when not given); `usd_missing` the providers priced in credits only.
    """
    usage = store.usage(manifest)
    names = sorted(set(usage) | set(policy.max_credits))
    per_provider = {}
    for name in names:
        u = usage.get(name)
        per_provider[name] = ProviderBudget(
            spent=round(u.spent_credits, _PRECISION) if u else 0.0,
            reserved=round(u.reserved_credits, _PRECISION) if u else 0.0,
            limit=policy.max_credits.get(name),
            unit=units.get(name, "credits"),
        )
    return BudgetStatus(
        per_provider=per_provider,
        spent_usd=round(sum(u.spent_usd for u in usage.values()), _PRECISION),
        reserved_usd=round(sum(u.reserved_usd for u in usage.values()), _PRECISION),
        max_usd=policy.max_usd,
        usd_missing=tuple(sorted(set(usd_missing) & (set(names) | set(usage)))),
    )
