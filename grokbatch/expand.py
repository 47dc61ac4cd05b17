"""Prompts × matrix → jobs, streamed; every problem collected, located and counted.

The product is walked lazily, one job at a time, so a 1,000,000-job grid never sits in
memory: only 64-bit fingerprints of keys and output paths are kept, to find two jobs that
would send the same request or write the same file. Rendering, provider checks and prices
are memoised on exactly the values they depend on.

Matrix semantics follow GitHub Actions: the prompts are the outermost axis; `exclude`
entries drop the combinations whose values they all match; each `include` entry adds its
keys to every combination it matches without changing an original axis value, and becomes
a combination of its own (for every prompt, or the one it names) when it matches none.
"""

from __future__ import annotations

import itertools
import json
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import providers
from .errors import ManifestError, Problem
from .jobs import PARAM_NAMES, Job, canonical_json, job_key_fast
from .manifest import Manifest, PromptSpec, ProviderRef
from .providers.base import Provider
from .providers.wire import Price, Violation
from .templates import Template, TemplateProblem, compile_template, looks_like_template
from .yamlsource import PathKey

MAX_PROBLEMS = 100


@dataclass
class _Combo:
    """One grid point before it becomes a job."""

    prompt: PromptSpec
    values: dict[str, Any]  # axis name → raw value
    indexes: dict[str, int]  # axis name → index in the axis, for locating problems
    added: dict[str, Any] = field(default_factory=dict)  # keys from include entries
    added_from: dict[str, int] = field(default_factory=dict)  # key → include index
    coords: dict[str, Any] | None = None  # precomputed coordinates of the axis values


