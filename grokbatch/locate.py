"""Where a job's problem is written down: the manifest path or prompt-file row of its cause.

A parameter's bad value is reported where the value was written (an axis value, an include
entry, a prompt, `defaults`, a CSV row), not where the job happens to be, and each job it
hits is counted against that one problem, with its prompt-file row when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Problem
from .manifest import Manifest
from .matrix import Combo, Grid
from .problemlog import ProblemLog
from .prompts import PromptSpec
from .yamlsource import PathKey


class JobProblems:
    """Records the problems of single jobs in a ProblemLog, each at its cause's place."""

    def __init__(self, manifest: Manifest, grid: Grid, log: ProblemLog) -> None:
        self.manifest = manifest
        self.source = manifest.source
        self.grid = grid
        self.log = log

    def source_of(self, combo: Combo, prompt: PromptSpec, name: str) -> PathKey | Problem:
        """Where parameter `name`'s value came from: a manifest path, or a prompt-file row."""
        if name in combo.extra_from:
            return ("matrix", "include", combo.extra_from[name], name)
        if name in self.grid.names and combo.indexes is not None:
            return ("matrix", name, combo.indexes[self.grid.names.index(name)])
        if name in prompt.params:
            if prompt.file:
                return Problem("", file=prompt.file, line=prompt.line, where=name)
            return (*prompt.where[:-1], name)
        if name in self.manifest.defaults:
            return ("defaults", name)
        if name == "model":
            return ("provider", "model")
        return ("provider",) if "provider" in self.source.data else ("matrix", "provider")

    def add(
        self,
        place: PathKey | Problem,
        message: str,
        hint: str | None,
        coords: Mapping[str, Any],
        prompt: PromptSpec,
    ) -> None:
        """A problem of one job: at `place`, counted per job, with its prompt-file row."""
        describe = " ".join(f"{k}={v}" for k, v in coords.items())
        if isinstance(place, Problem):
            problem = Problem(
                message, file=place.file, line=place.line, where=place.where, hint=hint,
                job=describe,
            )  # fmt: skip
        else:
            problem = self.source.problem(place, message, hint=hint, job=describe)
        row = (prompt.file, prompt.row) if prompt.file and prompt.row is not None else None
        self.log.add(problem, row=row)

    def row_problem(self, problem: Problem, row: int) -> None:
        """A problem of a prompt-file row (before it became a prompt)."""
        self.log.add(problem, row=(problem.file or "", row))
