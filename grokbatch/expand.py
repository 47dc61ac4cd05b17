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

import hashlib
import itertools
import json
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import providers
from .errors import ManifestError, Problem
from .jobs import PARAM_NAMES, Job, canonical_json, job_key
from .manifest import Manifest, PromptSpec, ProviderRef
from .providers.base import Price, Provider, Violation
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
        self._prices: dict[tuple[Any, ...], Price] = {}
        self._axes = manifest.matrix.axes
        self._axis_names = {a.name for a in self._axes}
        self._includes = [self._split_include(e) for e in manifest.matrix.include]
        self._excludes = [list(e.items()) for e in manifest.matrix.exclude]
        self._output = self._compile(manifest.output_path, ("output", "path"))

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
        ranges = [range(len(a.values)) for a in self._axes]
        for prompt in prompts if prompts is not None else self.manifest.iter_prompts():
            for idx in itertools.product(*ranges):
                values = {a.name: a.values[i] for a, i in zip(self._axes, idx, strict=True)}
                coords = {n: _coord(n, v) for n, v in values.items()}
                coords["prompt"] = prompt.id
                if any(all(coords.get(k) == _coord(k, v) for k, v in ex) for ex in self._excludes):
                    continue
                combo = _Combo(prompt, values, dict(zip(values, idx, strict=True)))
                for j, (checks, adds) in enumerate(self._includes):
                    if all(coords.get(k) == v for k, v in checks):
                        matched[j] = True
                        combo.added.update(adds)
                        combo.added_from.update(dict.fromkeys(adds, j))
                yield combo
        for j, (checks, adds) in enumerate(self._includes):
            if matched[j]:
                continue
            wanted = dict(checks).get("prompt")
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
                entry = {k: v for k, v in checks if k != "prompt"} | adds
                yield _Combo(prompt, {}, {}, entry, dict.fromkeys(entry, j))

    def _split_include(self, entry: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], dict]:
        checks = [
            (k, _coord(k, v)) for k, v in entry.items() if k in self._axis_names or k == "prompt"
        ]
        adds = {k: v for k, v in entry.items() if k not in self._axis_names and k != "prompt"}
        return checks, adds

    # --- one job ------------------------------------------------------------------------------

    def _job(self, combo: _Combo, index: int) -> Job | None:
        m = self.manifest
        prompt = combo.prompt
        raw = {**combo.values, **combo.added}
        context: dict[str, Any] = {**m.vars, **prompt.vars}
        context.update({k: v for k, v in raw.items() if k not in ("provider", "extra")})
        params: dict[str, Any] = dict(m.defaults)
        params.update(prompt.params)
        params.update({k: v for k, v in raw.items() if k in PARAM_NAMES})
        ref = _provider_ref(raw.get("provider")) or m.provider
        coords: dict[str, Any] = {"prompt": prompt.id}
        coords.update({k: _coord(k, v) for k, v in raw.items()})
        describe = " ".join(f"{k}={v}" for k, v in coords.items())
        if ref is None:
            self._add(
                self.source.problem(
                    ("matrix", "include", combo.added_from.get("take", 0)),
                    "this combination has no provider",
                    job=describe,
                    hint="add `provider:` at the top level",
                )
            )
            return None
        adapter = providers.get(ref.name)
        context["provider"] = ref.name
        context["prompt"] = {"id": prompt.id}
        try:
            params = self._render_params(params, context)
        except TemplateProblem as exc:
            self._add(self._located(combo, "image", str(exc), exc.hint, describe))
            return None
        resolved = adapter.resolve(params)
        for name, value in resolved.items():
            context.setdefault(name, value)
        text = self._render(prompt.template, prompt.where, context, describe, combo)
        model = adapter.pick_model(resolved, ref.model)
        params_json = canonical_json(resolved)
        # Keep checking a job whose prompt failed, so one pass reports all its problems.
        bad = self._violations(adapter, model, resolved, params_json, text, combo, describe)
        if text is None or bad:
            self._render_output(
                {
                    **context,
                    "prompt": {"id": prompt.id, "text": ""},
                    "key": "",
                    "index": index,
                    "ext": "",
                },
                describe,
            )
            return None
        price = self._price(adapter, params_json, resolved)
        take = raw.get("take")
        key = job_key(
            provider=ref.name,
            model=model,
            params=resolved,
            prompt=text,
            take=int(take) if take is not None else None,
        )
        ext = "png" if resolved.get("type") == "image" else "mp4"
        out_ctx = {
            **context,
            "prompt": {"id": prompt.id, "text": text},
            "key": key,
            "index": index,
            "ext": ext,
        }
        output = self._render_output(out_ctx, describe)
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

    def _render_params(self, params: dict[str, Any], context: Mapping[str, Any]) -> dict:
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
        describe: str,
        combo: _Combo,
    ) -> str | None:
        tpl = self._compile(template, where, combo.prompt)
        if tpl is None:
            return None
        try:
            return tpl.render(context)
        except TemplateProblem as exc:
            self._add(self._at_prompt(combo.prompt, str(exc), exc.hint, describe))
            return None

    def _render_output(self, context: Mapping[str, Any], describe: str) -> str | None:
        if self._output is None:
            return None
        try:
            path = self._output.render(context).strip()
        except TemplateProblem as exc:
            self._add(
                self.source.problem(("output", "path"), str(exc), hint=exc.hint, job=describe)
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
                    job=describe,
                    hint="make it a relative path inside `output.dir`, without '..' or a leading '/'",
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
        describe: str,
    ) -> bool:
        memo = (adapter.name, model, params_json, prompt)
        found = self._checks.get(memo)
        if found is None:
            found = adapter.check(prompt=prompt or "", params=params, model=model)
            if prompt is None:  # the template failed: its text cannot be judged
                found = [v for v in found if v.field != "prompt"]
            if len(self._checks) < 100_000:
                self._checks[memo] = found
        for v in found:
            message = (
                f"{adapter.title} {v.message}"
                if not v.message.startswith(adapter.title)
                else v.message
            )
            if v.field == "prompt":
                self._add(self._at_prompt(combo.prompt, message, v.hint, describe))
            else:
                self._add(self._located(combo, v.field, message, v.hint, describe))
        return bool(found)

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
        self, text: str, where: PathKey, prompt: PromptSpec | None = None
    ) -> Template | None:
        if text in self._templates:
            return self._templates[text]
        try:
            tpl: Template | None = compile_template(text)
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
        self, combo: _Combo, name: str, message: str, hint: str | None, describe: str
    ) -> Problem:
        """A problem with parameter `name`, at the place its value came from."""
        prompt = combo.prompt
        if name in combo.added_from:
            path: PathKey = ("matrix", "include", combo.added_from[name], name)
        elif name in combo.indexes:
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
        self, prompt: PromptSpec, message: str, hint: str | None, describe: str
    ) -> Problem:
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
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


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
