"""What a manifest would cost: jobs, credits per provider, USD where known, against the budget.

Pricing streams over the jobs, so planning a 1,000,000-job grid keeps only totals in memory.
Estimates that rest on a declared (`prices:`) or guessed price are marked as such.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import providers
from .errors import InputError, Problem
from .expand import Expander
from .jobs import Job
from .manifest import Manifest

LIST_LIMIT = 40  # up to this many jobs are listed one by one; beyond, a summary
BASIS_MARK = {"published": "", "declared": "*", "guessed": "~"}


@dataclass
class ProviderTotal:
    name: str
    unit: str
    jobs: int = 0
    credits: float = 0.0
    usd: float | None = 0.0  # None once any job's USD price is unknown
    bases: set[str] = field(default_factory=set)
    limit: float | None = None

    @property
    def over_budget(self) -> bool:
        return self.limit is not None and round(self.credits, 6) > round(self.limit, 6)

    def add(self, job: Job) -> None:
        self.jobs += 1
        self.credits += job.credits
        self.bases.add(job.price_basis)
        if self.usd is not None:
            self.usd = None if job.usd is None else self.usd + job.usd


@dataclass
class Plan:
    manifest: Manifest
    jobs: int
    totals: dict[str, ProviderTotal]
    listed: list[Job]  # the first LIST_LIMIT + 1 jobs
    by_axis: dict[str, dict[Any, int]]  # axis → value → job count
    max_usd: float | None
    warnings: list[Problem] = field(default_factory=list)  # e.g. an exclude that removes nothing

    @property
    def total_usd(self) -> float | None:
        values = [t.usd for t in self.totals.values()]
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    @property
    def over_budget(self) -> bool:
        usd = self.total_usd
        over_usd = self.max_usd is not None and usd is not None and round(usd, 6) > self.max_usd
        return over_usd or any(t.over_budget for t in self.totals.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest.name,
            "jobs": self.jobs,
            "estimated_credits": {n: round(t.credits, 6) for n, t in self.totals.items()},
            "credit_units": {n: t.unit for n, t in self.totals.items()},
            "estimated_usd": {n: _r(t.usd) for n, t in self.totals.items()},
            "estimated_usd_total": _r(self.total_usd),
            "price_basis": {n: sorted(t.bases) for n, t in self.totals.items()},
            "jobs_per_provider": {n: t.jobs for n, t in self.totals.items()},
            "max_credits": {n: t.limit for n, t in self.totals.items() if t.limit is not None},
            "max_usd": self.max_usd,
            "over_budget": self.over_budget,
            "over_budget_providers": [n for n, t in self.totals.items() if t.over_budget],
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def credit_limits(
    manifest: Manifest, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """max_credits per provider: the manifest's, with command-line overrides on top.

    A bare number (key "*") applies to the manifest's only provider. The manifest's own
    mistakes (one number for several providers, a provider it does not use) were reported
    with their line when it was loaded; only the command line's are raised here.
    """
    names = manifest.provider_names()
    out: dict[str, float] = {}
    for name, value in manifest.limits.max_credits.items():
        if name == "*" and len(names) == 1:
            out[names[0]] = value
        elif name in names:
            out[name] = value
    for name, value in (overrides or {}).items():
        flag = f"--max-credits {name + '=' if name != '*' else ''}{value:g}"
        if not math.isfinite(value):
            raise InputError(f"{flag}: a budget must be a finite number")
        if name == "*":
            if len(names) != 1:
                raise InputError(
                    f"{flag} is ambiguous with {len(names)} providers "
                    f"({', '.join(names)}): write --max-credits PROVIDER=N for each"
                )
            out[names[0]] = value
        elif name not in names:
            raise InputError(
                f"{flag} names {name}, which this manifest does not use "
                f"(it uses {', '.join(names)})"
            )
        else:
            out[name] = value
    return out


def make_plan(
    manifest: Manifest,
    *,
    max_credits: Mapping[str, float] | None = None,
    max_usd: float | None = None,
    output_dir: Path | None = None,
) -> Plan:
    """Expand and price every job; ManifestError if any job is invalid.

    With `output_dir`, every output path is also checked against that directory.
    """
    limits = credit_limits(manifest, max_credits)
    totals: dict[str, ProviderTotal] = {}
    listed: list[Job] = []
    by_axis: dict[str, dict[Any, int]] = {}
    expander = Expander(manifest, output_dir=output_dir)
    count = 0
    for job in expander.jobs():
        count += 1
        total = totals.get(job.provider)
        if total is None:
            adapter = providers.get(job.provider)
            total = totals[job.provider] = ProviderTotal(
                job.provider, adapter.credit_unit, limit=limits.get(job.provider)
            )
        total.add(job)
        if len(listed) <= LIST_LIMIT:
            listed.append(job)
        for axis, value in job.coords.items():
            counts = by_axis.get(axis)
            if counts is None:
                counts = by_axis[axis] = {}
            counts[value] = counts.get(value, 0) + 1
    expander.raise_problems()
    for name, limit in limits.items():
        totals.setdefault(name, ProviderTotal(name, providers.get(name).credit_unit, limit=limit))
    usd_limit = max_usd if max_usd is not None else manifest.limits.max_usd
    return Plan(manifest, count, totals, listed, by_axis, usd_limit, expander.warnings)


def format_plan(plan: Plan) -> str:
    """The plan as text: jobs (or a summary), totals per provider, the budget verdict."""
    lines = [f"{plan.manifest.name}: {plan.jobs} job{'s' if plan.jobs != 1 else ''}", ""]
    if plan.jobs <= LIST_LIMIT:
        rows = [["#", "job", "provider", "credits", "usd", "output"]]
        for job in plan.listed:
            coords = " ".join(f"{k}={v}" for k, v in job.coords.items() if k != "provider")
            rows.append(
                [
                    str(job.index + 1),
                    coords,
                    job.provider,
                    _num(job.credits) + BASIS_MARK[job.price_basis],
                    _usd(job.usd),
                    job.output,
                ]
            )
        lines += _table(rows)
    else:
        rows = [["axis", "values (jobs)"]]
        for axis, counts in plan.by_axis.items():
            shown = list(counts.items())
            text = ", ".join(f"{v} ({n})" for v, n in shown[:8])
            if len(shown) > 8:
                text += f", … {len(shown) - 8} more"
            rows.append([axis, text])
        lines += _table(rows)
    lines.append("")
    rows = [["provider", "jobs", "credits", "unit", "usd", "budget", ""]]
    for t in plan.totals.values():
        mark = "".join(sorted(BASIS_MARK[b] for b in t.bases))
        verdict = "OVER BUDGET" if t.over_budget else ("ok" if t.limit is not None else "")
        rows.append(
            [
                t.name,
                str(t.jobs),
                _num(t.credits) + mark,
                t.unit,
                _usd(t.usd),
                _num(t.limit) if t.limit is not None else "-",
                verdict,
            ]
        )
    total = plan.total_usd
    if len(plan.totals) > 1 or plan.max_usd is not None:
        over = plan.max_usd is not None and total is not None and total > plan.max_usd
        rows.append(
            [
                "total",
                str(plan.jobs),
                "",
                "",
                _usd(total),
                f"${plan.max_usd:,.2f}" if plan.max_usd is not None else "-",
                "OVER BUDGET" if over else ("ok" if plan.max_usd is not None else ""),
            ]
        )
    lines += _table(rows)
    bases = set().union(*(t.bases for t in plan.totals.values())) if plan.totals else set()
    if "declared" in bases:
        lines.append("* rests on a price declared in the manifest's `prices:`")
    if "guessed" in bases:
        lines.append(
            "~ rests on a guessed price (the provider publishes none): declare one under `prices:`"
        )
    lines.append("")
    lines.append(
        "over budget: the run would stop before finishing"
        if plan.over_budget
        else "within budget"
        if any(t.limit is not None for t in plan.totals.values()) or plan.max_usd is not None
        else "no budget set (limits.max_credits)"
    )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _usd(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths).rstrip())
    return out
