"""Problems collected while checking a manifest: one per cause, with what it affects.

A misspelt variable in a template read by 36 CSV rows is one mistake, so it is one problem,
at the template's line, saying "36 jobs; rows 2–37 of prompts.csv" rather than 36 problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import Problem

MAX_PROBLEMS = 100


@dataclass
class _Entry:
    problem: Problem
    count: int = 1
    rows: dict[str, list[int]] = field(default_factory=dict)  # file → row numbers


class ProblemLog:
    """Problems and warnings, each recorded once per place and message."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Entry] = {}
        self._warnings: dict[tuple[Any, ...], Problem] = {}
        self._dropped = 0

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, problem: Problem, *, row: tuple[str, int] | None = None) -> None:
        """Record a problem; the same one again only counts one more job (and its row)."""
        # A problem in a prompt-file row is one cause for every row that has it.
        line = None if row is not None and problem.file == row[0] else problem.line
        memo = (problem.file, line, problem.where, problem.message)
        entry = self._entries.get(memo)
        if entry is None:
            if len(self._entries) >= MAX_PROBLEMS:
                self._dropped += 1
                return
            entry = self._entries[memo] = _Entry(problem, count=problem.count)
        else:
            entry.count += 1
            if entry.problem.job is None and problem.job is not None:
                entry.problem = replace(entry.problem, job=problem.job)
        if row is not None:
            numbers = entry.rows.setdefault(row[0], [])
            if not numbers or numbers[-1] != row[1]:
                numbers.append(row[1])

    def warn(self, problem: Problem) -> None:
        self._warnings.setdefault((problem.file, problem.line, problem.message), problem)

    @property
    def problems(self) -> list[Problem]:
        out = [
            replace(e.problem, count=e.count, rows=_rows(e.rows) or e.problem.rows)
            for e in self._entries.values()
        ]
        out.sort(key=lambda p: (p.file or "", p.line or 0))
        if self._dropped:
            out.append(Problem(f"... and {self._dropped} more problems (fix these first)"))
        return out

    @property
    def warnings(self) -> list[Problem]:
        return list(self._warnings.values())


def _rows(rows: dict[str, list[int]]) -> str | None:
    """{"p.csv": [2, 3, 4, 9]} → "rows 2–4, 9 of p.csv"."""
    parts = []
    for file, numbers in rows.items():
        spans: list[list[int]] = []
        for n in sorted(set(numbers)):
            if spans and n == spans[-1][1] + 1:
                spans[-1][1] = n
            else:
                spans.append([n, n])
        shown = [f"{a}–{b}" if b > a else str(a) for a, b in spans[:6]]
        more = ", …" if len(spans) > 6 else ""
        word = "row" if len(numbers) == 1 else "rows"
        parts.append(f"{word} {', '.join(shown)}{more} of {file}")
    return "; ".join(parts) or None
