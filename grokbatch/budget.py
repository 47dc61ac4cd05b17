"""Budgets: the limits a batch runs within, and where it stands against them.

The guarantee itself lives in the store: `StateStore.reserve` checks a job against its
provider's limit and the manifest's USD limit and claims it in one transaction, counting
spent + reserved credits over every run of the manifest. This module only turns a
manifest's settings into the `Limits` each reservation passes, and reports the totals.

A provider may charge more than it was estimated to, so `committed > limit` can happen
after the fact (`BudgetStatus.exceeded`); no reservation is made past a limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
        limit = "" if self.limit is None else f"/{amount(self.limit)}"
        text = f"{provider} {amount(self.committed)}{limit} {self.unit}"
        if self.reserved:
            text += f" ({amount(self.reserved)} reserved)"
        return text


@dataclass(frozen=True)
class BudgetStatus:
    """Where a manifest stands against its budget, for progress displays and summaries."""

    per_provider: Mapping[str, ProviderBudget]
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    max_usd: float | None = None

    @property
    def committed_usd(self) -> float:
        return round(self.spent_usd + self.reserved_usd, _PRECISION)

    def exceeded(self) -> bool:
        """True when some limit is passed (a provider charged more than estimated)."""
        usd_over = self.max_usd is not None and self.committed_usd > round(self.max_usd, _PRECISION)
        return usd_over or any(p.exceeded() for p in self.per_provider.values())

    def format(self) -> str:
        """E.g. "aivideoapi 120/500 credits (27 reserved) · $0.74"."""
        parts = [b.format(name) for name, b in self.per_provider.items()]
        if self.committed_usd or self.max_usd is not None:
            usd = f"${self.committed_usd:.2f}"
            if self.max_usd is not None:
                usd += f"/${self.max_usd:.2f}"
            parts.append(usd)
        return " · ".join(parts) or "nothing spent"


def budget_status(
    store: StateStore, manifest: str, policy: BudgetPolicy, units: Mapping[str, str]
) -> BudgetStatus:
    """The manifest's spent and reserved totals (over every run) against the policy.

    Lists every provider with usage or a limit; `units` names each provider's credit
    unit ("credits" when not given).
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
    )
