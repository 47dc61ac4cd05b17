"""Reading providers' answers: the rules every adapter shares.

Each helper takes raw JSON values as a provider sent them and returns grokbatch's own
(a RemoteState, a float, a message), never raising on an odd value except `require`,
whose ProtocolError names what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ProtocolError
from .wire import Polled, RemoteState


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if any."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: rare from APIs; the caller's own backoff applies
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def opt_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def classify(status: Any, table: Mapping[str, RemoteState]) -> tuple[RemoteState, bool]:
    """A provider's status name → (state, recognised); unknown names count as running."""
    state = table.get(str(status).lower())
    return (state, True) if state is not None else (RemoteState.RUNNING, False)


def message_of(error: Any) -> str | None:
    """An error given as a string, or as an object with a message, as text."""
    if error is None or error == "":
        return None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("error") or error.get("code") or error)
    return str(error)


def code_of(error: Any) -> str | None:
    if isinstance(error, dict):
        code = error.get("code") or error.get("name") or error.get("type")
        return None if code is None else str(code)
    return None


MODERATION_WORDS = ("moderat", "content policy", "nsfw", "safety", "violat", "inappropriate")


def looks_moderated(*texts: str | None) -> bool:
    """Whether a failure reads as a content-moderation refusal."""
    joined = " ".join(t for t in texts if t).lower()
    return any(word in joined for word in MODERATION_WORDS)


def make_polled(
    status: Any,
    table: Mapping[str, RemoteState],
    *,
    urls: Any = (),
    error: Any = None,
    charged: Any = None,
    usd: Any = None,
    progress: Any = None,
    refunds_failures: bool = False,
    moderated: bool = False,
) -> Polled:
    """A Polled from a provider's raw fields, with the rules every adapter shares.

    Unknown status names count as running (and are flagged); a "success" without any output
    URL is a failure; a failure whose message reads as moderation is marked moderated.
    """
    name = str(status)
    state, known = classify(name, table)
    found = tuple(u for u in _urls(urls) if u)
    message, code = message_of(error), code_of(error)
    if state is RemoteState.SUCCEEDED and not found:
        state = RemoteState.FAILED
        message = message or f"the provider reports {name} but gives no output URL"
    failed = state is RemoteState.FAILED
    return Polled(
        state=state,
        status=name,
        output_urls=found if state is RemoteState.SUCCEEDED else (),
        charged=opt_float(charged),
        usd=opt_float(usd),
        error=message if failed else None,
        error_code=code if failed else None,
        moderated=failed and (moderated or looks_moderated(message, code)),
        progress=opt_float(progress),
        refunded=failed and refunds_failures,
        recognised=known,
    )


def _urls(value: Any) -> list[str]:
    """Every URL in a string, a list, or an object holding them (APIFrame's `result`)."""
    if isinstance(value, str):
        return [value] if value.startswith(("http://", "https://")) else []
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, (list, tuple)):
        return [u for v in value for u in _urls(v)]
    return []


def require(body: Any, *path: str) -> Any:
    """body[path...] or a ProtocolError naming what is missing."""
    cur = body
    for part in path:
        if not isinstance(cur, dict) or part not in cur or cur[part] is None:
            raise ProtocolError(f"answer has no {'.'.join(path)}: {str(body)[:200]}")
        cur = cur[part]
    return cur
