"""A manifest: YAML checked against schemas/manifest.schema.json, then frozen dataclasses.

Loading reports every problem it finds at once (syntax, schema, cross-field rules), each with
its file and line; `expand` then checks what only the expanded jobs show.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import providers, schema
from .errors import ManifestError, Problem
from .jobs import PARAM_NAMES
from .providers.wire import DeclaredPrice
from .templates import TemplateProblem, compile_template
from .yamlsource import PathKey, Source, load_yaml, parse_yaml

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


@dataclass(frozen=True)
class PromptSpec:
    """One prompt: its id, template, own variables and parameters, and where it was written."""

    id: str
    template: str
    vars: Mapping[str, Any]
    params: Mapping[str, Any]
    where: PathKey  # location of the template, for messages
    file: str | None = None  # set for rows of a prompts file
    line: int | None = None


@dataclass(frozen=True)
class PromptFile:
    """Prompts read from a CSV or JSONL file, one per row."""

    path: Path
    display: str
    template: str
    id_template: str | None


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Matrix:
    axes: tuple[Axis, ...] = ()
    include: tuple[Mapping[str, Any], ...] = ()
    exclude: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class LimitSpec:
    concurrency: int = 4
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    requests_per_minute: Mapping[str, float] = field(default_factory=dict)
    max_credits: Mapping[str, float] = field(default_factory=dict)
    max_usd: float | None = None
    retries: int = 5


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
            if "provider" in inc:
                refs.append(_provider_ref(inc["provider"]))
        if self.provider and (not refs or self.matrix.include):
            refs.insert(0, self.provider)
        seen: dict[str, ProviderRef] = {}
        for ref in refs:
            seen.setdefault(ref.coord, ref)
        return list(seen.values())

    def provider_names(self) -> list[str]:
        return sorted({r.name for r in self.provider_refs()})

    def iter_prompts(self) -> Iterator[PromptSpec]:
        """The prompts, streaming rows from a prompts file."""
        if isinstance(self.prompts, PromptFile):
            yield from read_prompt_file(self.prompts)
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
    if isinstance(value, str):
        return ProviderRef(value)
    return ProviderRef(value["name"], value.get("base_url"), value.get("model"))


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
                    f"prompts file {display} not found",
                    hint="the path is relative to the manifest's folder",
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


def read_prompt_file(spec: PromptFile) -> Iterator[PromptSpec]:
    """Rows of a CSV or JSONL prompts file; ManifestError on a malformed row."""
    suffix = spec.path.suffix.lower()
    with spec.path.open(encoding="utf-8", newline="") as fh:
        if suffix == ".csv":
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                raise ManifestError(
                    [
                        Problem(
                            "the CSV file has no header row",
                            file=spec.display,
                            line=1,
                            hint="put column names on the first line",
                        )
                    ]
                )
            for n, row in enumerate(reader, start=1):
                if None in row:
                    raise ManifestError(
                        [
                            Problem(
                                f"row {n} has more fields than the header",
                                file=spec.display,
                                line=reader.line_num,
                                hint="quote values that contain commas",
                            )
                        ]
                    )
                yield _row_prompt(spec, dict(row), n, reader.line_num, csv_row=True)
        else:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ManifestError(
                        [
                            Problem(
                                f"invalid JSON: {exc.msg}",
                                file=spec.display,
                                line=line_no,
                                column=exc.colno,
                            )
                        ]
                    ) from None
                if not isinstance(row, dict):
                    raise ManifestError(
                        [
                            Problem(
                                "each line must be a JSON object", file=spec.display, line=line_no
                            )
                        ]
                    )
                yield _row_prompt(spec, row, line_no, line_no, csv_row=False)


def _row_prompt(
    spec: PromptFile, row: dict[str, Any], n: int, line: int, *, csv_row: bool
) -> PromptSpec:
    params: dict[str, Any] = {}
    for name in PARAM_NAMES:
        value = row.get(name)
        if value in (None, ""):
            continue
        if csv_row:
            value = _coerce_csv(name, value, spec.display, line)
        params[name] = value
    variables = {k: v for k, v in row.items() if k.isidentifier()}
    if spec.id_template:
        try:
            prompt_id = compile_template(spec.id_template).render({**variables, "row": n})
        except TemplateProblem as exc:
            raise ManifestError(
                [Problem(f"prompts.id: {exc}", file=spec.display, line=line, hint=exc.hint)]
            ) from None
    else:
        prompt_id = str(row.get("id") or f"row{n}")
    return PromptSpec(
        prompt_id,
        spec.template,
        variables,
        params,
        ("prompts", "template"),
        file=spec.display,
        line=line,
    )


def _coerce_csv(name: str, value: str, file: str, line: int) -> Any:
    """CSV cells are text: give parameters the types the schema asks for."""
    if name == "duration":
        try:
            return int(value)
        except ValueError:
            raise ManifestError(
                [
                    Problem(
                        f"duration {value!r} is not a whole number",
                        file=file,
                        line=line,
                        where="duration",
                    )
                ]
            ) from None
    if name == "reference_images":
        return [u for u in value.replace(";", " ").split() if u]
    if name == "extra":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ManifestError(
                [Problem("extra must be a JSON object", file=file, line=line, where="extra")]
            ) from None
    return value


def _matrix(data: Mapping[str, Any], source: Source, problems: list[Problem]) -> Matrix:
    axes = tuple(Axis(k, tuple(v)) for k, v in data.items() if k not in ("include", "exclude"))
    names = {a.name for a in axes}
    for axis in axes:
        seen: list[Any] = []
        for i, value in enumerate(axis.values):
            if value in seen:
                problems.append(
                    source.problem(
                        ("matrix", axis.name, i),
                        f"{json.dumps(value)} is listed twice",
                        hint="remove the repeated value",
                    )
                )
            seen.append(value)
    for i, entry in enumerate(data.get("exclude", ())):
        for key in entry:
            if key not in names and key != "prompt":
                problems.append(
                    source.problem(
                        ("matrix", "exclude", i, key),
                        f"{key!r} is not a matrix axis",
                        hint=f"exclude can only name axes ({', '.join(sorted(names)) or 'none'}) "
                        "or prompt",
                    )
                )
    param_validator = schema.params_validator()
    for i, entry in enumerate(data.get("include", ())):
        params = {k: v for k, v in entry.items() if k in PARAM_NAMES}
        for error in param_validator.iter_errors(params):
            detail = schema.best_detail(error)
            problems.append(
                source.problem(("matrix", "include", i, *detail.absolute_path), detail.message)
            )
    return Matrix(axes, tuple(data.get("include", ())), tuple(data.get("exclude", ())))


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
