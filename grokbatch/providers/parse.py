"""Reading providers' answers: the rules every adapter shares.

Each helper takes raw JSON values as a provider sent them and returns grokbatch's own
(a RemoteState, a float, a message). An answer is never trusted to be well formed: a value
of the wrong type, a NaN, a negative cost or a URL that is not http(s) reads as "not given",
and only `require` and `parse_id` raise, with a ProtocolError naming what is wrong. So a
hostile or broken answer ends as a typed error the runner records, never a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import ProtocolError
from .outputs import http_urls
from .wire import Polled, RemoteState

# A Retry-After longer than this is read as this: a provider (or anything between) must not
# be able to park a whole provider's requests for days with one header.
MAX_RETRY_AFTER = 3600.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, as delta-seconds or as an HTTP date.

    The one parser for every provider and for downloads (RFC 9110 §10.2.3). A date in the
    past means "now" (0); anything unreadable means no header.
    """
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _seconds_until(value: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def opt_float(value: Any) -> float | None:
    """A finite number, or None: NaN, infinities, booleans and text that is no number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def opt_cost(value: Any) -> float | None:
    """A charge as the provider reports it; a negative or non-finite one is unknown."""
    number = opt_float(value)
    return number if number is not None and number >= 0 else None


def opt_progress(value: Any) -> float | None:
    """A progress figure in 0..100, else None."""
    number = opt_float(value)
    return number if number is not None and 0 <= number <= 100 else None


def clean_text(text: str, limit: int = 500) -> str:
    """Provider text fit for a terminal and a log: no control characters, bounded length."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_id(body: Any, *path: str) -> str:
    """The job id at body[path...], as text; ProtocolError when missing or not an id.

    Ids are opaque, but they go into URLs and the state database: a number or a string of
    printable characters, of a sane length. Adapters percent-encode them into paths.
    """
    value = require(body, *path)
    name = ".".join(path)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(f"answer has no usable {name}: {clean_text(repr(value), 200)}")
    text = str(value)
    if not text.strip() or len(text) > 256 or _CONTROL.search(text):
        raise ProtocolError(f"answer's {name} is not an id: {clean_text(repr(text), 200)}")
    return text


def classify(status: Any, table: Mapping[str, RemoteState]) -> tuple[RemoteState, bool]:
    """A provider's status name → (state, recognised); unknown names count as running."""
    state = table.get(str(status).lower())
    return (state, True) if state is not None else (RemoteState.RUNNING, False)


def message_of(error: Any) -> str | None:
    """An error given as a string, or as an object with a message, as text."""
    if error is None or error == "":
        return None
    if isinstance(error, dict):
        error = error.get("message") or error.get("error") or error.get("code") or error
    return clean_text(str(error))


def code_of(error: Any) -> str | None:
    if isinstance(error, dict):
        code = error.get("code") or error.get("name") or error.get("type")
        return None if code is None else clean_text(str(code), 100)
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

    Unknown status names count as running (and are flagged); a "success" without any http(s)
    output URL is a failure, but not a refunded one (the provider counts it a success and
    bills it); a failure whose message reads as moderation is marked moderated.
    """
    name = clean_text(str(status), 100)
    state, known = classify(name, table)
    found = http_urls(urls)
    message, code = message_of(error), code_of(error)
    provider_failed = state is RemoteState.FAILED
    if state is RemoteState.SUCCEEDED and not found:
        state = RemoteState.FAILED
        message = message or f"the provider reports {name} but gives no http(s) output URL"
    failed = state is RemoteState.FAILED
    if failed and not message:
        message = f"the provider reports {name} and gives no reason"
    return Polled(
        state=state,
        status=name,
        output_urls=found if state is RemoteState.SUCCEEDED else (),
        charged=opt_cost(charged),
        usd=opt_cost(usd),
        error=message if failed else None,
        error_code=code if failed else None,
        moderated=failed and (moderated or looks_moderated(message, code)),
        progress=opt_progress(progress),
        refunded=provider_failed and refunds_failures,
        recognised=known,
    )


def require(body: Any, *path: str) -> Any:
    """body[path...] or a ProtocolError naming what is missing."""
    cur = body
    for part in path:
        if not isinstance(cur, dict) or part not in cur or cur[part] is None:
            shown = clean_text(str(body), 200)
            raise ProtocolError(f"answer has no {'.'.join(path)}: {shown}")
        cur = cur[part]
    return cur


def epoch(value: Any) -> float | None:
    """Seconds since the epoch from an ISO-8601 timestamp (a trailing Z is UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def rows_of(body: Any, key: str) -> list[dict[str, Any]]:
    """The list of row objects under `key`; ProtocolError if it is not a list."""
    rows = body.get(key) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ProtocolError(f"a list answer has no {key} list: {clean_text(str(body), 200)}")
    return [row for row in rows if isinstance(row, dict)]


def next_offset(page: str | None, rows: int, limit: int) -> str | None:
    """The next page of an offset-paged list: after a full page, the offset past it."""
    return str(int(page or 0) + rows) if rows >= limit else None
