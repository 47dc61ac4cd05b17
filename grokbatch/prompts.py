"""Prompts: written in the manifest, or one per row of a CSV or JSONL file.

A row's parameter columns (`type`, `duration`, `image`, …) are checked by the very schema
rules that check them in the manifest, so `type: spaceship` in row 7 is an error naming
row 7 before anything is sent, not a failure after a paid submit. Short and long CSV rows
are errors (a short row would otherwise render `None` into a paid prompt), and so are ids
that are malformed or used twice. A row with a problem is reported and left out; problems
of the file itself (encoding, header) stop the reading.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import schema
from .errors import ManifestError, Problem
from .jobs import PARAM_NAMES
from .templates import Template, TemplateProblem, compile_template
from .textfiles import iter_lines
from .yamlsource import PathKey

Report = Callable[[Problem, int], None]  # a problem, and the row number it is in
# Long cells (a whole paragraph of prompt) are fine; Python's default cap is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 10_000_000))


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
    row: int | None = None  # the row number a spreadsheet shows (the header is row 1)


@dataclass(frozen=True)
class PromptFile:
    """Prompts read from a CSV or JSONL file, one per row."""

    path: Path
    display: str
    template: str
    id_template: str | None

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"

    def columns(self) -> list[str]:
        """The CSV header's names (JSONL: none are known before reading the rows)."""
        if not self.is_csv:
            return []
        header, _ = _csv_header(self)
        return header


def read_prompt_file(spec: PromptFile, report: Report) -> Iterator[PromptSpec]:
    """The rows of a prompts file that are valid; every other row goes to `report`."""
    rows = _csv_rows(spec) if spec.is_csv else _jsonl_rows(spec)
    seen: dict[str, int] = {}
    id_template = compile_template(spec.id_template) if spec.id_template else None
    for number, line, row, csv_row, wrong in rows:
        if wrong is not None:
            report(_at(spec, line, *wrong), number)
            continue
        prompt = _row_prompt(spec, row, number, line, csv_row, id_template, report)
        if prompt is None:
            continue
        first = seen.setdefault(prompt.id, number)
        if first != number:
            report(
                _at(
                    spec,
                    line,
                    f"prompt id {prompt.id!r} is used by row {first} already",
                    "make ids unique: add an `id` column, or set prompts.id, e.g. "
                    "'{{ sku }}-{{ row }}'",
                    "id",
                ),
                number,
            )
            continue
        yield prompt


def count_rows(spec: PromptFile, stop: int) -> int:
    """How many rows the file has (counting stops once past `stop`)."""
    count = 0
    for _ in _csv_rows(spec) if spec.is_csv else _jsonl_rows(spec):
        count += 1
        if count > stop:
            break
    return count


# --- reading -----------------------------------------------------------------------------------

# (row number, line, values, read from a CSV, what is wrong with the row: (message, fix))
Raw = tuple[int, int, dict[str, Any], bool, tuple[str, str] | None]


def _csv_header(spec: PromptFile) -> tuple[list[str], Any]:  # (names, a csv reader)
    lines = iter_lines(spec.path, display=spec.display)
    reader = csv.reader(lines)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise _fatal(
            spec, 1, "the CSV file is empty", "put column names on the first line"
        ) from None
    except csv.Error as exc:
        raise _fatal(
            spec, 1, f"the CSV header cannot be read: {exc}", "fix the first line"
        ) from None
    for i, name in enumerate(header):
        if not name:
            raise _fatal(spec, 1, f"column {i + 1} of the header has no name", "name it")
        if header.index(name) != i:
            raise _fatal(spec, 1, f"column {name!r} appears twice in the header", "rename one")
    return header, reader


def _csv_rows(spec: PromptFile) -> Iterator[Raw]:
    header, reader = _csv_header(spec)
    number, line = 1, 2
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _fatal(
                spec,
                reader.line_num,
                f"the CSV file cannot be read: {exc}",
                "check the quotes on this line",
            ) from None
        start, line = line, reader.line_num + 1
        if not cells or cells == [""]:
            continue  # blank lines are not rows
        number += 1
        if len(cells) != len(header):
            fix = (
                "fill in every column (an empty cell is two commas: a,,c)"
                if len(cells) < len(header)
                else 'quote values that contain commas: "a, b"'
            )
            wrong = (f"the row has {len(cells)} fields; the header has {len(header)}", fix)
            yield number, start, {}, True, wrong
            continue
        yield number, start, dict(zip(header, cells, strict=True)), True, None


