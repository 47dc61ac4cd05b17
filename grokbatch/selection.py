"""Which of a manifest's jobs a command works on: `--only AXIS=VALUE`, `--only key=PREFIX`,
`--limit N`.

A selection narrows a run, a plan or a dry run to some jobs, to try one clip before paying
for all of them; the state and the budget stay the manifest's, shared with the full run.
Values are compared as text, as `plan` and `status` print coordinates (`duration=6`,
`take=2`). Several values of one axis are alternatives; filters on different axes must all
hold. `--limit N` keeps the first N matching jobs in the manifest's order (the order
`plan` lists them in), whatever their state.

Every filter must match some job: an axis no job has, a value no job has, or a key prefix
no key starts with is an input error naming what exists, so a typo never selects nothing
(or, worse, everything) without a word.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .jobs import Job, canonical_json

if TYPE_CHECKING:
    from .workspace import JobSet

KEY = "key"  # --only key=PREFIX: the job key starts with PREFIX
_HEX = frozenset("0123456789abcdef")
_SUGGESTIONS = 1000  # values remembered per filtered axis, to suggest from


def coord_text(value: Any) -> str:
    """A coordinate as the user reads it (and types it after --only)."""
    return value if isinstance(value, str) else canonical_json(value)


@dataclass(frozen=True)
class Selection:
    """The user's filters; an empty selection keeps every job."""

    only: Mapping[str, tuple[str, ...]]  # axis → accepted values; KEY → key prefixes
    limit: int | None = None

    @classmethod
    def parse(cls, only: Iterable[str] = (), limit: int | None = None) -> Selection:
        """From `--only AXIS=VALUE` strings (repeatable) and `--limit N`; InputError if bad."""
        accepted: dict[str, list[str]] = {}
        for item in (only,) if isinstance(only, str) else only:
            axis, sep, value = item.partition("=")
            axis = axis.strip()
            if not sep or not axis or value == "":
                raise InputError(
                    f"--only {item!r}: expected AXIS=VALUE, e.g. --only style=noir, "
                    "or --only key=PREFIX for jobs whose key starts with PREFIX"
                )
            if axis == KEY:
                value = value.strip().lower()
                if not set(value) <= _HEX:
                    raise InputError(
                        f"--only key={value}: a job key is hexadecimal (0-9, a-f); copy its "
                        "start from `grokbatch plan --json --jobs` or `grokbatch status --all`"
                    )
            values = accepted.setdefault(axis, [])
            if value not in values:
                values.append(value)
        if limit is not None and limit < 1:
            raise InputError(f"--limit {limit}: must be at least 1")
        return cls({a: tuple(v) for a, v in accepted.items()}, limit)

    def __bool__(self) -> bool:
        return bool(self.only) or self.limit is not None

    def matches(self, job: Job) -> bool:
        """The job passes every filter (ignoring the limit)."""
        for axis, values in self.only.items():
            if axis == KEY:
                if not job.key.startswith(values):
                    return False
            elif axis not in job.coords or coord_text(job.coords[axis]) not in values:
                return False
        return True

    def pick(self, jobs: Iterable[Job]) -> Iterator[Job]:
        """The jobs that pass, the first `limit` of them; reads `jobs` to the end."""
        kept = 0
        for job in jobs:
            if (self.limit is None or kept < self.limit) and self.matches(job):
                kept += 1
                yield job

    def describe(self) -> str:
        """As typed: `--only prompt=hero --only style=noir --limit 1`."""
        parts = [f"--only {a}={v}" for a, values in self.only.items() for v in values]
        if self.limit is not None:
            parts.append(f"--limit {self.limit}")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"only": {a: list(v) for a, v in self.only.items()}, "limit": self.limit}


class Scan:
    """One pass of a selection over a manifest's jobs that remembers what it saw, so that a
    filter matching nothing can say what exists (`check`)."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self.seen = 0  # jobs of the manifest
        self.kept = 0  # jobs selected
        self._axes: dict[str, None] = {}
        self._values: dict[str, dict[str, None]] = {a: {} for a in selection.only if a != KEY}
        self._hits: set[tuple[str, str]] = set()

    def filter(self, jobs: Iterable[Job]) -> Iterator[Job]:
        """The selected jobs; reads `jobs` to the end, noting every one."""
        for job in self.selection.pick(self._noting(jobs)):
            self.kept += 1
            yield job

    def _noting(self, jobs: Iterable[Job]) -> Iterator[Job]:
        only = self.selection.only
        for job in jobs:
            self.seen += 1
            for axis in job.coords:
                if axis not in self._axes:
                    self._axes[axis] = None
            for axis, values in only.items():
                if axis == KEY:
                    self._hits.update((KEY, p) for p in values if job.key.startswith(p))
                elif axis in job.coords:
                    text = coord_text(job.coords[axis])
                    if text in values:
                        self._hits.add((axis, text))
                    known = self._values[axis]
                    if len(known) < _SUGGESTIONS:
                        known[text] = None
            yield job

    def check(self) -> None:
        """InputError naming every filter that matches no job, with what exists instead."""
        problems = []
        axes = list(self._axes)
        for axis, values in self.selection.only.items():
            if axis != KEY and axis not in self._axes:
                problems.append(
                    f"--only {axis}={values[0]}: no job has the axis {axis!r}"
                    f"{_did_you_mean(axis, axes)}; the axes are {', '.join(axes) or 'none'}, "
                    "and key=PREFIX selects by job key"
                )
                continue
            for value in values:
                if (axis, value) in self._hits:
                    continue
                if axis == KEY:
                    problems.append(f"--only key={value}: no job's key starts with {value}")
                    continue
                known = list(self._values[axis])
                shown = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
                problems.append(
                    f"--only {axis}={value}: no job has {axis}={value}"
                    f"{_did_you_mean(value, known)}; {axis} has {shown}"
                )
        if not problems and self.kept == 0:
            problems.append(
                f"{self.selection.describe()}: each value exists, but no job has them all together"
            )
        if problems:
            raise InputError("\n".join(problems))


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


class SelectedJobs:
    """The jobs of a manifest a selection keeps; iterating twice yields the same jobs.

    Made with one checking pass, so a filter that matches nothing stops the run (exit 2)
    before anything is recorded or sent.
    """

    def __init__(self, jobs: JobSet, selection: Selection) -> None:
        scan = Scan(selection)
        for _ in scan.filter(jobs):
            pass
        scan.check()
        self.jobs = jobs
        self.selection = selection
        self.count = scan.kept
        self.usd_missing = jobs.usd_missing

    def __iter__(self) -> Iterator[Job]:
        return self.selection.pick(self.jobs)

    def __len__(self) -> int:
        return self.count
