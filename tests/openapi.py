"""Validators for schemas inside the providers' OpenAPI files (copied into tests/specs)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPECS = Path(__file__).parent / "specs"
AIML_FILE = "aimlapi-grok-imagine-video.json"
AIML_FETCH_FILE = "aimlapi-universal-video-fetch.json"
FRAME_FILE = "apiframe-openapi.json"
_GENERATIONS = "/paths/~1v2~1video~1generations"
AIML_REQUEST = f"{_GENERATIONS}/post/requestBody/content/application~1json/schema"
AIML_SUBMIT = f"{_GENERATIONS}/post/responses/200/content/application~1json/schema"
AIML_POLL = f"{_GENERATIONS}/get/responses/200/content/application~1json/schema"
FRAME_REQUEST = "/components/schemas/GenerateVideoRequest"


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` in JSON Schema 2020-12 terms (3.1 files are unchanged)."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


@cache
def _registry(spec_file: str) -> Registry[Any]:
    spec = _nullable(json.loads((SPECS / spec_file).read_text(encoding="utf-8")))
    return Registry().with_resource(f"urn:spec:{spec_file}", DRAFT202012.create_resource(spec))


def openapi_schema(spec_file: str, pointer: str) -> Draft202012Validator:
    """A validator for the schema at the JSON pointer `pointer` in `spec_file`, refs resolved."""
    return Draft202012Validator(
        {"$ref": f"urn:spec:{spec_file}#{pointer}"}, registry=_registry(spec_file)
    )
