"""The HTML report: one self-contained static page showing every job of a batch.

Invariants:

* Every string that comes from a manifest or a provider (prompts, coordinates, errors,
  paths, provider and model names) goes through `html.escape` and lands only in text or in
  double-quoted attributes; JSON inside <script> has `<`, `>` and `&` escaped, so no value
  can close the script element or open markup.
* The page loads nothing from the network: no CDN, no fonts, no remote media. Its
  Content-Security-Policy says so, and media paths are relative to the report's directory,
  so the page works from file:// and survives moving the report together with the outputs.
* Without JavaScript every card is shown; the script only hides, filters and regroups.
* Nothing here reads the environment: a JobRow holds no secret, and the page holds only
  what the rows hold.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .files import write_text_atomic
from .formatting import amount, basis_mark
from .state.base import JobRow, JobState

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
# Above this many videos, browsers would open a connection per <video> just for metadata;
# "none" keeps a page of thousands of clips light until one is played. Cards also carry
# `content-visibility: auto`, so the browser lays out only those near the viewport: with
# 5,000 video cards that took headless Chromium from ~24 s to ~5 s before the page was live.
PRELOAD_LIMIT = 200
# Outcomes first, so the totals answer "how did it go" before "what is left".
_STATE_ORDER = (
    JobState.DONE,
    JobState.FAILED,
    JobState.AMBIGUOUS,
    JobState.READY,
    JobState.RUNNING,
    JobState.SUBMITTING,
    JobState.PENDING,
)
# Hash keys the script reserves; an axis with one of these names is filtered as "coord.NAME".
_RESERVED_KEYS = frozenset({"state", "q", "group"})

# media-src/img-src allow file: (and 'self', which is file: when opened from disk) so the
# clips next to the report play; nothing may connect anywhere.
CSP = (
    "default-src 'none'; media-src 'self' file: data:; img-src 'self' file: data:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def render_report(
    rows: Iterable[JobRow],
    *,
    manifest_name: str,
    output_dir: Path,
    report_path: Path,
    units: Mapping[str, str] = {},
    generated_at: str | None = None,
) -> str:
    """The report page for rows, with media paths relative to report_path's directory."""
    jobs = list(rows)
    generated = generated_at or _now()
    axes = _axes(jobs)
    videos = sum(1 for j in jobs if j.state is JobState.DONE and not _is_image(j))
    preload = "none" if videos > PRELOAD_LIMIT else "metadata"
    base = Path(os.path.abspath(report_path)).parent
    cards = "\n".join(
        _card(j, axes=axes, base=base, output_dir=output_dir, preload=preload) for j in jobs
    )
    title = f"grokbatch · {manifest_name}"
    script_data = {
        "axes": [{"name": a.name, "key": a.key, "attr": a.attr, "values": a.values} for a in axes],
        "states": [s.value for s in JobState],
    }
    return _PAGE.format(
        csp=escape(CSP),
        title=escape(title),
        manifest=escape(manifest_name),
        generated=escape(generated),
        count=len(jobs),
        totals=_totals(jobs, units),
        controls=_controls(jobs, axes),
        cards=cards,
        data=_script_json(script_data),
        css=_asset("report.css"),
        js=_asset("report.js"),
    )


def write_report(
    rows: Iterable[JobRow],
    *,
    manifest_name: str,
    output_dir: Path,
    report_path: Path,
    units: Mapping[str, str] = {},
) -> Path:
    """Render the report and replace report_path with it atomically; returns report_path."""
    page = render_report(
        rows,
        manifest_name=manifest_name,
        output_dir=output_dir,
        report_path=report_path,
        units=units,
    )
    # Atomic, and readable as the umask allows (mkstemp would leave it 0o600).
    write_text_atomic(report_path, page)
    return report_path


# --- pieces --------------------------------------------------------------------------------


class _Axis:
    """A filterable dimension: a grid coordinate, or provider/model when not one already."""

    def __init__(self, name: str, index: int, values: list[str], *, coord: bool) -> None:
        self.name = name
        self.attr = f"data-a{index}"  # our own attribute name: axis names can be anything
        self.key = f"coord.{name}" if name in _RESERVED_KEYS else name
        self.values = values
        self.coord = coord

    def value(self, job: JobRow) -> str | None:
        if self.coord:
            return _text(job.coords[self.name]) if self.name in job.coords else None
        return job.provider if self.name == "provider" else job.model


def _axes(jobs: list[JobRow]) -> list[_Axis]:
    names: dict[str, None] = {}  # first-seen order: the manifest's own order of axes
    for job in jobs:
        names.update(dict.fromkeys(job.coords))
    found: list[tuple[str, bool, list[Any]]] = [
        (n, True, [j.coords[n] for j in jobs if n in j.coords]) for n in names
    ]
    if "provider" not in names:
        found.append(("provider", False, [j.provider for j in jobs]))
    if "model" not in names and any(j.model for j in jobs):
        found.append(("model", False, [j.model for j in jobs if j.model]))
    axes = []
    for i, (name, coord, raw) in enumerate(found):
        values = {_text(v): v for v in raw}
        ordered = sorted(values, key=lambda t: _sort_key(values[t]))
        axes.append(_Axis(name, i, ordered, coord=coord))
    return axes


