"""Prompts × matrix → jobs, streamed; every problem collected once per cause, located.

The grid follows GitHub Actions' matrix rules (see `matrix`), with the prompts as the
outermost loop. It is walked lazily, one job at a time, so a 1,000,000-job grid never sits
in memory: only 64-bit fingerprints of keys and output paths are kept, to find two jobs
that would send the same request or write the same file. Rendering, provider checks and
prices are memoised on exactly the values they depend on. What can be checked once is
checked before the walk (`preflight`); what only a job shows is checked on the job,
including everything the provider and the filesystem would refuse after payment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import clashes, preflight, providers, schema
from .errors import ManifestError, Problem
from .jobs import PARAM_NAMES, Job, canonical_json, job_key_fast
from .locate import JobProblems
from .manifest import Manifest, ProviderRef
from .matrix import Combo, Grid
from .outpaths import OutputTree, normalize, path_problem
from .problemlog import ProblemLog
from .prompts import PromptSpec
from .providers.base import Provider
from .rules import Rules
from .templates import Template, TemplateProblem, compile_template, looks_like_template
from .yamlsource import PathKey


class Expander:
    """Expands one manifest; iterate `jobs()`, then read `problems` and `warnings`.

    With `output_dir`, every output path is also checked against that directory on disk.
    """

    def __init__(self, manifest: Manifest, *, output_dir: Path | None = None) -> None:
        self.manifest = manifest
        self.source = manifest.source
        self.log = ProblemLog()
        for problem in manifest.problems:
            self.log.add(problem)
        m = manifest.matrix
        self.grid = Grid([(a.name, a.values) for a in m.axes], m.include, m.exclude)
        self._coord_values = [[_coord(a.name, v) for v in a.values] for a in m.axes]
        self.checked = preflight.run(manifest, self.grid)
        for problem in self.checked.problems:
            self.log.add(problem)
        self._templates = self.checked.templates
        self._output = self._templates.get(manifest.output_path)
        self.rules = Rules(manifest.prices)
        self._context_for: PromptSpec | None = None
        self._context: dict[str, Any] = {}
        self._templated_params = self._has_templated_params()
        self.tree = OutputTree(output_dir)
        self.at = JobProblems(manifest, self.grid, self.log)
        self._prompts_read = 0

    # --- results --------------------------------------------------------------------------

    @property
    def problems(self) -> list[Problem]:
        return self.log.problems

    @property
    def warnings(self) -> list[Problem]:
        return self.log.warnings

    def raise_problems(self) -> None:
        if self.log:
            raise ManifestError(self.problems)

    # --- the walk ---------------------------------------------------------------------------

    def jobs(self, *, explain_clashes: bool = True) -> Iterator[Job]:
        """Every valid job, in a stable order; invalid ones are recorded as problems."""
        if self.checked.stop:
            return
        keys: set[int] = set()
        found: list[clashes.Clash] = []
        index = 0
        for prompt, combo in self._walk():
            job = self._job(prompt, combo, index)
            if job is None:
                continue
            k = hash(job.key)  # Python's 64-bit string hash: stable within the process
            p = hash(job.output)
            if k in keys or p in self.tree.files:
                if len(found) < 10_000:
                    kind, value = ("key", job.key) if k in keys else ("path", job.output)
                    found.append(clashes.Clash(kind, value, job))
                continue
            keys.add(k)
            self.tree.add(job.output, p)
            index += 1
            yield job
        if index == 0 and not self.log:
            self._nothing_to_do()
        self._finish(found, explain_clashes)

    def _walk(self) -> Iterator[tuple[PromptSpec, Combo]]:
        grid = self.grid
        pending: list[tuple[int, int, PromptSpec]] = []
        applied = [False] * len(grid.includes)
        self._prompts_read = 0
        for n, prompt in enumerate(self.manifest.iter_prompts(self.at.row_problem)):
            self._prompts_read += 1
            unmatched: list[int] = []
            yield from ((prompt, combo) for combo in grid.combos(prompt.id, unmatched))
            pending.extend((j, n, prompt) for j in unmatched)
            for j, entry in enumerate(grid.includes):
                applied[j] = applied[j] or entry.applies_to(prompt.id)
        # Includes that matched nothing come last, each as a combination of its own.
        for j, _, prompt in sorted(pending, key=lambda t: (t[0], t[1])):
            yield prompt, grid.standalone(j)
        for j, hit in enumerate(applied):
            if not hit:
                wanted = grid.includes[j].prompt
                self.log.add(
                    self.source.problem(
                        ("matrix", "include", j, "prompt"),
                        f"no prompt has id {wanted!r}",
                        hint="use the id of one of `prompts`",
                    )
                )

    def _finish(self, found: list[clashes.Clash], explain: bool) -> None:
        m = self.manifest
        self.tree.finish()
        for where, message, fix in self.tree.problems:
            self.log.add(self.source.problem(tuple(where.split(".")), message, hint=fix))
        if found and explain:
            first = Expander(self.manifest).jobs(explain_clashes=False)
            for problem in clashes.explain(
                found, first, self.source, self.checked.unused_axes, m.matrix.repeats
            ):
                self.log.add(problem)
        for entry, removed in zip(self.grid.excludes, self.grid.excluded, strict=True):
            if not removed:
                self.log.warn(
                    self.source.problem(
                        ("matrix", "exclude", entry.index),
                        "this exclude entry removes no combination (no job matches all of it)",
                        hint="check its values against the axes; comparisons ignore case, and "
                        '"10" matches 10',
                    )
                )

    def _nothing_to_do(self) -> None:
        where, message, fix = (
            (("prompts", "file"), "the prompts file has no rows", "add rows under its header")
            if self._prompts_read == 0
            else (("matrix", "exclude"), "every combination is excluded", "narrow the entries")
        )
        self.log.add(self.source.problem(where, f"{message}: the manifest makes no jobs", hint=fix))

    # --- one job ------------------------------------------------------------------------------

    def _job(self, prompt: PromptSpec, combo: Combo, index: int) -> Job | None:
        m = self.manifest
        grid = self.grid
        raw: dict[str, Any]
        if combo.indexes is not None:
            raw = {}
            coords: dict[str, Any] = {"prompt": prompt.id}
            for p, (n, i) in enumerate(zip(grid.names, combo.indexes, strict=True)):
                raw[n] = grid.values[p][i]
                coords[n] = self._coord_values[p][i]
        else:
            raw, coords = {}, {"prompt": prompt.id}
        if combo.extra_from and not self.manifest.matrix.bad_includes.isdisjoint(
            combo.extra_from.values()
        ):
            return None  # an include entry's problem was reported when it was loaded
        if combo.indexes is None and not self._standalone_ok(combo, prompt):
            return None
        for name, value in combo.extra.items():
            raw[name] = value
            coords[name] = _coord(name, value)
        context: dict[str, Any] = self._base_context(prompt)
        params: dict[str, Any] = dict(m.defaults)
        if prompt.params:
            params.update(prompt.params)
        for name, value in raw.items():
            if name in PARAM_NAMES:
                params[name] = value
            if name != "provider" and name != "extra":
                context[name] = value
        ref = ProviderRef.parse(raw["provider"]) if "provider" in raw else m.provider
        if ref is None:  # only a standalone include can lack one; load() checked the rest
            j = next(iter(combo.extra_from.values()), 0)
            self.at.add(
                ("matrix", "include", j),
                "this combination has no provider",
                "add `provider:` at the top level, or to this include entry",
                coords,
                prompt,
            )
            return None
        if ref.name not in providers.NAMES:
            return None  # an include's unknown provider: loading reported it
        adapter = providers.get(ref.name)
        if ref.model and adapter.models and ref.model not in adapter.models:
            return None  # an unknown sub-model: loading reported it
        context["provider"] = ref.name
        context["prompt"] = {"id": prompt.id}
        seed = canonical_json(coords) if self.checked.seeded else ""
        if self._templated_params:
            try:
                params = self._render_params(params, context, seed)
            except TemplateProblem as exc:
                self.at.add(
                    self.at.source_of(combo, prompt, "image"), str(exc), exc.hint, coords, prompt
                )
                return None
        resolved = adapter.resolve(params)
        for name, value in resolved.items():
            if name not in context:
                context[name] = value
        text = self._render(prompt, context, coords, seed)
        model = adapter.pick_model(resolved, ref.model)
        params_json = self.rules.params_json(resolved)
        # Keep checking a job whose prompt failed, so one pass reports all its problems.
        bad = self._violations(adapter, model, resolved, params_json, text, (combo, prompt, coords))
        if text is None or bad:
            return None
        take = raw.get("take")
        if take is not None and (not isinstance(take, int) or isinstance(take, bool) or take < 1):
            self.at.add(
                self.at.source_of(combo, prompt, "take"),
                f"take {take!r} is not a whole number from 1",
                "use take: 1, 2, 3, …",
                coords,
                prompt,
            )
            return None
        key = job_key_fast(
            provider=ref.name, model=model, params_json=params_json, prompt=text, take=take
        )
        context["prompt"] = {"id": prompt.id, "text": text}
        context["key"] = key
        context["index"] = index
        context["ext"] = "png" if resolved.get("type") == "image" else "mp4"
        output = self._render_output(context, coords, prompt, seed)
        if output is None:
            return None
        price = self.rules.price(adapter, params_json, resolved)
        return Job(
            key=key,
            index=index,
            provider=ref.name,
            model=model,
            prompt=text,
            prompt_id=prompt.id,
            params=resolved,
            coords=coords,
            output=output,
            credits=price.credits,
            usd=price.usd,
            price_basis=price.basis,
            base_url=ref.base_url,
        )

    def _standalone_ok(self, combo: Combo, prompt: PromptSpec) -> bool:
        """An include entry that became a job: its axis values are now parameters."""
        ok = True
        for path, message, hint in schema.entry_errors(combo.extra):
            j = combo.extra_from.get(str(path[0]) if path else "", 0)
            self.log.add(self.source.problem(("matrix", "include", j, *path), message, hint=hint))
            ok = False
        return ok

    def _base_context(self, prompt: PromptSpec) -> dict[str, Any]:
        """vars + the prompt's own vars: computed once per prompt, copied per job."""
        if self._context_for is not prompt:
            self._context_for = prompt
            self._context = {**self.manifest.vars, **prompt.vars}
        return dict(self._context)

    def _has_templated_params(self) -> bool:
        m = self.manifest
        sources: list[Any] = [m.defaults, *(a.values for a in m.matrix.axes), m.matrix.include]
        if isinstance(m.prompts, tuple):
            sources.extend(p.params for p in m.prompts)
        else:
            return True  # rows are read lazily; the check per job is cheap enough
        text = json.dumps(sources, default=str)
        return "{{" in text or "{%" in text

    def _render_params(
        self, params: dict[str, Any], context: Mapping[str, Any], seed: str
    ) -> dict[str, Any]:
        out = dict(params)
        for name in ("image", "reference_images"):
            value = out.get(name)
            if isinstance(value, str) and looks_like_template(value):
                out[name] = self._template(value).render(context, seed=seed)
            elif isinstance(value, list) and any(
                isinstance(v, str) and looks_like_template(v) for v in value
            ):
                out[name] = [
                    self._template(v).render(context, seed=seed) if isinstance(v, str) else v
                    for v in value
                ]
        return out

    def _render(
        self, prompt: PromptSpec, context: Mapping[str, Any], coords: dict[str, Any], seed: str
    ) -> str | None:
        tpl = self._templates.get(prompt.template)
        if tpl is None or prompt.template in self.checked.broken:
            self._count(prompt.template, coords, prompt)
            return None
        try:
            return tpl.render(context, seed=seed)
        except TemplateProblem as exc:
            self.at.add(prompt.where, str(exc), exc.hint, coords, prompt)
            return None

    def _render_output(
        self, context: Mapping[str, Any], coords: dict[str, Any], prompt: PromptSpec, seed: str
    ) -> str | None:
        if self._output is None or self._output.text in self.checked.broken:
            self._count(self.manifest.output_path, coords, prompt)
            return None
        where: PathKey = ("output", "path")
        try:
            path = self._output.render(context, seed=seed).strip()
        except TemplateProblem as exc:
            self.at.add(where, str(exc), exc.hint, coords, prompt)
            return None
        wrong = path_problem(path)
        if wrong is not None:
            self.at.add(where, wrong[0], wrong[1], coords, prompt)
            return None
        normal, wrong = normalize(path)
        if wrong is not None:
            self.at.add(where, wrong[0], wrong[1], coords, prompt)
            return None
        return normal

    # --- checks and prices, memoised ------------------------------------------------------

    def _violations(
        self,
        adapter: Provider,
        model: str | None,
        params: Mapping[str, Any],
        params_json: str,
        text: str | None,
        at: tuple[Combo, PromptSpec, dict[str, Any]],
    ) -> bool:
        combo, prompt, coords = at
        found = self.rules.violations(adapter, model, params, params_json, text)
        for v in found:
            message = v.message
            if not message.startswith(adapter.title):
                message = f"{adapter.title} {message}"
            place = (
                prompt.where if v.field == "prompt" else self.at.source_of(combo, prompt, v.field)
            )
            self.at.add(place, message, v.hint, coords, prompt)
        return bool(found)

    def _template(self, text: str) -> Template:
        tpl = self._templates.get(text)
        if tpl is None:
            tpl = self._templates[text] = compile_template(text)
        return tpl

    def _count(self, template: str, coords: Mapping[str, Any], prompt: PromptSpec) -> None:
        """Count a job against the problem preflight found in its template (if it names one)."""
        static = self.checked.broken.get(template)
        if static is not None:
            self.at.add(static, static.message, static.hint, coords, prompt)


def _coord(name: str, value: Any) -> Any:
    if name == "provider":
        ref = ProviderRef.parse(value)
        return ref.coord if ref else value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def expand(manifest: Manifest) -> list[Job]:
    """All jobs of a manifest, or ManifestError with every problem (small manifests only)."""
    expander = Expander(manifest)
    jobs = list(expander.jobs())
    expander.raise_problems()
    return jobs
