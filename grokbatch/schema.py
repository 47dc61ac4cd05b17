"""The manifest's JSON Schema: where it lives, and its errors turned into located Problems."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import Problem
from .yamlsource import Source

SCHEMA_NAME = "manifest.schema.json"


def schema_text() -> str:
    """The schema as shipped: inside the wheel, or at the top of a source checkout."""
    packaged = resources.files("grokbatch").joinpath("schemas", SCHEMA_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # An editable install or a source checkout: the wheel's copy is made at build time.
    return (Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME).read_text("utf-8")


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


@cache
def params_validator() -> Draft202012Validator:
    """A validator of the parameter vocabulary alone (for matrix.include entries)."""
    return Draft202012Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/params"})


def check(source: Source) -> list[Problem]:
    """Every schema violation in the document, each located and explained."""
    problems = []
    for error in sorted(_validator().iter_errors(source.data), key=lambda e: list(e.path)):
        problems.append(_explain(best_detail(error), source))
    return problems


def best_detail(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf failures, the branch error that says most about the mistake."""
    while error.context:
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    return error


def _explain(error: ValidationError, source: Source) -> Problem:
    path = list(error.absolute_path)
    # jsonschema's stubs type these as possibly unset; a raised error always has them.
    validator: Any = error.validator
    value: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    hint: str | None = None
    message = error.message
    if validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in value if k not in allowed] if isinstance(value, dict) else []
        names = ", ".join(repr(k) for k in extra)
        message = f"unknown key{'s' if len(extra) > 1 else ''} {names}"
        if extra:
            path = [*path, extra[0]]
            close = difflib.get_close_matches(str(extra[0]), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
    elif validator == "enum":
        options = ", ".join(json.dumps(o) for o in expected)
        message = f"{json.dumps(value)} is not allowed"
        hint = f"use one of: {options}"
        close = difflib.get_close_matches(str(value), [str(o) for o in expected], 1)
        if close:
            hint += f" (did you mean {close[0]!r}?)"
        if isinstance(value, int) and not isinstance(value, bool):
            ratio = _sexagesimal_ratio(value, expected)
            if ratio:
                message = f"{value} is not allowed (YAML reads an unquoted {ratio} as {value})"
                hint = f'quote it: "{ratio}"'
    elif validator == "required":
        missing = [k for k in expected if k not in value]
        message = f"missing required key {missing[0]!r}" if missing else message
        hint = f"add `{missing[0]}:`" if missing else None
    elif validator == "type":
        message = f"{json.dumps(value, default=str)} should be of type {expected}"
        if expected == "integer" and isinstance(value, str) and value.isdigit():
            hint = f"write {value} without quotes"
        elif expected == "array":
            hint = f"write a list: [{json.dumps(value, default=str)}]"
    elif validator in ("minimum", "maximum", "exclusiveMinimum"):
        message = f"{value} is out of range ({validator} {expected})"
    elif validator == "pattern":
        message = f"{json.dumps(value)} does not have the expected form"
        if path and path[-1] in ("id", "name"):
            hint = "use letters, digits, '.', '_' and '-', starting with a letter or digit"
        elif path and path[-1] == "base_url":
            hint = "start it with http:// or https://"
        elif path and path[-1] == "file":
            hint = "point at a .csv or .jsonl file"
        else:
            hint = "names must be valid template identifiers (letters, digits, _)"
    elif validator == "not" and path and path[-1] == "prompt":
        message = "`prompt` cannot be a matrix axis"
        hint = "list prompts under `prompts:`; use `prompt: <id>` inside include/exclude"
    elif validator == "minItems":
        message = "the list is empty" if not value else f"needs at least {expected}"
    elif validator == "maxItems":
        message = f"has {len(value)} items; at most {expected} are allowed"
    return source.problem(path, message, hint=hint)


def _sexagesimal_ratio(value: int, options: list[Any]) -> str | None:
    """YAML 1.1 reads 16:9 as the base-60 number 969: find the ratio the user meant."""
    for option in options:
        if isinstance(option, str) and ":" in option:
            a, _, b = option.partition(":")
            if a.isdigit() and b.isdigit() and int(a) * 60 + int(b) == value:
                return option
    return None
