"""The job: one request to one provider, identified by the hash of its canonical content.

A job's key depends only on what is sent (provider, sub-model, parameters, rendered prompt),
never on YAML formatting, key order, comments or where the output goes: the same clip asked
twice is the same job, so it is never paid for twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The one parameter vocabulary shared by every provider; adapters translate it.
PARAM_NAMES: tuple[str, ...] = (
    "type",
    "duration",
    "aspect_ratio",
    "resolution",
    "mode",
    "image",
    "reference_images",
    "extra",
)
JOB_TYPES = ("video", "image")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal content gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def job_key(
    *,
    provider: str,
    model: str | None,
    params: Mapping[str, Any],
    prompt: str,
    take: int | None = None,
) -> str:
    """The stable id of a job: sha256 of its canonical request (and take, when several)."""
    request: dict[str, Any] = {"provider": provider, "model": model, "params": params}
    request["prompt"] = prompt
    if take is not None:
        request["take"] = take
    body = canonical_json(request)
    return hashlib.sha256(body.encode()).hexdigest()


def job_key_fast(
    *, provider: str, model: str | None, params_json: str, prompt: str, take: int | None
) -> str:
    """job_key from an already canonical params_json: the same digest, less encoding.

    It spells out canonical_json's output for this fixed shape (keys in sorted order);
    tests check that it always equals job_key.
    """
    head = _HEADS.get((model, provider))
    if head is None:
        head = _HEADS[(model, provider)] = (json.dumps(model), json.dumps(provider))
    text = _PROMPTS.get(prompt)
    if text is None:
        text = json.dumps(prompt, ensure_ascii=False)
        if len(_PROMPTS) < 100_000:
            _PROMPTS[prompt] = text
    tail = f',"take":{int(take)}}}' if take is not None else "}"
    body = f'{{"model":{head[0]},"params":{params_json},"prompt":{text},"provider":{head[1]}{tail}'
    return hashlib.sha256(body.encode()).hexdigest()


_HEADS: dict[tuple[str | None, str], tuple[str, str]] = {}
_PROMPTS: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Job:
    """One fully expanded, validated request."""

    key: str
    index: int  # position in the expansion, for messages and stable ordering
    provider: str
    model: str | None  # the provider's sub-model, when the manifest or the parameters pick one
    prompt: str  # the rendered prompt
    prompt_id: str
    params: Mapping[str, Any]  # resolved vocabulary values (PARAM_NAMES), Nones dropped
    coords: Mapping[str, Any]  # grid coordinates: prompt id, matrix axes, include keys
    output: str  # output path relative to the output directory
    credits: float = 0.0  # estimated cost, in the provider's credits
    usd: float | None = None  # estimated cost in USD, when the provider's price is known
    price_basis: str = "published"  # published | declared | guessed
    base_url: str | None = field(default=None, compare=False)  # manifest override, if any

    @property
    def type(self) -> str:
        return str(self.params.get("type", "video"))

    def describe(self) -> str:
        """Grid coordinates as `axis=value` pairs, for messages."""
        return " ".join(f"{k}={_short(v)}" for k, v in self.coords.items())

    def request_record(self) -> dict[str, Any]:
        """What is stored about the request: everything but secrets (there are none here)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "prompt": self.prompt,
            "params": dict(self.params),
        }


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    return text if len(text) <= 40 else text[:37] + "..."
