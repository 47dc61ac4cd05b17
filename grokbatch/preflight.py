"""Checks made once, before the grid is walked: one problem per cause, at its own line.

Each template is compiled once and the names it reads are checked against everything that
could define them, so a misspelt variable is one problem at the template's line with "did
you mean", not one per job or per CSV row. An axis that no prompt template reads and that
sets no parameter is named too (its values would only make identical, paid requests). And
the grid's size is computed from the axes, so an absurd grid is refused with its size
before a single job is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import Problem
from .jobs import PARAM_NAMES
from .manifest import Manifest
from .matrix import Grid
from .prompts import PromptFile, count_rows
from .templates import ENV, Template, TemplateProblem, compile_template, looks_like_template
from .yamlsource import PathKey, Source, format_path

MAX_JOBS_CEILING = 100_000_000  # what limits.max_jobs may be raised to
OUTPUT_NAMES = ("key", "index", "ext")


@dataclass
class Preflight:
    """What the checks found: compiled templates, and whether walking the grid is pointless."""

    templates: dict[str, Template | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Templates that read a name nothing defines → the problem their jobs are counted under
    # (they are not rendered: each would only fail the same way).
    broken: dict[str, Problem] = field(default_factory=dict)
    unused_axes: set[str] = field(default_factory=set)
    seeded: bool = False  # some template draws at random: renders need the job's seed
    stop: bool = False  # the grid is too big: do not walk it


def run(manifest: Manifest, grid: Grid) -> Preflight:
    out = Preflight()
    source = manifest.source
    axes = [a.name for a in manifest.matrix.axes]
    include_keys = {k for e in manifest.matrix.include for k in e if k != "prompt"}
    shared = {*manifest.vars, *axes, *include_keys, *PARAM_NAMES, "provider", "prompt"}
    shared |= set(ENV.globals)
    read: set[str] = set()  # names the request templates read
    unknown: list[tuple[str, str, Problem]] = []  # (template, name nothing defines, problem)
    prompts = manifest.prompts
    known: set[str] | None = None  # what output.path may read (None: known row by row only)
    if isinstance(prompts, PromptFile):
        columns = prompts.columns()
        names = shared | {c for c in columns if c.isidentifier()}
        known = names if prompts.is_csv else None
        tpl = _compile(out, source, prompts.template, ("prompts", "template"))
        if tpl is not None:
            read |= set(tpl.variables)
            if prompts.is_csv:  # JSONL keys are known only row by row
                unknown += _undefined(source, tpl, ("prompts", "template"), names, columns)
        if prompts.id_template:
            _compile(out, source, prompts.id_template, ("prompts", "id"))
    else:
        for prompt in prompts:
            tpl = _compile(out, source, prompt.template, prompt.where)
            if tpl is not None:
                read |= set(tpl.variables)
                names = shared | set(prompt.vars)
                unknown += _undefined(source, tpl, prompt.where, names, ())
    if isinstance(prompts, tuple):
        known = shared | {v for p in prompts for v in p.vars}
    for text, where in _param_templates(manifest):
        tpl = _compile(out, source, text, where)
        if tpl is not None:
            read |= set(tpl.variables)
            if known is not None:
                unknown += _undefined(source, tpl, where, known, ())
    output = _compile(out, source, manifest.output_path, ("output", "path"), memoize=False)
    if output is not None and known is not None:
        unknown += _undefined(source, output, ("output", "path"), known | set(OUTPUT_NAMES), ())
    out.seeded = any(t is not None and t.seeded for t in out.templates.values())
    merged = _unused_axes(out, manifest, read, unknown)
    for text, name, problem in unknown:
        final = merged.get(name, problem)
        if final is problem:
            out.problems.append(problem)
        out.broken.setdefault(text, final)
    _grid_size(out, manifest, grid)
    return out


def _compile(
    out: Preflight, source: Source, text: str, where: PathKey, *, memoize: bool = True
) -> Template | None:
    if text in out.templates:
        return out.templates[text]
    try:
        tpl: Template | None = compile_template(text, memoize=memoize)
    except TemplateProblem as exc:
        tpl = None
        line, column = source.locate(where)
        if line is not None and exc.line and "\n" in text:
            # A block scalar (`template: |`) starts on the line after its indicator.
            line, column = line + exc.line, None
        out.problems.append(
            Problem(
                str(exc),
                file=source.file,
                line=line,
                column=column,
                where=format_path(where),
                hint=exc.hint,
            )
        )
    out.templates[text] = tpl
    return tpl


def _undefined(
    source: Source,
    tpl: Template,
    where: PathKey,
    names: set[str],
    columns: Iterable[str],
) -> list[tuple[str, str, Problem]]:
    """A problem for each name the template reads that nothing can define."""
    found = []
    missing = {n for n in tpl.variables if n not in names}
    # A column named "product name" cannot be a variable: suggest what to rename it to.
    renamed = {_identifier(c): c for c in columns if not c.isidentifier()}
    for name in sorted(missing):
        hint = "define it under `vars:`, as a matrix axis or a CSV column"
        if name in renamed:
            hint = f"rename the column {renamed[name]!r} to {name} (names cannot hold spaces)"
        else:
            close = difflib.get_close_matches(name, sorted(names | set(renamed)), n=1)
            if close:
                hint = f"did you mean {close[0]!r}? " + hint
        # count 0: the jobs it stops are counted as they are walked (see ProblemLog).
        problem = source.problem(where, f"undefined variable {name!r}", hint=hint, count=0)
        found.append((tpl.text, name, problem))
    return found


def _identifier(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name.strip())
    return out if out.isidentifier() else f"_{out}"


def _param_templates(manifest: Manifest) -> list[tuple[str, PathKey]]:
    """image / reference_images values written as templates, with where they are."""
    found: list[tuple[str, PathKey]] = []

    def visit(value: object, where: PathKey) -> None:
        if isinstance(value, str) and looks_like_template(value):
            found.append((value, where))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                visit(item, (*where, i))

    for name in ("image", "reference_images"):
        visit(manifest.defaults.get(name), ("defaults", name))
        for axis in manifest.matrix.axes:
            if axis.name == name:
                visit(list(axis.values), ("matrix", name))
        for i, entry in enumerate(manifest.matrix.include):
            visit(entry.get(name), ("matrix", "include", i, name))
        if isinstance(manifest.prompts, tuple):
            for prompt in manifest.prompts:
                visit(prompt.params.get(name), (*prompt.where[:-1], name))
    return found


def _unused_axes(
    out: Preflight, manifest: Manifest, read: set[str], unknown: list[tuple[str, str, Problem]]
) -> dict[str, Problem]:
    """Report axes that change nothing; → {undefined name: the axis problem it is part of}."""
    params = {*PARAM_NAMES, "provider", "take"}
    undefined = {name: problem for _, name, problem in unknown}
    merged: dict[str, Problem] = {}
    for axis in manifest.matrix.axes:
        if axis.name in params or axis.name in read or len(axis.values) < 2:
            continue
        out.unused_axes.add(axis.name)
        where = ("matrix", axis.name)
        typo = difflib.get_close_matches(axis.name, sorted(undefined), n=1)
        if typo:  # one mistake, seen from both ends: one problem
            reader = undefined[typo[0]].where
            problem = manifest.source.problem(
                where,
                f"axis {axis.name!r} is read by no template, and {reader} reads "
                f"{typo[0]!r}, which nothing defines",
                hint=f"rename the axis to {typo[0]!r}, or the variable to {axis.name!r}",
                count=0,
            )
            merged[typo[0]] = problem
            out.problems.append(problem)
            continue
        read_close = difflib.get_close_matches(axis.name, sorted(read), n=1)
        close = read_close or difflib.get_close_matches(axis.name, sorted(params), n=1)
        if read_close:
            hint = f"rename the axis to {read_close[0]!r}: the template reads that, not "
            hint += f"{axis.name!r}"
        else:
            hint = f"did you mean {close[0]!r}? " if close else ""
            hint += f"read it in the prompt template ({{{{ {axis.name} }}}}), or remove the "
            hint += "axis; for several takes of one request, name the axis take"
        out.problems.append(
            manifest.source.problem(
                where,
                f"axis {axis.name!r} changes nothing that is sent: no prompt template reads it "
                f"and it is not a parameter, so its {len(axis.values)} values would make "
                "identical, paid requests",
                hint=hint,
            )
        )
    return merged


def _grid_size(out: Preflight, manifest: Manifest, grid: Grid) -> None:
    cap = manifest.limits.max_jobs
    per_prompt = grid.product_size() + len(grid.includes)
    prompts = manifest.prompts
    if isinstance(prompts, PromptFile):
        count = 1 if per_prompt > cap else count_rows(prompts, cap // max(per_prompt, 1))
    else:
        count = len(prompts)
    size = count * per_prompt
    if size <= cap:
        return
    factors = [f"{count:,} prompt{'s' if count != 1 else ''}"]
    factors += [f"{len(v):,} {n}" for n, v in zip(grid.names, grid.values, strict=True)]
    shown = " × ".join(factors) + (f" (+ {len(grid.includes)} includes)" if grid.includes else "")
    at_least = "at least " if isinstance(prompts, PromptFile) and count > 1 else ""
    out.problems.append(
        manifest.source.problem(
            ("matrix",) if "matrix" in manifest.source.data else ("prompts",),
            f"the grid has {at_least}{size:,} combinations ({shown}), over the cap of {cap:,} jobs",
            hint="split it into several manifests, or raise limits.max_jobs (at most "
            f"{MAX_JOBS_CEILING:,}) if you mean it",
        )
    )
    out.stop = True
