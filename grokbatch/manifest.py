"""A manifest: YAML checked against schemas/manifest.schema.json, then frozen dataclasses.

Loading reports every problem it finds at once (syntax, schema, cross-field rules), each with
its file and line; `expand` then checks what only the expanded jobs show.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import providers, schema
from .errors import ManifestError, Problem
from .jobs import PARAM_NAMES, canonical_json
from .prompts import PromptFile, PromptSpec, Report, read_prompt_file
from .providers.base import DeclaredPrice
from .yamlsource import Source, load_yaml, parse_yaml

DEFAULT_OUTPUT_PATH = "{{ prompt.id }}/{{ key[:12] }}.{{ ext }}"
RESERVED_AXES = ("provider", "take")


@dataclass(frozen=True)
class ProviderRef:
    """A provider as a manifest names it."""

    name: str
    base_url: str | None = None
    model: str | None = None

    @property
    def coord(self) -> str:
        """How the provider appears in grid coordinates."""
        return f"{self.name}/{self.model}" if self.model else self.name

    @classmethod
    def parse(cls, value: Any) -> ProviderRef | None:
        """A provider as written: a name, or `{name, base_url, model}`; None if neither."""
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return cls(value["name"], value.get("base_url"), value.get("model"))
        return None


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Matrix:
    axes: tuple[Axis, ...] = ()
    include: tuple[Mapping[str, Any], ...] = ()
    exclude: tuple[Mapping[str, Any], ...] = ()
    repeats: bool = False  # an axis lists a value twice (reported as a problem)
    bad_includes: frozenset[int] = frozenset()  # include entries with a reported problem


@dataclass(frozen=True)
class LimitSpec:
    concurrency: int = 4
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    requests_per_minute: Mapping[str, float] = field(default_factory=dict)
    max_credits: Mapping[str, float] = field(default_factory=dict)
    max_usd: float | None = None
    retries: int = 5
    max_jobs: int = 1_000_000  # the largest grid accepted (its size is known before expanding)


@dataclass(frozen=True)
class Manifest:
    path: Path
    source: Source
    name: str
    provider: ProviderRef | None
    prompts: tuple[PromptSpec, ...] | PromptFile
    vars: Mapping[str, Any]
    defaults: Mapping[str, Any]
    matrix: Matrix
    output_dir: str
    output_path: str
    limits: LimitSpec
    prices: Mapping[str, DeclaredPrice]
    # Problems found before expansion that do not stop it; `expand` reports them with its own.
    problems: tuple[Problem, ...] = ()

    def provider_refs(self) -> list[ProviderRef]:
        """Every provider a job of this manifest may go to."""
        refs: list[ProviderRef] = []
        for axis in self.matrix.axes:
            if axis.name == "provider":
                refs.extend(_provider_ref(v) for v in axis.values)
        for inc in self.matrix.include:
            if _is_provider(inc.get("provider")):
                refs.append(_provider_ref(inc["provider"]))
        if self.provider and (not refs or self.matrix.include):
            refs.insert(0, self.provider)
        seen: dict[str, ProviderRef] = {}
        for ref in refs:
            seen.setdefault(ref.coord, ref)
        return list(seen.values())

    def provider_names(self) -> list[str]:
        return sorted({r.name for r in self.provider_refs()})

    def iter_prompts(self, report: Report | None = None) -> Iterator[PromptSpec]:
        """The prompts, streaming rows from a prompts file; rows with problems go to report
        (without one, the first such problem raises ManifestError)."""
        if isinstance(self.prompts, PromptFile):
            yield from read_prompt_file(self.prompts, report or _raise)
        else:
            yield from self.prompts


def load(path: str | Path) -> Manifest:
    """Load, check against the schema and build a Manifest; ManifestError lists every problem."""
    p = Path(path)
    return build(load_yaml(p, display=str(path)), p)


def loads(text: str, *, path: str | Path = "<manifest>") -> Manifest:
    """Build a Manifest from YAML text (files it names are relative to path's folder)."""
    return build(parse_yaml(text, file=str(path)), Path(path))


def build(source: Source, path: Path) -> Manifest:
    data = source.data
    if not isinstance(data, dict):
        raise ManifestError(
            [
                source.problem(
                    (),
                    "the manifest must be a mapping of keys such as name, prompts, matrix",
                    hint="start from pipelines/campaign.yaml",
                )
            ]
        )
    problems = schema.check(source)
    if problems:
        raise ManifestError(problems)
    problems = []
    provider = _provider_ref(data["provider"]) if "provider" in data else None
    prompts = _prompts(data, source, path, problems)
    matrix = _matrix(data.get("matrix") or {}, source, problems)
    output = data.get("output") or {}
    limits_data = data.get("limits") or {}
    manifest = Manifest(
        path=path,
        source=source,
        name=data["name"],
        provider=provider,
        prompts=prompts,
        vars=data.get("vars") or {},
        defaults=data.get("defaults") or {},
        matrix=matrix,
        output_dir=output.get("dir") or f"out/{data['name']}",
        output_path=output.get("path") or DEFAULT_OUTPUT_PATH,
        limits=LimitSpec(
            concurrency=limits_data.get("concurrency", 4),
            provider_concurrency=limits_data.get("provider_concurrency", {}),
            requests_per_minute=_per_provider(limits_data.get("requests_per_minute")),
            max_credits=_per_provider(limits_data.get("max_credits")),
            max_usd=limits_data.get("max_usd"),
            retries=limits_data.get("retries", 5),
            max_jobs=limits_data.get("max_jobs", 1_000_000),
        ),
        prices={name: DeclaredPrice(**spec) for name, spec in (data.get("prices") or {}).items()},
    )
    _check_providers(manifest, source, limits_data, problems)
    if any(p.where in _FATAL for p in problems) or not manifest.provider_refs():
        raise ManifestError(problems)
    return replace(manifest, problems=tuple(problems))


# Problems after which expanding would only add noise.
_FATAL = {"prompts.file"}


# --- pieces ----------------------------------------------------------------------------


def _provider_ref(value: Any) -> ProviderRef:
    """A provider the schema has already checked."""
    ref = ProviderRef.parse(value)
    assert ref is not None, value
    return ref


def _is_provider(value: Any) -> bool:
    """A provider name, or a mapping naming one (include values are not schema-checked)."""
    name = value.get("name") if isinstance(value, dict) else value
    return isinstance(name, str) and name in providers.NAMES


def _raise(problem: Problem, row: int) -> None:
    raise ManifestError([problem])


def _per_provider(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: float(v) for k, v in value.items()}
    return {"*": float(value)}


def _prompts(
    data: Mapping[str, Any], source: Source, path: Path, problems: list[Problem]
) -> tuple[PromptSpec, ...] | PromptFile:
    raw = data["prompts"]
    if isinstance(raw, dict):
        file = (path.parent / raw["file"]).resolve()
        display = str(Path(path).parent / raw["file"])
        if not file.is_file():
            problems.append(
                source.problem(
                    ("prompts", "file"),
                    f"prompts file {display} is a directory"
                    if file.is_dir()
                    else f"prompts file {display} not found",
                    hint="point at a file; the path is relative to the manifest's folder",
                )
            )
        return PromptFile(file, display, raw["template"], raw.get("id"))
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(raw):
        if item["id"] in seen:
            problems.append(
                source.problem(
                    ("prompts", i, "id"),
                    f"prompt id {item['id']!r} is used twice",
                    hint=f"rename it; prompts[{seen[item['id']]}] has it already",
                )
            )
        seen.setdefault(item["id"], i)
        params = {k: v for k, v in item.items() if k in PARAM_NAMES}
        out.append(
            PromptSpec(
                item["id"],
                item["template"],
                item.get("vars") or {},
                params,
                ("prompts", i, "template"),
            )
        )
    return tuple(out)


def _matrix(data: Mapping[str, Any], source: Source, problems: list[Problem]) -> Matrix:
    axes = tuple(Axis(k, tuple(v)) for k, v in data.items() if k not in ("include", "exclude"))
    names = [a.name for a in axes]
    repeats = False
    for axis in axes:
        seen: dict[str, int] = {}  # canonical JSON → first index: linear, whatever the axis
        for i, value in enumerate(axis.values):
            first = seen.setdefault(canonical_json(value), i)
            if first != i:
                repeats = True
                problems.append(
                    source.problem(
                        ("matrix", axis.name, i),
                        f"{_show(value)} is listed twice (also at [{first}])",
                        hint="remove the repeated value",
                    )
                )
    for i, entry in enumerate(data.get("exclude", ())):
        for key in entry:
            if key not in names and key != "prompt":
                close = difflib.get_close_matches(key, names, n=1)
                problems.append(
                    source.problem(
                        ("matrix", "exclude", i, key),
                        f"{key!r} is not a matrix axis",
                        hint=(f"did you mean {close[0]!r}? " if close else "")
                        + f"exclude can only name axes ({', '.join(names) or 'none'}) or prompt",
                    )
                )
    bad: set[int] = set()
    for i, entry in enumerate(data.get("include", ())):
        # Values of axes are compared loosely ("10" matches 10); the expander checks them
        # only where an entry becomes a job of its own.
        for path, message, hint in schema.entry_errors(entry, skip=names):
            problems.append(source.problem(("matrix", "include", i, *path), message, hint=hint))
            bad.add(i)
    include, exclude = tuple(data.get("include", ())), tuple(data.get("exclude", ()))
    return Matrix(axes, include, exclude, repeats, frozenset(bad))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_providers(
    manifest: Manifest, source: Source, limits: Mapping[str, Any], problems: list[Problem]
) -> None:
    refs = manifest.provider_refs()
    if not refs:
        problems.append(
            source.problem(
                (),
                "no provider given",
                hint="add `provider: <name>` "
                f"(one of {', '.join(providers.NAMES)}) or a "
                "`provider:` matrix axis",
            )
        )
        return
    names = manifest.provider_names()
    for ref in refs:
        adapter = providers.get(ref.name)
        if ref.model and adapter.models and ref.model not in adapter.models:
            problems.append(
                source.problem(
                    ("provider", "model"),
                    f"{ref.name} has no sub-model {ref.model!r}",
                    hint=f"use one of: {', '.join(adapter.models)}",
                )
            )
    max_credits = manifest.limits.max_credits
    if "*" in max_credits and len(names) > 1:
        problems.append(
            source.problem(
                ("limits", "max_credits"),
                f"one max_credits for {len(names)} providers ({', '.join(names)}): their credits "
                "are different units",
                hint="give one per provider, e.g. max_credits: {"
                + ", ".join(f"{n}: 500" for n in names)
                + "}",
            )
        )
    for key in ("max_credits", "requests_per_minute"):
        value = limits.get(key)
        if isinstance(value, dict):
            for name in value:
                if name not in names:
                    problems.append(
                        source.problem(
                            ("limits", key, name),
                            f"{name} is not used by this manifest",
                            hint=f"providers used: {', '.join(names)}",
                        )
                    )
    if manifest.limits.max_usd is not None:
        for name in names:
            declared = manifest.prices.get(name)
            if providers.get(name).usd_per_credit is None and not (
                declared and declared.usd_per_credit
            ):
                problems.append(
                    source.problem(
                        ("limits", "max_usd"),
                        f"max_usd needs {name}'s price in USD, which it does not publish",
                        hint=f"declare it: prices: {{{name}: {{usd_per_credit: ...}}}}, or use "
                        "max_credits instead",
                    )
                )
