"""Two jobs that would send the same request or write the same file: one problem per cause.

The walk keeps only fingerprints, so a clash is explained after it, by a second walk that
finds the first job of each clashing key or path. Clashes are then grouped by what the two
jobs differ in: 36 jobs that differ from another only in `take`, which output.path does
not use, are one problem ("36 jobs ... add {{ take }} to output.path"), not 36.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Problem
from .jobs import Job
from .yamlsource import PathKey, Source


@dataclass(frozen=True)
class Clash:
    kind: str  # "key": the same request; "path": the same file
    value: str  # the key or the path
    second: Job


def explain(
    clashes: list[Clash],
    first_jobs: Iterator[Job],
    source: Source,
    skip: set[str],
    repeats_reported: bool = False,
) -> list[Problem]:
    """One problem per (kind, axes the jobs differ in).

    `skip`: axes already reported as changing nothing; `repeats_reported`: a value listed
    twice in an axis was reported (its two jobs are the same grid point).
    """
    wanted = {c.value for c in clashes}
    first: dict[str, Job] = {}
    for job in first_jobs:
        for value in (job.key, job.output):
            if value in wanted and value not in first:
                first[value] = job
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[Job | None, Job]]] = {}
    for clash in clashes:
        earlier = first.get(clash.value)
        differ = _differences(earlier.coords if earlier else {}, clash.second.coords)
        if clash.kind == "key" and differ and set(differ) <= skip:
            continue  # the unused axis was reported already: the same cause
        if not differ and repeats_reported:
            continue  # the repeated axis value was reported already
        groups.setdefault((clash.kind, differ), []).append((earlier, clash.second))
    return [_problem(kind, differ, pairs, source) for (kind, differ), pairs in groups.items()]


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(k for k in {**a, **b} if a.get(k) != b.get(k))


def _problem(
    kind: str, differ: tuple[str, ...], pairs: list[tuple[Job | None, Job]], source: Source
) -> Problem:
    earlier, second = pairs[0]
    shown = f"[{earlier.describe() if earlier else '?'}] and [{second.describe()}]"
    axes = _names(differ)
    only = f"they differ only in {axes}, " if differ else ""
    count = len(pairs)
    jobs = f"{count} job{'s' if count > 1 else ''}"
    verb, writes = ("send", "write") if count > 1 else ("sends", "writes")
    if not differ:
        return source.problem(
            ("matrix",) if "matrix" in source.data else ("prompts",),
            f"{jobs} repeat{'' if count > 1 else 's'} another job exactly (the same grid point "
            f"twice): e.g. {shown}",
            hint="remove the repeated include entry or axis value",
        )
    if kind == "key":
        where: PathKey = ("matrix", differ[0]) if len(differ) == 1 else ("matrix",)
        if "prompt" in differ or "matrix" not in source.data:
            where = ("prompts",)
        return source.problem(
            where,
            f"{jobs} {verb} the same request as another job (same provider, prompt and "
            f"parameters), so the same clip would be made and paid for twice; {only}which "
            f"{'changes' if len(differ) == 1 else 'change'} nothing that is sent: e.g. {shown}",
            hint=f"read {axes} in the prompt template, or drop it; for several takes of one "
            "request, use a `take: [1, 2]` axis"
            if differ
            else "vary the prompt, or add a `take: [1, 2]` axis for several takes",
        )
    variables = " ".join(f"{{{{ {k} }}}}" for k in differ if k.isidentifier() and k != "prompt")
    if "prompt" in differ:
        variables = (variables + " {{ prompt.id }}").strip()
    return source.problem(
        ("output", "path"),
        f"{jobs} {writes} the same file as another job; {only}which output.path does not use: "
        f"e.g. {shown} both write {second.output!r}",
        hint=f"add {variables} to output.path" if variables else "use {{ key[:12] }} in it",
    )


def _names(keys: Iterable[str]) -> str:
    items = [repr(k) for k in keys]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)