def _sort_key(value: Any) -> tuple[int, float, str]:
    # Numbers in numeric order (6 before 10), then everything else as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, _text(value))


def _totals(jobs: list[JobRow], units: Mapping[str, str]) -> str:
    by_state = {s: 0 for s in JobState}
    for job in jobs:
        by_state[job.state] += 1
    tiles = [f'<div class="tile"><b>{len(jobs)}</b><span>jobs</span></div>']
    tiles += [
        f'<div class="tile"><b>{by_state[s]}</b><span class="badge s-{s.value}">{s.value}</span>'
        "</div>"
        for s in _STATE_ORDER
        if by_state[s]
    ]
    span, busy = _elapsed(jobs)
    if span is not None:
        tiles.append(f'<div class="tile"><b>{_duration(span)}</b><span>elapsed</span></div>')
    if busy is not None:
        tiles.append(f'<div class="tile"><b>{_duration(busy)}</b><span>job time</span></div>')

    providers: dict[str, list[JobRow]] = {}
    for job in jobs:
        providers.setdefault(job.provider, []).append(job)
    lines = []
    for name, pjobs in providers.items():
        marks = "".join(sorted({basis_mark(j.price_basis) for j in pjobs}))
        reported = [j.charged_credits for j in pjobs if j.charged_credits is not None]
        est_usd = [j.estimated_usd for j in pjobs if j.estimated_usd is not None]
        spent_usd = sum(j.spent_usd for j in pjobs)
        lines.append(
            "<tr>"
            f"<th>{escape(name)}</th><td>{len(pjobs)}</td>"
            f"<td>{_num(sum(j.estimated_credits for j in pjobs))}{marks}</td>"
            f"<td>{_num(sum(j.spent_credits for j in pjobs))}</td>"
            f"<td>{_num(sum(j.reserved_credits for j in pjobs))}</td>"
            f"<td>{_num(sum(reported)) if reported else '–'}"
            f'<small class="muted"> ({len(reported)} jobs)</small></td>'
            f"<td>{escape(units.get(name, 'credits'))}</td>"
            f"<td>{_usd(sum(est_usd)) if est_usd else '–'}</td>"
            f"<td>{_usd(spent_usd) if spent_usd or est_usd else '–'}</td>"
            "</tr>"
        )
    guessed = any(basis_mark(j.price_basis) for j in jobs)
    table = (
        '<div class="scroll"><table class="money"><thead><tr><th>provider</th><th>jobs</th>'
        "<th>estimated</th>"
        '<th title="charged as far as the budget knows: reported charges, else estimates">'
        "spent</th><th>in flight</th><th>reported by provider</th><th>unit</th>"
        "<th>USD est.</th><th>USD spent</th></tr></thead><tbody>"
        + "".join(lines)
        + "</tbody></table></div>"
        '<p class="note">'
        + ("* declared price (from the manifest) · ~ guessed price · " if guessed else "")
        + "spent = charges the provider reported, else the estimate for jobs that ran</p>"
    )
    return f'<div class="tiles">{"".join(tiles)}</div>{table}'


def _controls(jobs: list[JobRow], axes: list[_Axis]) -> str:
    parts = []
    for axis in axes:
        options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in axis.values)
        parts.append(
            f'<label>{escape(axis.name)}<select data-filter="{escape(axis.key)}">'
            f'<option value="">all</option>{options}</select></label>'
        )
    present = [s for s in JobState if any(j.state is s for j in jobs)]
    options = "".join(f'<option value="{s.value}">{s.value}</option>' for s in present)
    parts.append(
        f'<label>state<select data-filter="state"><option value="">all</option>{options}'
        "</select></label>"
    )
    groups = "".join(f'<option value="{escape(a.key)}">{escape(a.name)}</option>' for a in axes)
    parts.append(
        '<label>group by<select id="group"><option value="">nothing</option>'
        f'{groups}<option value="state">state</option></select></label>'
    )
    parts.append(
        '<label class="search">search<input id="q" type="search" '
        'placeholder="prompt, coordinate, error…"></label>'
    )
    parts.append('<span id="shown" class="muted"></span>')
    return "".join(parts)


