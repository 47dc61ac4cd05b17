"""Building blocks for the adapters' `check`: each returns the violations of one rule.

Every message names the value that is wrong and every hint names the values that work, so
`validate` can say "AI Video API does not accept duration 3" and "use 6–30" in one line.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .wire import Violation


def _list(values: Iterable[Any]) -> str:
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def duration_range(params: Mapping[str, Any], low: int, high: int) -> list[Violation]:
    d = params.get("duration")
    if d is None or low <= d <= high:
        return []
    return [
        Violation(
            "duration",
            f"does not accept duration {d} (it takes {low}–{high} seconds)",
            f"use a duration from {low} to {high}",
        )
    ]


def one_of(params: Mapping[str, Any], name: str, allowed: Collection[Any]) -> list[Violation]:
    """`name`, when given, must be one of `allowed`."""
    value = params.get(name)
    if value is None or value in allowed:
        return []
    return [
        Violation(
            name,
            f"does not accept {name} {value} (it takes {_list(allowed)})",
            f"use {_list(allowed)}",
        )
    ]


def unsupported(params: Mapping[str, Any], names: Iterable[str], why: str = "") -> list[Violation]:
    """Parameters this provider has no field for."""
    out = []
    for name in names:
        if params.get(name) is not None:
            out.append(
                Violation(
                    name,
                    f"has no {name} parameter{': ' + why if why else ''}",
                    f"remove {name} for this provider",
                )
            )
    return out


def prompt_length(prompt: str, limit: int | None, *, required: bool = True) -> list[Violation]:
    if required and not prompt.strip():
        return [Violation("prompt", "needs a prompt, and this one is empty", "write a prompt")]
    if limit is not None and len(prompt) > limit:
        return [
            Violation(
                "prompt",
                f"takes prompts of at most {limit} characters; this one has {len(prompt)}",
                f"shorten the prompt to {limit} characters",
            )
        ]
    return []


def image_count(params: Mapping[str, Any], limit: int = 7) -> list[Violation]:
    refs = params.get("reference_images")
    if refs is None or len(refs) <= limit:
        return []
    return [
        Violation(
            "reference_images",
            f"takes at most {limit} reference images, not {len(refs)}",
            f"keep {limit} or fewer",
        )
    ]


def extra_fields(
    params: Mapping[str, Any], allowed: Mapping[str, type | tuple[type, ...]]
) -> list[Violation]:
    """`extra` may only carry the provider fields in `allowed` (name → accepted types)."""
    extra = params.get("extra") or {}
    out = []
    for name, value in extra.items():
        kinds = allowed.get(name)
        if kinds is None:
            known = ", ".join(sorted(allowed)) or "none"
            out.append(
                Violation(
                    "extra",
                    f"has no field {name!r} (extra fields it accepts: {known})",
                    "remove it from extra, or use the shared parameter that does the job",
                )
            )
        elif not isinstance(value, kinds) or (kinds is int and isinstance(value, bool)):
            out.append(
                Violation(
                    "extra",
                    f"field {name!r} must be {_type_names(kinds)}, not {value!r}",
                    f"give {name} as {_type_names(kinds)}",
                )
            )
    return out


def _type_names(kinds: type | tuple[type, ...]) -> str:
    names = {bool: "true/false", str: "a string", int: "an integer", list: "a list"}
    items = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(names.get(k, k.__name__) for k in items)


def video_only(params: Mapping[str, Any]) -> list[Violation]:
    if params.get("type", "video") == "video":
        return []
    return [
        Violation(
            "type",
            f"makes videos only, not {params.get('type')}s",
            "use vydra for text-to-image, or remove type: image",
        )
    ]