class Expander:
    """Expands one manifest; iterate `jobs()` (as often as needed), then read `problems`."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.source = manifest.source
        self._problems: dict[tuple[Any, ...], Problem] = {}
        self._problem_total = 0
        for problem in manifest.problems:
            self._add(problem)
        self._templates: dict[str, Template | None] = {}
        self._checks: dict[tuple[Any, ...], list[Violation]] = {}
        self._prompt_checks: dict[tuple[Any, ...], list[Violation]] = {}
        self._json: dict[tuple[Any, ...], str] = {}
        self._prices: dict[tuple[Any, ...], Price] = {}
        self._axes = manifest.matrix.axes
        self._axis_names = {a.name for a in self._axes}
        self._includes = [self._split_include(e) for e in manifest.matrix.include]
        self._excludes = [list(e.items()) for e in manifest.matrix.exclude]
        self._output = self._compile(manifest.output_path, ("output", "path"), memoize=False)
        self._context_for: PromptSpec | None = None
        self._context: dict[str, Any] = {}
        self._templated_params = self._has_templated_params()

    # --- results --------------------------------------------------------------------------

    @property
    def problems(self) -> list[Problem]:
        out = sorted(self._problems.values(), key=lambda p: (p.file or "", p.line or 0))
        if self._problem_total > len(out):
            out.append(
                Problem(
                    f"... and {self._problem_total - len(out)} more problems", file=self.source.file
                )
            )
        return out

    def raise_problems(self) -> None:
        if self._problems:
            raise ManifestError(self.problems)

    # --- the walk ---------------------------------------------------------------------------

    def jobs(self, *, explain_clashes: bool = True) -> Iterator[Job]:
        """Every valid job, in a stable order; invalid ones are recorded as problems."""
        keys: set[int] = set()
        paths: set[int] = set()
        clashes: list[tuple[str, str, str]] = []  # (kind, value, second job) seen twice
        matched = [False] * len(self._includes)
        prompts = list(self.manifest.iter_prompts()) if self._includes else None
        index = 0
        for combo in self._combos(matched, prompts):
            job = self._job(combo, index)
            if job is None:
                continue
            k = _fingerprint(job.key)
            p = _fingerprint(job.output)
            if k in keys:
                clashes.append(("key", job.key, job.describe()))
                continue
            if p in paths:
                clashes.append(("path", job.output, job.describe()))
                continue
            keys.add(k)
            paths.add(p)
            index += 1
            yield job
        if clashes and explain_clashes:
            self._explain_clashes(clashes)

    def _combos(self, matched: list[bool], prompts: list[PromptSpec] | None) -> Iterator[_Combo]:
        axes = self._axes
        names = [a.name for a in axes]
        pos = {n: i for i, n in enumerate(names)}
        # Coordinates are computed once per axis value, not once per job.
        coord_values = [[_coord(a.name, v) for v in a.values] for a in axes]
        excludes = [[(pos.get(k, -1), _coord(k, v)) for k, v in ex] for ex in self._excludes]
        includes = [
            ([(pos.get(k, -1), v) for k, v in checks], adds) for checks, adds in self._includes
        ]
        ranges = [range(len(a.values)) for a in axes]
        for prompt in prompts if prompts is not None else self.manifest.iter_prompts():
            pid = prompt.id
            for idx in itertools.product(*ranges):
                if excludes and any(
                    all((pid if p < 0 else coord_values[p][idx[p]]) == v for p, v in ex)
                    for ex in excludes
                ):
                    continue
                values = {n: a.values[i] for n, a, i in zip(names, axes, idx, strict=True)}
                coords = {"prompt": pid}
                for n, p, i in zip(names, range(len(names)), idx, strict=True):
                    coords[n] = coord_values[p][i]
                combo = _Combo(prompt, values, dict(zip(names, idx, strict=True)), coords=coords)
                for j, (checks, adds) in enumerate(includes):
                    if all((pid if p < 0 else coord_values[p][idx[p]]) == v for p, v in checks):
                        matched[j] = True
                        combo.added.update(adds)
                        combo.added_from.update(dict.fromkeys(adds, j))
                yield combo
        for j, (wants, adds) in enumerate(self._includes):
            if matched[j]:
                continue
            wanted = dict(wants).get("prompt")
            hits = [p for p in prompts or () if wanted is None or p.id == wanted]
            if not hits:
                self._add(
                    self.source.problem(
                        ("matrix", "include", j, "prompt"),
                        f"no prompt has id {wanted!r}",
                        hint="use the id of one of `prompts`",
                    )
                )
            for prompt in hits:
                entry = {k: v for k, v in wants if k != "prompt"} | adds
                yield _Combo(prompt, {}, {}, entry, dict.fromkeys(entry, j))

    def _split_include(
        self, entry: Mapping[str, Any]
    ) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
        checks = [
            (k, _coord(k, v)) for k, v in entry.items() if k in self._axis_names or k == "prompt"
        ]
        adds = {k: v for k, v in entry.items() if k not in self._axis_names and k != "prompt"}
        return checks, adds

    # --- one job ------------------------------------------------------------------------------

    def _job(self, combo: _Combo, index: int) -> Job | None:
        m = self.manifest
        prompt = combo.prompt
        raw = combo.values | combo.added if combo.added else combo.values
        context: dict[str, Any] = self._base_context(prompt)
        params: dict[str, Any] = dict(m.defaults)
        if prompt.params:
            params.update(prompt.params)
        for name, value in raw.items():
            if name in PARAM_NAMES:
                params[name] = value
            if name != "provider" and name != "extra":
                context[name] = value
        ref = _provider_ref(raw["provider"]) if "provider" in raw else m.provider
        if combo.coords is not None:
            coords = combo.coords
            for name, value in combo.added.items():
                coords[name] = _coord(name, value)
        else:
            coords = {"prompt": prompt.id}
            for name, value in raw.items():
                coords[name] = _coord(name, value)
        if ref is None:  # only a standalone include can lack one; load() checked the rest
            self._add(
                self.source.problem(
                    ("matrix", "include"),
                    "this combination has no provider",
                    job=_describe(coords),
                    hint="add `provider:` at the top level",
                )
            )
            return None
        adapter = providers.get(ref.name)
        context["provider"] = ref.name
        context["prompt"] = {"id": prompt.id}
        if self._templated_params:
            try:
                params = self._render_params(params, context)
            except TemplateProblem as exc:
                self._add(self._located(combo, "image", str(exc), exc.hint, coords))
                return None
        resolved = adapter.resolve(params)
        for name, value in resolved.items():
            if name not in context:
                context[name] = value
        text = self._render(prompt.template, prompt.where, context, coords, combo)
        model = adapter.pick_model(resolved, ref.model)
        params_json = self._params_json(resolved)
        # Keep checking a job whose prompt failed, so one pass reports all its problems.
        bad = self._violations(adapter, model, resolved, params_json, text, combo, coords)
        if text is None or bad:
            self._render_output(
                context
                | {"prompt": {"id": prompt.id, "text": ""}, "key": "", "index": index, "ext": ""},
                coords,
            )
            return None
        price = self._price(adapter, params_json, resolved)
        take = raw.get("take")
        key = job_key_fast(
            provider=ref.name,
            model=model,
            params_json=params_json,
            prompt=text,
            take=int(take) if take is not None else None,
        )
        context["prompt"] = {"id": prompt.id, "text": text}
        context["key"] = key
        context["index"] = index
        context["ext"] = "png" if resolved.get("type") == "image" else "mp4"
        output = self._render_output(context, coords)
        if output is None:
            return None
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
        return "{{" in json.dumps(sources, default=str) or "{%" in json.dumps(sources, default=str)

    def _render_params(self, params: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(params)
        for name in ("image", "reference_images"):
            value = out.get(name)
            if isinstance(value, str) and looks_like_template(value):
                out[name] = self._template(value).render(context)
            elif isinstance(value, list) and any(
                isinstance(v, str) and looks_like_template(v) for v in value
            ):
                out[name] = [
                    self._template(v).render(context) if isinstance(v, str) else v for v in value
                ]
        return out

    def _render(
        self,
        template: str,
        where: PathKey,
        context: Mapping[str, Any],
        coords: Mapping[str, Any],
        combo: _Combo,
    ) -> str | None:
        tpl = self._compile(template, where, combo.prompt)
        if tpl is None:
            return None
        try:
            return tpl.render(context)
        except TemplateProblem as exc:
            self._add(self._at_prompt(combo.prompt, str(exc), exc.hint, coords))
            return None

    def _render_output(self, context: Mapping[str, Any], coords: Mapping[str, Any]) -> str | None:
        if self._output is None:
            return None
        try:
            path = self._output.render(context).strip()
        except TemplateProblem as exc:
            self._add(
                self.source.problem(
                    ("output", "path"), str(exc), hint=exc.hint, job=_describe(coords)
                )
            )
            return None
        normal = posixpath.normpath(path.replace("\\", "/")) if path else ""
        if (
            not path
            or path.endswith("/")
            or normal.startswith(("/", "../"))
            or normal == ".."
            or normal == "."
            or (len(normal) > 1 and normal[1] == ":")
        ):
            self._add(
                self.source.problem(
                    ("output", "path"),
                    f"output path {path!r} escapes the output directory"
                    if path
                    else "the output path renders empty",
                    job=_describe(coords),
                    hint="make it a relative path inside `output.dir`, "
                    "without '..' or a leading '/'",
                )
            )
            return None
        return normal

    # --- checks and prices, memoised ------------------------------------------------------

    def _violations(
        self,
        adapter: Provider,
        model: str | None,
        params: Mapping[str, Any],
        params_json: str,
        prompt: str | None,
        combo: _Combo,
        coords: Mapping[str, Any],
    ) -> bool:
        # Parameter rules are memoised per distinct request shape; prompt rules are cheap
        # and depend on each rendered prompt (a failed template's text cannot be judged).
        memo = (adapter.name, model, params_json)
        found = self._checks.get(memo)
        if found is None:
            found = adapter.check_params(params, model)
            if len(self._checks) < 100_000:
                self._checks[memo] = found
        if prompt is not None:
            # A non-empty prompt's rules depend on the prompt alone (Provider.check_prompt).
            pmemo = (adapter.name, model, prompt)
            own = self._prompt_checks.get(pmemo) if prompt.strip() else None
            if own is None:
                own = adapter.check_prompt(prompt, params, model)
                if prompt.strip() and len(self._prompt_checks) < 100_000:
                    self._prompt_checks[pmemo] = own
            if own:
                found = own + found
        for v in found:
            message = (
                f"{adapter.title} {v.message}"
                if not v.message.startswith(adapter.title)
                else v.message
            )
            if v.field == "prompt":
                self._add(self._at_prompt(combo.prompt, message, v.hint, coords))
            else:
                self._add(self._located(combo, v.field, message, v.hint, coords))
        return bool(found)

    def _params_json(self, params: dict[str, Any]) -> str:
        """canonical_json(params), memoised: a grid has few distinct parameter sets."""
        try:
            memo = tuple(params.items())
            text = self._json.get(memo)
        except TypeError:  # a list value (reference_images): not hashable
            return canonical_json(params)
        if text is None:
            text = canonical_json(params)
            if len(self._json) < 100_000:
                self._json[memo] = text
        return text

    def _price(self, adapter: Provider, params_json: str, params: Mapping[str, Any]) -> Price:
        memo = (adapter.name, params_json)
        price = self._prices.get(memo)
        if price is None:
            price = adapter.price(params, self.manifest.prices.get(adapter.name))
            self._prices[memo] = price
        return price

    # --- templates ----------------------------------------------------------------------------

    def _template(self, text: str) -> Template:
        tpl = self._templates.get(text)
        if tpl is None:
            tpl = compile_template(text)
            self._templates[text] = tpl
        return tpl

    def _compile(
        self, text: str, where: PathKey, prompt: PromptSpec | None = None, *, memoize: bool = True
    ) -> Template | None:
        if text in self._templates:
            return self._templates[text]
        try:
            tpl: Template | None = compile_template(text, memoize=memoize)
        except TemplateProblem as exc:
            tpl = None
            line, column = self.source.locate(where)
            if line is not None and exc.line and "\n" in text:
                # A block scalar (`template: |`) starts on the line after its indicator.
                line, column = line + exc.line, None
            self._add(
                Problem(
                    str(exc),
                    file=self.source.file,
                    line=line,
                    column=column,
                    where=_fmt(where),
                    hint=exc.hint,
                )
            )
        self._templates[text] = tpl
        return tpl

    # --- locating problems ----------------------------------------------------------------------

    def _located(
        self, combo: _Combo, name: str, message: str, hint: str | None, coords: Mapping[str, Any]
    ) -> Problem:
        """A problem with parameter `name`, at the place its value came from."""
        prompt = combo.prompt
        describe = _describe(coords)
        if name in combo.added_from:
            path: PathKey = ("matrix", "include", combo.added_from[name], name)
        elif name in combo.indexes and name in self._axis_names:
            path = ("matrix", name, combo.indexes[name])
        elif name in prompt.params:
            if prompt.file:
                return Problem(
                    message, file=prompt.file, line=prompt.line, where=name, hint=hint, job=describe
                )
            path = (*prompt.where[:-1], name)
        elif name in self.manifest.defaults:
            path = ("defaults", name)
        elif name == "model":
            path = ("provider", "model")
        else:
            path = ("provider",) if "provider" in self.source.data else ("matrix", "provider")
        return self.source.problem(path, message, hint=hint, job=describe)

    def _at_prompt(
        self, prompt: PromptSpec, message: str, hint: str | None, coords: Mapping[str, Any]
    ) -> Problem:
        describe = _describe(coords)
        if prompt.file:
            return Problem(
                message,
                file=prompt.file,
                line=prompt.line,
                where=f"row {prompt.id}",
                hint=hint,
                job=describe,
            )
        return self.source.problem(prompt.where, message, hint=hint, job=describe)

    def _add(self, problem: Problem) -> None:
        """Record a problem once per place and message, counting the jobs it hits."""
        memo = (problem.file, problem.line, problem.where, problem.message)
        self._problem_total += 1
        first = self._problems.get(memo)
        if first is not None:
            self._problems[memo] = _counted(first)
            self._problem_total -= 1
        elif len(self._problems) < MAX_PROBLEMS:
            self._problems[memo] = problem

    def _explain_clashes(self, clashes: list[tuple[str, str, str]]) -> None:
        """A second pass, only on failure, to name the first job of each clash."""
        wanted = {value for _, value, _ in clashes}
        first: dict[str, str] = {}
        for job in Expander(self.manifest).jobs(explain_clashes=False):
            for value in (job.key, job.output):
                if value in wanted and value not in first:
                    first[value] = job.describe()
        for kind, value, second in clashes:
            jobs = f"[{first.get(value, '?')}] and [{second}]"
            if kind == "key":
                self._add(
                    self.source.problem(
                        ("matrix",),
                        f"jobs {jobs} send the identical request (same provider, "
                        "prompt and parameters): they would make and pay for the same clip twice",
                        hint="use the axis that differs in the prompt template, drop it, or add a "
                        "`take: [1, 2]` axis if you want several takes",
                    )
                )
            else:
                self._add(
                    self.source.problem(
                        ("output", "path"),
                        f"jobs {jobs} both write {value!r}",
                        hint="put every axis that varies into output.path, or use {{ key[:12] }}",
                    )
                )


def _fingerprint(text: str) -> int:
    # Python's own 64-bit string hash: stable within a process, which is all that is needed.
    return hash(text)


def _describe(coords: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in coords.items())


def _coord(name: str, value: Any) -> Any:
    if name == "provider":
        ref = _provider_ref(value)
        return ref.coord if ref else value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _provider_ref(value: Any) -> ProviderRef | None:
    if value is None:
        return None
    if isinstance(value, str):
        return ProviderRef(value)
    return ProviderRef(value["name"], value.get("base_url"), value.get("model"))


def _counted(problem: Problem) -> Problem:
    from dataclasses import replace

    return replace(problem, count=problem.count + 1)


def _fmt(path: PathKey) -> str:
    from .yamlsource import format_path

    return format_path(path)


def expand(manifest: Manifest) -> list[Job]:
    """All jobs of a manifest, or ManifestError with every problem (small manifests only)."""
    expander = Expander(manifest)
    jobs = list(expander.jobs())
    expander.raise_problems()
    return jobs
