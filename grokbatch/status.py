"""Where every job of a manifest stands: the stored state, against the current manifest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .formatting import amount
from .lookup import remedy_for
from .reconcile import Remedy
from .state.base import JobRow, JobState, StateStore, Usage

SHOW_LIMIT = 40


@dataclass
class Status:
    manifest: str
    total: int  # jobs in the current manifest
    counts: Counter[str] = field(default_factory=Counter)  # state → jobs of the manifest
    not_started: int = 0
    stale: int = 0  # stored jobs whose key the manifest no longer produces
    usage: dict[str, Usage] = field(default_factory=dict)
    rows: list[JobRow] = field(default_factory=list)  # current jobs, up to SHOW_LIMIT
    attention: list[JobRow] = field(default_factory=list)  # failed and ambiguous jobs
    show: int | None = SHOW_LIMIT  # rows listed; None: every job
    units: dict[str, str] = field(default_factory=dict)
    # Per ambiguous job listed: why its last lookup could not settle it, and the way out.
    ways: dict[str, tuple[str | None, Remedy]] = field(default_factory=dict)
    runners: list[str] = field(default_factory=list)  # runners of this manifest alive now

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "jobs": self.total,
            "states": dict(self.counts) | {"not_started": self.not_started},
            "stale_jobs": self.stale,
            "runners": self.runners,
            "credits": {
                n: {
                    "spent": round(u.spent_credits, 6),
                    "reserved": round(u.reserved_credits, 6),
                    "unit": self.units.get(n, "credits"),
                }
                for n, u in self.usage.items()
            },
            **({"rows": [_row_json(r) for r in self.rows]} if self.show is None else {}),
            "attention": [
                {
                    "key": r.key,
                    "coords": r.coords,
                    "state": r.state.value,
                    "error_kind": r.error_kind,
                    "error": r.error,
                    **({"way_out": _way_json(*self.ways[r.key])} if r.key in self.ways else {}),
                }
                for r in self.attention
            ],
        }


def job_status(
    store: StateStore,
    manifest: str,
    keys: Iterable[str],
    *,
    show: int | None = SHOW_LIMIT,
    units: Mapping[str, str] | None = None,
    manifest_path: str = "MANIFEST",
) -> Status:
    """Compare the store with the manifest's current job keys; keep `show` rows (None: all)."""
    current = set(keys)
    status = Status(manifest, total=len(current), show=show, units=dict(units or {}))
    seen = 0
    for row in store.jobs(manifest):
        if row.key not in current:
            status.stale += 1
            continue
        seen += 1
        status.counts[row.state.value] += 1
        if show is None or len(status.rows) < show:
            status.rows.append(row)
        if row.state in (JobState.FAILED, JobState.AMBIGUOUS) and len(status.attention) < 200:
            status.attention.append(row)
            if row.state is JobState.AMBIGUOUS:
                status.ways[row.key] = remedy_for(store, row, manifest_path)
    status.not_started = status.total - seen
    status.usage = store.usage(manifest)
    status.runners = [r.id for r in store.runners(live=True) if r.manifest == manifest]
    return status


def format_status(status: Status) -> str:
    lines = [f"{status.manifest}: {status.total} jobs"]
    parts = [f"{status.counts[s.value]} {s.value}" for s in JobState if status.counts[s.value]]
    if status.not_started:
        parts.append(f"{status.not_started} not started")
    lines.append("  " + (", ".join(parts) or "nothing recorded yet"))
    if status.stale:
        lines.append(
            f"  {status.stale} stored jobs belong to an earlier version of the "
            "manifest (kept on record, never touched)"
        )
    if status.runners:
        lines.append(f"  running now: {', '.join(status.runners)}")
    for name, usage in status.usage.items():
        unit = status.units.get(name, "credits")
        lines.append(
            f"  {name}: {amount(usage.spent_credits)} spent + "
            f"{amount(usage.reserved_credits)} reserved {unit}"
        )
    if status.rows and (status.show is None or status.total <= status.show):
        lines.append("")
        for row in status.rows:
            coords = " ".join(f"{k}={v}" for k, v in row.coords.items())
            extra = row.output_path if row.state is JobState.DONE else (row.error or "")
            if row.state in (JobState.RUNNING, JobState.READY) and row.remote_status:
                extra = f"{row.remote_status} at {row.provider} (id {row.remote_id})"
            if row.owner is not None:
                held = "held by" if row.owner in status.runners else "left by stopped runner"
                extra = f"{extra}  [{held} {row.owner}]".lstrip()
            lines.append(f"  {row.state.value:<10} {coords}  {extra}".rstrip())
    elif status.rows:
        lines.append(f"  (--all lists every job; {status.total} here)")
    if status.attention:
        lines.append("")
        lines.append("needs attention:")
        for row in status.attention:
            coords = " ".join(f"{k}={v}" for k, v in row.coords.items())
            lines.append(f"  {row.state.value:<10} {coords}: {row.error_kind}: {row.error}")
            if row.key in status.ways:
                last, way = status.ways[row.key]
                if last:
                    lines.append(f"{'':13}last lookup: {last}")
                lines.append(f"{'':13}{way.text}" + "".join(f"\n{'':15}{c}" for c in way.commands))
        if any(r.state is JobState.AMBIGUOUS for r in status.attention):
            lines.append(
                "ambiguous jobs may have been paid for; --resubmit-ambiguous sends every one "
                "again, whatever it made (it may pay twice)"
            )
    return "\n".join(lines)


def _way_json(last: str | None, way: Remedy) -> dict[str, Any]:
    return {
        "automatic": way.automatic,
        "text": way.text,
        "commands": list(way.commands),
        "last_lookup": last,
    }


def _row_json(row: JobRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "coords": row.coords,
        "provider": row.provider,
        "state": row.state.value,
        "remote_id": row.remote_id,
        "remote_status": row.remote_status,
        "owner": row.owner,
        "output_path": row.output_path,
        "error": row.error,
    }