def _card(job: JobRow, *, axes: list[_Axis], base: Path, output_dir: Path, preload: str) -> str:
    state = job.state.value
    attrs = [f'data-state="{state}"', f'data-key="{escape(job.key)}"']
    for axis in axes:
        value = axis.value(job)
        if value is not None:
            attrs.append(f'{axis.attr}="{escape(value)}"')
    src = _media_url(output_dir / job.output_path, base)
    if job.state is JobState.DONE and _is_image(job):
        media = f'<img src="{src}" alt="{escape(job.prompt_id)}" loading="lazy" decoding="async">'
    elif job.state is JobState.DONE:
        media = f'<video controls preload="{preload}" muted loop playsinline src="{src}"></video>'
    else:
        detail = f"<small>{escape(job.remote_status)}</small>" if job.remote_status else ""
        media = f'<div class="placeholder s-{state}"><span>{state}</span>{detail}</div>'
    prompt = str(job.request.get("prompt", ""))
    chips = "".join(
        f'<span class="chip"><i>{escape(str(k))}</i>{escape(_text(v))}</span>'
        for k, v in job.coords.items()
    )
    who = escape(job.provider) + (f" · {escape(job.model)}" if job.model else "")
    took = _took(job)
    facts = [
        f"<dt>credits</dt><dd>est {_num(job.estimated_credits)}"
        f"{basis_mark(job.price_basis)}"
        + (f" · charged {_num(job.charged_credits)}" if job.charged_credits is not None else "")
        + (f" · spent {_num(job.spent_credits)}" if job.spent_credits else "")
        + "</dd>"
    ]
    if job.estimated_usd is not None or job.spent_usd:
        facts.append(
            f"<dt>USD</dt><dd>est {_usd(job.estimated_usd or 0.0)}"
            + (f" · spent {_usd(job.spent_usd)}" if job.spent_usd else "")
            + "</dd>"
        )
    if job.remote_status and job.state is not JobState.DONE:
        facts.append(f"<dt>remote</dt><dd>{escape(job.remote_status)}</dd>")
    if job.attempts > 1:
        facts.append(f"<dt>attempts</dt><dd>{job.attempts}</dd>")
    if job.sha256:
        facts.append(
            f'<dt>sha256</dt><dd><code title="{escape(job.sha256)}">{escape(job.sha256[:12])}'
            "</code>" + (f" · {_bytes(job.size)}" if job.size is not None else "") + "</dd>"
        )
    error = ""
    if job.error or job.error_kind:
        kind = f"<b>{escape(job.error_kind)}</b> " if job.error_kind else ""
        error = f'<p class="error">{kind}{escape(job.error or "")}</p>'
    return (
        f'<article class="card" {" ".join(attrs)}>'
        f'<div class="media">{media}</div><div class="body">'
        f'<div class="head"><span class="badge s-{state}">{state}</span>'
        f'<span class="who">{who}</span>'
        + (f'<span class="took" title="submitted → finished">{took}</span>' if took else "")
        + "</div>"
        f'<p class="prompt" title="{escape(prompt)}">{escape(prompt)}</p>'
        f'<div class="chips">{chips}</div>{error}<dl>{"".join(facts)}</dl>'
        f'<a class="path" href="{src}">{escape(job.output_path)}</a>'
        "</div></article>"
    )


# --- helpers -------------------------------------------------------------------------------


def _is_image(job: JobRow) -> bool:
    suffix = Path(job.output_path).suffix.lower()
    if suffix:
        return suffix in IMAGE_SUFFIXES
    params = job.request.get("params")
    return isinstance(params, Mapping) and params.get("type") == "image"


def _media_url(target: Path, base: Path) -> str:
    """A URL for target relative to the directory base, escaped for an HTML attribute."""
    try:
        rel = os.path.relpath(os.path.abspath(target), base)
    except ValueError:  # another drive on Windows: no relative path exists
        return escape(Path(os.path.abspath(target)).as_uri())
    # Quote each segment fully: a space, '#' or '?' would otherwise cut the URL short, and a
    # ':' in the first segment would read as a scheme.
    return escape("/".join(quote(part, safe="") for part in rel.split(os.sep)))


def _script_json(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False)
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, code)
    # U+2028/2029 end a line in older JavaScript parsers.
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _num(float(value))
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _num(value: float | None) -> str:
    return "–" if value is None else amount(value)


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _bytes(size: int | None) -> str:
    amount = float(size or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return ""  # pragma: no cover - the loop always returns


def _parse(stamp: str | None) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _took(job: JobRow) -> str:
    start, end = _parse(job.submitted_at), _parse(job.finished_at)
    return _duration((end - start).total_seconds()) if start and end else ""


def _elapsed(jobs: list[JobRow]) -> tuple[float | None, float | None]:
    """Wall-clock span from the first submit to the last finish, and summed job time."""
    starts = [s for j in jobs if (s := _parse(j.submitted_at))]
    ends = [e for j in jobs if (e := _parse(j.finished_at))]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    busy = [
        (e - s).total_seconds()
        for j in jobs
        if (s := _parse(j.submitted_at)) and (e := _parse(j.finished_at))
    ]
    return span, (sum(busy) if busy else None)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body><header><h1>{manifest}</h1>
<p class="muted">{count} jobs · generated {generated} by grokbatch</p>
<section id="totals">{totals}</section></header>
<nav id="controls" hidden>{controls}</nav>
<main id="groups"><section class="group"><div class="grid">
{cards}
</div></section></main>
<script type="application/json" id="gb-data">{data}</script>
<script>{js}</script></body></html>
"""


@cache
def _asset(name: str) -> str:
    """The page's stylesheet and script, kept as real .css/.js files beside the code."""
    return resources.files("grokbatch").joinpath("assets", name).read_text(encoding="utf-8")
