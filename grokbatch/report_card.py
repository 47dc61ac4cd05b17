"""One job's card in the HTML report: its media, source images, prompt, figures and findings.

Every string from a manifest or a provider goes through `html.escape` and lands only in
text or in double-quoted attributes. Source images are remote URLs the page must not load
(it is self-contained): each is a link that opens only when clicked, and only when it is
http(s) — a `javascript:` URL would run in the page. A `data:image/…` URL is local content
and is shown.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from html import escape
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from .formatting import BASIS_MARK, amount, usd
from .jobview import JobView
from .state.base import JobRow, JobState

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
_LINKABLE = ("http", "https")


def card(
    view: JobView,
    *,
    attrs: list[str],
    src: str,
    preload: str,
) -> str:
    """The card of one job; attrs are its (already escaped) filter attributes."""
    job = view.row
    state = job.state.value
    attrs = [f'data-state="{state}"', f'data-key="{escape(job.key)}"', *attrs]
    if view.mismatches:
        attrs.append('data-mismatch="1"')
    if job.state is JobState.DONE and is_image(job):
        media = f'<img src="{src}" alt="{escape(job.prompt_id)}" loading="lazy" decoding="async">'
    elif job.state is JobState.DONE:
        media = f'<video controls preload="{preload}" muted loop playsinline src="{src}"></video>'
    else:
        detail = f"<small>{escape(job.remote_status)}</small>" if job.remote_status else ""
        media = f'<div class="placeholder s-{state}"><span>{state}</span>{detail}</div>'
    prompt = str(job.request.get("prompt", ""))
    chips = "".join(
        f'<span class="chip"><i>{escape(str(k))}</i>{escape(text(v))}</span>'
        for k, v in job.coords.items()
    )
    who = escape(job.provider) + (f" · {escape(job.model)}" if job.model else "")
    took = _took(job)
    error = ""
    if job.error or job.error_kind:
        kind = f"<b>{escape(job.error_kind)}</b> " if job.error_kind else ""
        error = f'<p class="error">{kind}{escape(job.error or "")}</p>'
    findings = ""
    if view.mismatches:
        items = "".join(f"<li>{escape(m)}</li>" for m in view.mismatches)
        findings = f'<div class="mismatch"><b>differs from the request</b><ul>{items}</ul></div>'
    return (
        f'<article class="card" {" ".join(attrs)}>'
        f'<div class="media">{media}</div>{_sources(view)}<div class="body">'
        f'<div class="head"><span class="badge s-{state}">{state}</span>'
        f'<span class="who">{who}</span>'
        + (f'<span class="took" title="submitted → finished">{took}</span>' if took else "")
        + "</div>"
        f'<p class="prompt" title="{escape(prompt)}">{escape(prompt)}</p>'
        f'<div class="chips">{chips}</div>{error}{findings}<dl>{"".join(_facts(view))}</dl>'
        f'<a class="path" href="{src}">{escape(job.output_path)}</a>'
        "</div></article>"
    )


def _facts(view: JobView) -> list[str]:
    job = view.row
    credits = f"estimated {amount(job.estimated_credits)}{basis_mark(job.price_basis)}"
    credits += f" · spent {amount(job.spent_credits)}"
    if job.reserved_credits:
        credits += f" · reserved {amount(job.reserved_credits)}"
    facts = [f"<dt>credits</dt><dd>{credits}</dd>"]
    if view.charged_credits is not None:
        refund = " (refunded)" if view.refunded else ""
        facts.append(f"<dt>charged</dt><dd>{amount(view.charged_credits)}{refund}</dd>")
    if view.spent_usd is not None and job.estimated_usd is not None:
        dollars = f"estimated {usd(job.estimated_usd)} · spent {usd(view.spent_usd)}"
        if view.reserved_usd:
            dollars += f" · reserved {usd(view.reserved_usd)}"
        facts.append(f"<dt>USD</dt><dd>{dollars}</dd>")
    if view.probe is not None and view.probe.problem is None:
        got = [f"{view.probe.width}×{view.probe.height}"] if view.probe.width else []
        if view.probe.duration is not None:
            got.insert(0, f"{round(view.probe.duration, 2):g} s")
        facts.append(f"<dt>delivered</dt><dd>{' · '.join(got) or '?'}</dd>")
    if job.remote_status and job.state is not JobState.DONE:
        facts.append(f"<dt>remote</dt><dd>{escape(job.remote_status)}</dd>")
    if job.attempts > 1:
        facts.append(f"<dt>attempts</dt><dd>{job.attempts}</dd>")
    if job.sha256:
        facts.append(
            f'<dt>sha256</dt><dd><code title="{escape(job.sha256)}">{escape(job.sha256[:12])}'
            "</code>" + (f" · {_bytes(job.size)}" if job.size is not None else "") + "</dd>"
        )
    return facts


def _sources(view: JobView) -> str:
    """The job's source image and reference images, beside its clip."""
    items = [("image", "source", view.image)] if view.image else []
    items += [("reference", f"ref {i}", url) for i, url in enumerate(view.reference_images, 1)]
    if not items:
        return ""
    tiles = []
    for role, label, url in items:
        name = escape(_file_name(url))
        if url.startswith("data:image/"):
            body = f'<img src="{escape(url)}" alt="{escape(label)}"><span>{escape(label)}</span>'
            tiles.append(f'<figure class="source" data-role="{role}">{body}</figure>')
        elif urlsplit(url).scheme.lower() in _LINKABLE:
            tiles.append(
                f'<a class="source" data-role="{role}" href="{escape(url)}" title="{escape(url)}" '
                f'target="_blank" rel="noopener noreferrer"><span>{escape(label)}</span>{name}</a>'
            )
        else:
            tiles.append(
                f'<span class="source" data-role="{role}" title="{escape(url)}">'
                f"<span>{escape(label)}</span>{name}</span>"
            )
    return f'<div class="sources">{"".join(tiles)}</div>'


def _file_name(url: str) -> str:
    if url.startswith("data:"):
        return url.split(",", 1)[0][5:] or "data"
    parts = urlsplit(url)
    name = PurePosixPath(parts.path).name
    return name or parts.netloc or url[:40]


# --- helpers shared with the page ----------------------------------------------------------


def basis_mark(basis: str) -> str:
    """An estimate's mark; a basis this version does not know is no better than a guess."""
    return BASIS_MARK.get(basis, "~")


def is_image(job: JobRow) -> bool:
    suffix = Path(job.output_path).suffix.lower()
    if suffix:
        return suffix in IMAGE_SUFFIXES
    params = job.request.get("params")
    return isinstance(params, Mapping) and params.get("type") == "image"


def media_url(target: Path, base: Path) -> str:
    """A URL for target relative to the directory base, escaped for an HTML attribute."""
    try:
        rel = os.path.relpath(os.path.abspath(target), base)
    except ValueError:  # another drive on Windows: no relative path exists
        return escape(Path(os.path.abspath(target)).as_uri())
    # Quote each segment fully: a space, '#' or '?' would otherwise cut the URL short, and a
    # ':' in the first segment would read as a scheme.
    return escape("/".join(quote(part, safe="") for part in rel.split(os.sep)))


def text(value: Any) -> str:
    """A coordinate value as shown and filtered on."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return amount(float(value))
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _bytes(size: int | None) -> str:
    value = float(size or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover - the loop always returns


def parse_time(stamp: str | None) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _took(job: JobRow) -> str:
    start, end = parse_time(job.submitted_at), parse_time(job.finished_at)
    return duration((end - start).total_seconds()) if start and end else ""


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
