"""Building blocks for the adapters' `check`: each returns the violations of one rule.

Every message names the value that is wrong and every hint names the values that work, so
`validate` can say "AI Video API does not accept duration 3" and "use 6–30" in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .wire import Violation

# A check of one value: None when it is fine, else what the value must be ("an http(s) URL").
Check = Callable[[Any], str | None]


def _list(values: Iterable[Any]) -> str:
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def duration_range(params: Mapping[str, Any], low: int, high: int) -> list[Violation]:
    d = params.get("duration")
    if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
        whole = isinstance(d, float) and d.is_integer()
        return [
            Violation(
                "duration",
                f"takes whole seconds, not {d!r}",
                f"write {int(d)}" if whole else "use a whole number of seconds",
            )
        ]
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


def extra_fields(params: Mapping[str, Any], allowed: Mapping[str, Check]) -> list[Violation]:
    """`extra` may only carry the provider fields in `allowed`, each passing its check."""
    extra = params.get("extra") or {}
    out = []
    for name, value in extra.items():
        check = allowed.get(name)
        if check is None:
            known = ", ".join(sorted(allowed)) or "none"
            out.append(
                Violation(
                    "extra",
                    f"has no field {name!r} (extra fields it accepts: {known})",
                    "remove it from extra, or use the shared parameter that does the job",
                )
            )
            continue
        wanted = check(value)
        if wanted is not None:
            out.append(
                Violation(
                    "extra",
                    f"field {name!r} must be {wanted}, not {_short(value)}",
                    f"give {name} as {wanted}",
                )
            )
    return out


def http_url(value: Any) -> str | None:
    """An absolute http(s) URL with a host: what every provider fetches or calls back."""
    wanted = "an absolute http:// or https:// URL"
    if not isinstance(value, str) or any(c.isspace() or ord(c) < 32 for c in value):
        return wanted
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return wanted
    return None if parts.scheme in ("http", "https") and host else wanted


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def some_of(options: Collection[str]) -> Check:
    """A non-empty list of values from `options`."""

    def check(value: Any) -> str | None:
        if isinstance(value, list) and value and all(v in options for v in value):
            return None
        return f"a list of one or more of {_list(sorted(options))}"

    return check


def urls(params: Mapping[str, Any]) -> list[Violation]:
    """`image` and every `reference_images` item must be URLs the provider can fetch."""
    out = []
    image = params.get("image")
    # The message leaves the value out, so that 36 rows of local file names are one problem;
    # the fix shows the first of them.
    if image is not None and http_url(image):
        out.append(
            Violation(
                "image",
                "fetches images from absolute http(s) URLs only",
                f"{_short(image)} is not one: give an http:// or https:// URL (a local file "
                "must be uploaded somewhere first)",
            )
        )
    bad = [ref for ref in params.get("reference_images") or () if http_url(ref)]
    if bad:
        out.append(
            Violation(
                "reference_images",
                "fetches reference images from absolute http(s) URLs only",
                f"{_short(bad[0])} is not one: give http:// or https:// URLs",
            )
        )
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
