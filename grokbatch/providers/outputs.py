"""Finding a job's output URL in an answer, and refusing what is not one.

An output URL is downloaded without a key, written to the user's disk and shown in reports,
so only absolute http(s) URLs with a host count: a `data:`, `file:` or `javascript:` value,
or text with spaces or control characters in it, is treated as no URL at all.

Where a provider's result may hold several URLs of different kinds (APIFrame's `result` is a
string, an object or an array, nested as it likes), `media_urls` picks the ones that are the
job's own output: a video job never downloads the poster, thumbnail or preview image that
often sits beside the video.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".m4v", ".mkv", ".avi")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp")
# Keys (as substrings of the lower-cased key) whose URLs are never a job's output: stills
# shown before or instead of a video, and the job's own inputs echoed back.
NOT_OUTPUT_KEYS = (
    "thumb",
    "poster",
    "preview",
    "cover",
    "still",
    "frame",
    "sprite",
    "reference",
    "input",
    "mask",
    "watermark",
)
# Keys that name a kind: {"video": URL}, {"videoUrl": URL}, {"images": [URL]}.
KIND_KEYS = {"video": ("video", "mp4", "clip", "movie"), "image": ("image", "img", "photo")}
# Sibling fields that state a URL's content type: {"url": URL, "contentType": "video/mp4"}.
TYPE_KEYS = ("content_type", "contenttype", "mime_type", "mimetype", "mime", "media_type", "type")
_MAX_DEPTH = 16
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f]")


def is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host, and nothing in it a browser would choke on."""
    if not isinstance(value, str) or len(value) > 8192 or _BAD_CHARS.search(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def http_urls(value: Any) -> tuple[str, ...]:
    """Every http(s) URL in a string, a list, or an object holding them, first seen first."""
    return tuple(dict.fromkeys(c.url for c in _walk(value, _Context(), 0)))


def media_urls(value: Any, kind: str) -> tuple[tuple[str, ...], str]:
    """The URLs in `value` that can be a `kind` ("video" or "image") output, best first.

    A URL counts as a video or an image by, in this order: a content type stated beside it,
    its path's extension, the name of the key it sits under. URLs under a thumbnail, poster,
    preview (… NOT_OUTPUT_KEYS) key never count, nor URLs of the other kind. URLs known to be
    of `kind` come first; URLs of unknown kind follow (signed URLs often have no extension;
    the download checks the content type and the file's first bytes). When nothing is left,
    the second value says what was found instead, for the job's error.
    """
    candidates = list(_walk(value, _Context(), 0))
    usable = [c for c in candidates if not c.excluded and c.kind in (kind, None)]
    ranked = sorted(usable, key=lambda c: c.kind != kind)  # stable: first seen first
    urls = tuple(dict.fromkeys(c.url for c in ranked))
    if urls:
        return urls, ""
    if not candidates:
        return (), f"the result holds no http(s) URL: {_shown(value)}"
    seen = ", ".join(sorted({c.describe() for c in candidates}))
    return (), f"the result holds no {kind} URL, only {seen}"


@dataclass(frozen=True)
class _Context:
    excluded_by: str | None = None  # the key that makes everything below not an output
    stated: str | None = None  # the kind a content type field beside it states
    named: str | None = None  # the kind the enclosing keys' names suggest


@dataclass(frozen=True)
class _Candidate:
    url: str
    kind: str | None
    excluded_by: str | None

    @property
    def excluded(self) -> bool:
        return self.excluded_by is not None

    def describe(self) -> str:
        if self.excluded_by:
            return f"{self.kind or 'a'} URL under {self.excluded_by!r}"
        return f"{self.kind or 'an unknown'} URL"


def _walk(value: Any, ctx: _Context, depth: int) -> list[_Candidate]:
    if depth > _MAX_DEPTH:
        return []
    if isinstance(value, str):
        if not is_http_url(value):
            return []
        kind = ctx.stated or _kind_of_url(value) or ctx.named
        return [_Candidate(value, kind, ctx.excluded_by)]
    if isinstance(value, (list, tuple)):
        return [c for item in value for c in _walk(item, ctx, depth + 1)]
    if not isinstance(value, dict):
        return []
    stated = _stated_kind(value) or ctx.stated
    out: list[_Candidate] = []
    for key, item in value.items():
        name = str(key).lower()
        if name in TYPE_KEYS:
            continue
        excluded = ctx.excluded_by or next(
            (str(key) for word in NOT_OUTPUT_KEYS if word in name), None
        )
        named = _kind_of_key(name) or ctx.named
        out.extend(_walk(item, _Context(excluded, stated, named), depth + 1))
    return out


def _kind_of_url(url: str) -> str | None:
    path = urlsplit(url).path.lower()
    if path.endswith(VIDEO_EXTENSIONS):
        return "video"
    if path.endswith(IMAGE_EXTENSIONS):
        return "image"
    return None


def _kind_of_key(name: str) -> str | None:
    for kind, words in KIND_KEYS.items():
        if any(word in name for word in words):
            return kind
    return None


def _stated_kind(obj: dict[Any, Any]) -> str | None:
    for key, value in obj.items():
        if str(key).lower() in TYPE_KEYS and isinstance(value, str):
            # A MIME type or a bare kind; not "image-to-video", a mode some APIs echo back.
            stated = value.strip().lower()
            for kind in KIND_KEYS:
                if stated == kind or stated.startswith(kind + "/"):
                    return kind
            if "." + stated in VIDEO_EXTENSIONS:
                return "video"
            if "." + stated in IMAGE_EXTENSIONS:
                return "image"
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"
