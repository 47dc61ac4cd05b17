"""Request-body checks the emulated APIs share; each appends what is wrong to `problems`.

Strict on types as a typed API is: `6.0` is not an integer, `"5"` is not a number, `true`
is not an integer, and a URL is an absolute http(s) URL with a host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(body: dict[str, Any], name: str, low: int, high: int, problems: list[str]) -> None:
    value = body.get(name)
    if name in body and not (isinstance(value, int) and is_int(value) and low <= value <= high):
        problems.append(f"{name} must be an integer from {low} to {high}")


def check_enum(
    body: dict[str, Any], name: str, allowed: tuple[Any, ...], problems: list[str]
) -> None:
    value = body.get(name)
    if name in body and (isinstance(value, bool) or value not in allowed):
        problems.append(f"{name} must be one of {', '.join(map(str, allowed))}")


def check_url(value: Any) -> bool:
    """An absolute http(s) URL with a host."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_url_field(body: dict[str, Any], name: str, problems: list[str]) -> None:
    if name in body and not check_url(body[name]):
        problems.append(f"{name} must be an absolute http(s) URL")


def check_urls(value: Any, name: str, most: int, problems: list[str], least: int = 1) -> None:
    if value is None:
        return
    if (
        not isinstance(value, list)
        or not least <= len(value) <= most
        or not all(check_url(v) for v in value)
    ):
        problems.append(f"{name} must be a list of {least} to {most} http(s) URLs")


def check_bool(body: dict[str, Any], name: str, problems: list[str]) -> None:
    if name in body and not isinstance(body[name], bool):
        problems.append(f"{name} must be a boolean")


def check_prompt(
    body: dict[str, Any], problems: list[str], *, required: bool, most: int | None
) -> None:
    prompt = body.get("prompt")
    if prompt is None or prompt == "":
        if required or (prompt is None and "prompt" in body):
            problems.append("prompt is required" if required else "prompt must be a string")
        return
    if not isinstance(prompt, str):
        problems.append("prompt must be a string")
    elif most is not None and len(prompt) > most:
        problems.append(f"prompt must be at most {most} characters")


def unknown_keys(body: dict[str, Any], allowed: set[str], problems: list[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        problems.append(f"unknown field(s): {', '.join(extra)}")
