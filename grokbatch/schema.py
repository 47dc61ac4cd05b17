"""The manifest's JSON Schema: where it lives, and its errors turned into located Problems."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Collection, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from .errors import Problem
from .jobs import PARAM_NAMES
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


def _is_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 6.0 as an integer; a provider that is sent 6.0 answers 400.
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _ecma(pattern: str) -> re.Pattern[str]:
    r"""The schema's regex as editors read it (ECMA 262): `$` is the very end of the text.

    Python's `$` also matches before a final newline, which let `name: "batch\n"` pass.
    """
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        in_class = (in_class and char != "]") or char == "["
        out.append(r"\Z" if char == "$" and not in_class else char)
        i += 1
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@cache
def _validator() -> Any:
    return Validator(schema())


@cache
def params_validator() -> Any:
    """A validator of the parameter vocabulary alone (include entries, prompt-file rows)."""
    return Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/params"})


@cache
def provider_validator() -> Any:
    """A validator of a provider: a name or {name, base_url, model}."""
    return Validator({"$defs": schema()["$defs"], **schema()["properties"]["provider"]})


@cache
def id_validator() -> Any:
    """A validator of a prompt id (for ids from a prompts file)."""
    return Validator(schema()["$defs"]["prompt"]["properties"]["id"])


def entry_errors(
    entry: Mapping[str, Any], skip: Collection[str] = ()
) -> Iterator[tuple[list[str | int], str, str | None]]:
    """(path, message, fix) of each invalid parameter or provider in an include entry.

    Keys in `skip` are left out (an axis's value is compared loosely, not used as such).
    """
    params = {k: v for k, v in entry.items() if k in PARAM_NAMES and k not in skip}
    for error in params_validator().iter_errors(params):
        yield explain(best_detail(error))
    if "provider" in entry and "provider" not in skip:
        for error in provider_validator().iter_errors(entry["provider"]):
            path, message, hint = explain(best_detail(error))
            yield ["provider", *path], message, hint


def check(source: Source) -> list[Problem]:
    """Every schema violation in the document, each located and explained."""
    problems = []
    for error in sorted(_validator().iter_errors(source.data), key=lambda e: list(e.path)):
        path, message, hint = explain(best_detail(error))
        problems.append(source.problem(path, message, hint=hint))
    return problems


def best_detail(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf failures, the error of the branch meant for the value's type.

    `prompts: [{id: "my id", ...}]` is a list, so its mistake is in the list branch (a bad
    id), not in the mapping branch ("should be of type object").
    """
    while error.context:
        branches: Any = error.validator_value
        meant = [
            e
            for e in error.context
            if isinstance(branches, list)
            and e.relative_schema_path
            and isinstance(e.relative_schema_path[0], int)
            and _accepts(branches[e.relative_schema_path[0]], error.instance)
        ]
        deeper = best_match(meant or error.context)
        if deeper is None:
            break
        error = deeper
    return error


def _accepts(branch: Any, instance: Any) -> bool:
    """Whether a schema branch is meant for values of the instance's JSON type."""
    while isinstance(branch, dict) and "$ref" in branch:
        branch = schema()["$defs"].get(str(branch["$ref"]).rsplit("/", 1)[-1], {})
    if not isinstance(branch, dict):
        return True
    kinds = branch.get("type")
    if kinds is None and "enum" in branch:
        kinds = [_json_type(v) for v in branch["enum"]]
    if kinds is None:
        return True
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    actual = _json_type(instance)
    return actual in kinds or (actual == "integer" and "number" in kinds)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    for kind, name in ((float, "number"), (str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null"


def explain(error: ValidationError) -> tuple[list[str | int], str, str | None]:
    """(path, message, fix) of one schema error, in the user's terms."""
    path = list(error.absolute_path)
    # jsonschema's stubs type these as possibly unset; a raised error always has them.
    validator: Any = error.validator
    value: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    hint: str | None = None
    message = error.message
    shown = _show(value)
    if "propertyNames" in error.schema_path:  # the key itself is wrong: point at it
        path = [*path, value]
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
        message = f"{shown} is not allowed"
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
        message, hint = _type_mismatch(value, expected)
    elif validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
        }
        message = f"{shown} is out of range: it must be {words[validator]} {expected}"
        hint = f"use a value {words[validator]} {expected}"
    elif validator == "pattern":
        message = f"{shown} does not have the expected form"
        hint = _pattern_hint(path)
    elif validator == "not" and path and path[-1] == "prompt":
        message = "`prompt` cannot be a matrix axis"
        hint = "list prompts under `prompts:`; use `prompt: <id>` inside include/exclude"
    elif validator == "minItems":
        message = "the list is empty" if not value else f"needs at least {expected} items"
        hint = "give at least one value, or remove the key"
    elif validator == "maxItems":
        message = f"has {len(value)} items; at most {expected} are allowed"
        hint = f"keep {expected} or fewer"
    elif validator == "minLength":
        message = "is empty" if not value else f"is shorter than {expected} characters"
        hint = "write a value, or remove the key"
    elif validator == "maxLength":
        message = f"is {len(value)} characters long; at most {expected} are allowed"
        hint = f"shorten it to {expected} characters"
    elif validator in ("minProperties", "maxProperties"):
        message = "the mapping is empty" if not value else message
        hint = "give at least one key, or remove it"
    return path, message, hint


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_mismatch(value: Any, expected: Any) -> tuple[str, str | None]:
    shown = _show(value)
    if expected == "integer" and isinstance(value, float):
        if value.is_integer():
            return f"{shown} is written as a decimal, not a whole number", f"write {int(value)}"
        return f"{shown} is not a whole number", "use a whole number"
    message = f"{shown} should be of type {expected}"
    hint = None
    if expected in ("integer", "number") and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return message, "write a number"
        if not math.isfinite(number):
            return message, "write a finite number"
        if "e" in value.lower() and "." not in value:
            # YAML 1.1 reads 1e5 as text: a float needs its dot.
            return message, f"YAML reads {value.strip()} as text: write the number out (or 1.0e+5)"
        if expected == "number" or number.is_integer():
            return message, f"write {value.strip()} without quotes"
    elif expected in ("integer", "number"):
        hint = "write a number"
    elif expected == "array":
        hint = f"write a list: [{shown}]"
    elif expected == "object":
        hint = "write a mapping of `key: value` lines"
    elif expected == "string":
        hint = f'quote it: "{value}"' if not isinstance(value, dict | list) else "write text"
    return message, hint


def _pattern_hint(path: list[str | int]) -> str:
    last = path[-1] if path else ""
    if last in ("id", "name"):
        return "use letters, digits, '.', '_' and '-', starting with a letter or digit"
    if last == "base_url":
        return "use an absolute http:// or https:// URL, e.g. https://api.example.com"
    if last == "file":
        return "point at a .csv or .jsonl file (the prompts, one per row)"
    return "names must be valid template identifiers (letters, digits and _, not first a digit)"


def _sexagesimal_ratio(value: int, options: list[Any]) -> str | None:
    """YAML 1.1 reads 16:9 as the base-60 number 969: find the ratio the user meant."""
    for option in options:
        if isinstance(option, str) and ":" in option:
            a, _, b = option.partition(":")
            if a.isdigit() and b.isdigit() and int(a) * 60 + int(b) == value:
                return option
    return None