def _jsonl_rows(spec: PromptFile) -> Iterator[Raw]:
    for number, line in enumerate(iter_lines(spec.path, display=spec.display), start=1):
        if not line.strip():
            continue
        fix = 'write one JSON object per line: {"key": "value", ...}'
        try:
            row = json.loads(line, parse_constant=_no_constant)
        except ValueError as exc:
            yield number, number, {}, False, (f"invalid JSON: {getattr(exc, 'msg', exc)}", fix)
            continue
        if not isinstance(row, dict):
            yield number, number, {}, False, ("the line is not a JSON object", fix)
            continue
        yield number, number, row, False, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number grokbatch can use")


# --- one row -----------------------------------------------------------------------------------


def _row_prompt(
    spec: PromptFile,
    row: dict[str, Any],
    number: int,
    line: int,
    csv_row: bool,
    id_template: Template | None,
    report: Report,
) -> PromptSpec | None:
    params: dict[str, Any] = {}
    bad = False
    for name in PARAM_NAMES:
        value = row.get(name)
        if value is None or value == "":
            continue
        if csv_row:
            value, problem = _typed(name, value)
            if problem:
                report(_at(spec, line, problem[0], problem[1], name), number)
                bad = True
                continue
        params[name] = value
    for error in schema.params_validator().iter_errors(params):
        path, message, hint = schema.explain(schema.best_detail(error))
        report(_at(spec, line, message, hint, ".".join(map(str, path)) or None), number)
        bad = True
    variables = {k: v for k, v in row.items() if isinstance(k, str) and k.isidentifier()}
    prompt_id = _prompt_id(spec, row, variables, number, line, id_template, report)
    if bad or prompt_id is None:
        return None
    return PromptSpec(
        prompt_id,
        spec.template,
        variables,
        params,
        ("prompts", "template"),
        file=spec.display,
        line=line,
        row=number,
    )


def _typed(name: str, text: str) -> tuple[Any, tuple[str, str] | None]:
    """A CSV cell as the type its parameter has (the schema then checks the value)."""
    if name == "duration":
        try:
            number = float(text)
        except ValueError:
            return text, None  # the schema says what is wrong with it
        return (int(number) if number.is_integer() and "." not in text else number), None
    if name == "reference_images":
        return [u for u in text.replace(";", " ").split() if u], None
    if name == "extra":
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except ValueError:
            return text, ("extra must be a JSON object", 'write it as {"field": value}')
        return value, None
    return text.strip(), None


def _prompt_id(
    spec: PromptFile,
    row: Mapping[str, Any],
    variables: dict[str, Any],
    number: int,
    line: int,
    id_template: Template | None,
    report: Report,
) -> str | None:
    index = number - 1 if spec.is_csv else number  # `row` counts data rows from 1
    if id_template is not None:
        try:
            prompt_id = id_template.render({**variables, "row": index})
        except TemplateProblem as exc:
            report(_at(spec, line, f"prompts.id: {exc}", exc.hint, "id"), number)
            return None
    else:
        prompt_id = str(row.get("id") or f"row{index}")
    for error in schema.id_validator().iter_errors(prompt_id):
        _, message, _ = schema.explain(error)
        hint = "use letters, digits, '.', '_' and '-', starting with a letter or digit"
        report(_at(spec, line, f"prompt id {message}", hint, "id"), number)
        return None
    return prompt_id


def _at(
    spec: PromptFile, line: int, message: str, hint: str | None, where: str | None = None
) -> Problem:
    return Problem(message, file=spec.display, line=line, where=where, hint=hint)


def _fatal(spec: PromptFile, line: int, message: str, hint: str) -> ManifestError:
    return ManifestError([_at(spec, line, message, hint)])
