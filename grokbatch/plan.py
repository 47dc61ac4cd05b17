"""What a run would do now and what it would cost, against what is left of the budget.

Without a state database every job would be submitted and the whole budget is left. With
one (`grokbatch plan` finds it as `run` does), each job gets the action `run` would take
(`resume.decide`, the same table): only what would be submitted is priced, and the budget
left is each limit minus what earlier runs spent and reserved. The CI gate (exit 3) is
that price against that remainder: the answer for the run that will really happen.

Pricing streams over the jobs, so planning a 1,000,000-job grid keeps only totals (and, when
asked, one row per job) in memory. Estimates resting on a declared (`prices:`) or guessed
price are marked as such.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import providers
from .errors import InputError, Problem
from .expand import Expander
from .formatting import BASIS_MARK, amount, usd
from .jobs import Job
from .manifest import Manifest
from .resume import Action, actions
from .selection import Scan, Selection
from .state.base import JobState, StateStore, Usage

LIST_LIMIT = 40  # up to this many jobs are listed one by one; beyond, a summary


@dataclass
class ProviderTotal:
    name: str
    unit: str
    jobs: int = 0  # jobs of the manifest at this provider
    credits: float = 0.0  # estimated: what a run now would submit
    usd: float | None = 0.0  # None once any such job's USD price is unknown
    to_submit: int = 0
    bases: set[str] = field(default_factory=set)
    limit: float | None = None
    spent: float = 0.0  # by earlier runs, from the state
    reserved: float = 0.0

    @property
    def left(self) -> float | None:
        """What is left of the limit after what was spent and reserved."""
        return None if self.limit is None else round(self.limit - self.spent - self.reserved, 6)

    @property
    def over_budget(self) -> bool:
        left = self.left
        return left is not None and round(self.credits, 6) > left

    def add(self, job: Job, action: Action) -> None:
        self.jobs += 1
        self.bases.add(job.price_basis)
        if not action.pays:
            return
        self.to_submit += 1
        self.credits += job.credits
        if self.usd is not None:
            self.usd = None if job.usd is None else self.usd + job.usd

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "to_submit": self.to_submit,
            "estimated": round(self.credits, 6),
            "estimated_usd": _r(self.usd),
            "unit": self.unit,
            "price_basis": sorted(self.bases),
            "spent": self.spent,
            "reserved": self.reserved,
            "limit": self.limit,
            "left": self.left,
            "over_budget": self.over_budget,
        }


@dataclass
class Plan:
    manifest: Manifest
    jobs: int
    totals: dict[str, ProviderTotal]
    listed: list[tuple[Job, Action, str]]  # the first LIST_LIMIT + 1 jobs, action, state
    by_axis: dict[str, dict[Any, int]]  # axis → value → job count
    max_usd: float | None
    states: dict[str, int]  # stored state → jobs (empty: no state yet)
    actions: dict[str, int]  # what a run now would do → jobs
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    state_db: str | None = None
    rows: list[dict[str, Any]] | None = None  # one per job, when asked
    warnings: list[Problem] = field(default_factory=list)  # e.g. an exclude that removes nothing
    selection: Selection | None = None  # --only / --limit: `jobs` of `selected_from`
    selected_from: int | None = None

    @property
    def total_usd(self) -> float | None:
        values = [t.usd for t in self.totals.values()]
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    @property
    def usd_left(self) -> float | None:
        if self.max_usd is None:
            return None
        return round(self.max_usd - self.spent_usd - self.reserved_usd, 6)

    @property
    def over_budget(self) -> bool:
        total, left = self.total_usd, self.usd_left
        over_usd = left is not None and total is not None and round(total, 6) > left
        return over_usd or any(t.over_budget for t in self.totals.values())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "manifest": self.manifest.name,
            "jobs": self.jobs,
            "state_db": self.state_db,
            "states": self.states,
            "actions": self.actions,
            "providers": {n: t.to_json() for n, t in self.totals.items()},
            "estimated_credits": {n: round(t.credits, 6) for n, t in self.totals.items()},
            "estimated_usd": {n: _r(t.usd) for n, t in self.totals.items()},
            "estimated_usd_total": _r(self.total_usd),
            "credit_units": {n: t.unit for n, t in self.totals.items()},
            "price_basis": {n: sorted(t.bases) for n, t in self.totals.items()},
            "jobs_per_provider": {n: t.jobs for n, t in self.totals.items()},
            "max_credits": {n: t.limit for n, t in self.totals.items() if t.limit is not None},
            "max_usd": self.max_usd,
            "usd": {
                "spent": self.spent_usd,
                "reserved": self.reserved_usd,
                "limit": self.max_usd,
                "left": self.usd_left,
            },
            "over_budget": self.over_budget,
            "over_budget_providers": [n for n, t in self.totals.items() if t.over_budget],
        }
        if self.selection is not None:
            data["selection"] = self.selection.to_json() | {"of": self.selected_from}
        if self.rows is not None:
            data["rows"] = self.rows
        return data


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
    store: StateStore | None = None,
    output_dir: Path | None = None,
    retry_failed: bool = False,
    resubmit_ambiguous: bool = False,
    with_rows: bool = False,
    selection: Selection | None = None,
) -> Plan:
    """Expand and price every job a run would submit now; ManifestError if any is invalid.

    With `output_dir`, every output path is also checked against that directory (and the
    files found there tell which done jobs still have their output).

    `selection`: only the jobs it keeps (InputError if a filter matches none).
    """
    limits = credit_limits(manifest, max_credits)
    totals: dict[str, ProviderTotal] = {}
    listed: list[tuple[Job, Action, str]] = []
    by_axis: dict[str, dict[Any, int]] = {}
    states: Counter[str] = Counter()
    done: Counter[str] = Counter()
    rows: list[dict[str, Any]] | None = [] if with_rows else None
    stored = {r.key: r for r in store.jobs(manifest.name)} if store is not None else {}
    expander = Expander(manifest, output_dir=output_dir)
    scan = Scan(selection) if selection else None
    count = 0
    for job, row, action in actions(
        scan.filter(expander.jobs()) if scan else expander.jobs(),
        stored.get,
        output_dir=output_dir or Path(manifest.output_dir),
        retry_failed=retry_failed,
        resubmit_ambiguous=resubmit_ambiguous,
    ):
        count += 1
        state = row.state.value if row else "new"
        states[state] += 1
        done[action.value] += 1
        total = totals.get(job.provider)
        if total is None:
            adapter = providers.get(job.provider)
            total = totals[job.provider] = ProviderTotal(
                job.provider, adapter.credit_unit, limit=limits.get(job.provider)
            )
        total.add(job, action)
        if len(listed) <= LIST_LIMIT:
            listed.append((job, action, state))
        if rows is not None:
            rows.append(_row(job, action, state))
        for axis, value in job.coords.items():
            counts = by_axis.setdefault(axis, {})
            counts[value] = counts.get(value, 0) + 1
    expander.raise_problems()
    if scan is not None:
        scan.check()
    for name, limit in limits.items():
        totals.setdefault(name, ProviderTotal(name, providers.get(name).credit_unit, limit=limit))
    usage: dict[str, Usage] = store.usage(manifest.name) if store is not None else {}
    for name, total in totals.items():
        if name in usage:
            total.spent = round(usage[name].spent_credits, 6)
            total.reserved = round(usage[name].reserved_credits, 6)
    usd_limit = max_usd if max_usd is not None else manifest.limits.max_usd
    return Plan(
        manifest,
        count,
        totals,
        listed,
        by_axis,
        usd_limit,
        states=dict(states) if store is not None else {},
        actions=dict(done),
        spent_usd=round(sum(u.spent_usd for u in usage.values()), 6),
        reserved_usd=round(sum(u.reserved_usd for u in usage.values()), 6),
        state_db=getattr(store, "path", None),
        rows=rows,
        warnings=expander.warnings,
        selection=selection if scan else None,
        selected_from=scan.seen if scan else None,
    )


def _row(job: Job, action: Action, state: str) -> dict[str, Any]:
    return {
        "key": job.key,
        "coords": dict(job.coords),
        "provider": job.provider,
        "state": state,
        "action": action.value,
        "estimated": job.credits if action.pays else 0.0,
        "estimated_usd": job.usd if action.pays else 0.0,
        "price_basis": job.price_basis,
        "output": job.output,
    }


def format_plan(plan: Plan) -> str:
    """The plan as text: jobs (or a summary), totals per provider, the budget verdict."""
    lines = [f"{plan.manifest.name}: {plan.jobs} job{'s' if plan.jobs != 1 else ''}"]
    if plan.selection is not None:
        lines[0] += f" of {plan.selected_from} ({plan.selection.describe()})"
    if plan.state_db is not None:
        known = ", ".join(f"{n} {s}" for s, n in sorted(plan.states.items(), key=_by_state))
        lines.append(f"state ({plan.state_db}): {known}")
    doing = ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in sorted(plan.actions.items()))
    lines += [f"a run now: {doing}", ""]
    if plan.jobs <= LIST_LIMIT:
        rows = [["#", "job", "provider", "state", "action", "estimated", "usd", "output"]]
        for job, action, state in plan.listed:
            coords = " ".join(f"{k}={v}" for k, v in job.coords.items() if k != "provider")
            pays = action.pays
            rows.append(
                [
                    str(job.index + 1),
                    coords,
                    job.provider,
                    state,
                    action.value.replace("_", " "),
                    amount(job.credits if pays else 0)
                    + (BASIS_MARK[job.price_basis] if pays else ""),
                    usd(job.usd if pays else 0.0),
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
    rows = [["provider", "jobs", "to submit", "estimated", "unit", "usd", "spent", "reserved",
             "budget", "left", ""]]  # fmt: skip
    for t in plan.totals.values():
        mark = "".join(sorted(BASIS_MARK[b] for b in t.bases))
        verdict = "OVER BUDGET" if t.over_budget else ("ok" if t.limit is not None else "")
        rows.append(
            [
                t.name,
                str(t.jobs),
                str(t.to_submit),
                amount(t.credits) + mark,
                t.unit,
                usd(t.usd),
                amount(t.spent),
                amount(t.reserved),
                amount(t.limit),
                amount(t.left),
                verdict,
            ]
        )
    total = plan.total_usd
    if len(plan.totals) > 1 or plan.max_usd is not None:
        over = plan.max_usd is not None and total is not None and total > (plan.usd_left or 0)
        rows.append(
            [
                "total",
                str(plan.jobs),
                str(sum(t.to_submit for t in plan.totals.values())),
                "",
                "",
                usd(total),
                usd(plan.spent_usd),
                usd(plan.reserved_usd),
                usd(plan.max_usd) if plan.max_usd is not None else "-",
                usd(plan.usd_left) if plan.max_usd is not None else "-",
                "OVER BUDGET" if over else ("ok" if plan.max_usd is not None else ""),
            ]
        )
    lines += _table(rows)
    if total is None:
        missing = ", ".join(n for n, t in plan.totals.items() if t.usd is None)
        lines.append(f"? no price in USD for {missing}: declare prices.<provider>.usd_per_credit")
    bases = set().union(*(t.bases for t in plan.totals.values())) if plan.totals else set()
    if "declared" in bases:
        lines.append("* rests on a price declared in the manifest's `prices:`")
    if "guessed" in bases:
        lines.append(
            "~ rests on a guessed price (the provider publishes none): declare one under `prices:`"
        )
    lines.append("")
    has_budget = any(t.limit is not None for t in plan.totals.values()) or plan.max_usd is not None
    lines.append(
        "over budget: what a run would submit now costs more than is left of the budget"
        if plan.over_budget
        else "within budget"
        if has_budget
        else "no budget set (limits.max_credits)"
    )
    return "\n".join(lines)


_STATE_ORDER = ["new", *(s.value for s in JobState)]


def _by_state(item: tuple[str, int]) -> int:
    return _STATE_ORDER.index(item[0])


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths).rstrip())
    return out
