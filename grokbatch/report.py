"""The HTML report: one self-contained static page showing every job of a batch.

Invariants:

* Every string that comes from a manifest or a provider (prompts, coordinates, errors,
  paths, source image URLs, provider and model names) goes through `html.escape` and lands
  only in text or in double-quoted attributes; JSON inside <script> has `<`, `>` and `&`
  escaped, so no value can close the script element or open markup.
* The page loads nothing from the network: no CDN, no fonts, no remote media. Its
  Content-Security-Policy says so, and media paths are relative to the report's directory,
  so the page works from file:// and survives moving the report together with the outputs.
* Without JavaScript every card is shown; the script only hides, filters, regroups and
  lays cards out as a contact sheet (rows × columns of two axes).
* Money figures are the ledger's (see jobview.py); a USD total is shown only when every
  provider's USD price is known, otherwise the page names the providers that lack one.
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

from .files import write_text_atomic
from .formatting import amount, usd
from .jobview import JobView, Viewer
from .report_card import (
    basis_mark,
    card,
    duration,
    is_image,
    media_url,
    parse_time,
    text,
)
from .state.base import JobRow, JobState

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
_RESERVED_KEYS = frozenset({"state", "q", "group", "rows", "cols"})

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
    views = Viewer(output_dir=output_dir).views(rows)
    jobs = [v.row for v in views]
    generated = generated_at or _now()
    axes = _axes(jobs)
    videos = sum(1 for j in jobs if j.state is JobState.DONE and not is_image(j))
    preload = "none" if videos > PRELOAD_LIMIT else "metadata"
    base = Path(os.path.abspath(report_path)).parent
    cards = "\n".join(
        card(
            v,
            attrs=_axis_attrs(v.row, axes),
            src=media_url(output_dir / v.row.output_path, base),
            preload=preload,
        )
        for v in views
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
        totals=_totals(views, units),
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
    return write_text_atomic(report_path, page)


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
            return text(job.coords[self.name]) if self.name in job.coords else None
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
        values = {text(v): v for v in raw}
        ordered = sorted(values, key=lambda t: _sort_key(values[t]))
        axes.append(_Axis(name, i, ordered, coord=coord))
    return axes


def _axis_attrs(job: JobRow, axes: list[_Axis]) -> list[str]:
    found = []
    for axis in axes:
        value = axis.value(job)
        if value is not None:
            found.append(f'{axis.attr}="{escape(value)}"')
    return found


def _sort_key(value: Any) -> tuple[int, float, str]:
    # Numbers in numeric order (6 before 10), then everything else as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, text(value))


def _totals(views: list[JobView], units: Mapping[str, str]) -> str:
    jobs = [v.row for v in views]
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
    differ = sum(1 for v in views if v.mismatches)
    if differ:
        tiles.append(
            f'<div class="tile warn" id="differ"><b>{differ}</b>'
            "<span>differ from the request</span></div>"
        )
    span, busy = _elapsed(jobs)
    if span is not None:
        tiles.append(f'<div class="tile"><b>{duration(span)}</b><span>elapsed</span></div>')
    if busy is not None:
        tiles.append(f'<div class="tile"><b>{duration(busy)}</b><span>job time</span></div>')
    return f'<div class="tiles">{"".join(tiles)}</div>{_money(views, units)}'


def _money(views: list[JobView], units: Mapping[str, str]) -> str:
    """Per provider: estimated, spent, reserved, charged; USD where every price is known."""
    providers: dict[str, list[JobView]] = {}
    for view in views:
        providers.setdefault(view.row.provider, []).append(view)
    lines, unpriced = [], []
    totals = {"estimated": 0.0, "spent": 0.0, "reserved": 0.0}
    for name, pviews in providers.items():
        pjobs = [v.row for v in pviews]
        marks = "".join(sorted({basis_mark(j.price_basis) for j in pjobs}))
        charged = [v.charged_credits for v in pviews if v.charged_credits is not None]
        if all(v.usd_known for v in pviews):
            dollars = {
                "estimated": sum(j.estimated_usd or 0.0 for j in pjobs),
                "spent": sum(v.spent_usd or 0.0 for v in pviews),
                "reserved": sum(v.reserved_usd or 0.0 for v in pviews),
            }
            for k in totals:
                totals[k] += dollars[k]
            cells = "".join(f"<td>{usd(dollars[k])}</td>" for k in totals)
        else:
            unpriced.append(name)
            cells = '<td colspan="3" class="muted">no USD price</td>'
        lines.append(
            "<tr>"
            f"<th>{escape(name)}</th><td>{len(pjobs)}</td>"
            f"<td>{escape(units.get(name, 'credits'))}</td>"
            f"<td>{amount(sum(j.estimated_credits for j in pjobs))}{marks}</td>"
            f"<td>{amount(sum(j.spent_credits for j in pjobs))}</td>"
            f"<td>{amount(sum(j.reserved_credits for j in pjobs))}</td>"
            f"<td>{amount(sum(charged)) if charged else '–'}"
            f'<small class="muted"> ({len(charged)} jobs)</small></td>'
            f"{cells}</tr>"
        )
    if providers and not unpriced:
        cells = "".join(f"<td>{usd(totals[k])}</td>" for k in totals)
        lines.append(f'<tr class="total"><th>all providers</th><td colspan="6"></td>{cells}</tr>')
    guessed = any(basis_mark(v.row.price_basis) for v in views)
    notes = []
    if unpriced:
        names = ", ".join(escape(n) for n in unpriced)
        notes.append(
            f'<p class="note" id="no-usd-total">No USD total: no USD price is known for {names} '
            "(declare one as prices.&lt;provider&gt;.usd_per_credit).</p>"
        )
    return (
        '<div class="scroll"><table class="money"><thead><tr><th>provider</th><th>jobs</th>'
        "<th>unit</th><th>estimated</th>"
        '<th title="what the budget counts as charged: reported charges, else the estimate">'
        "spent</th>"
        '<th title="held for jobs in flight">reserved</th>'
        '<th title="what providers reported, 0 where they refunded">charged by provider</th>'
        "<th>USD estimated</th><th>USD spent</th><th>USD reserved</th></tr></thead><tbody>"
        + "".join(lines)
        + "</tbody></table></div>"
        + "".join(notes)
        + '<p class="note">'
        + ("* declared price (from the manifest) · ~ guessed price · " if guessed else "")
        + "spent = charges the provider reported, else the estimate for jobs that ran; "
        "a refunded job is charged 0</p>"
    )


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
    layouts = "".join(f'<option value="{escape(a.key)}">{escape(a.name)}</option>' for a in axes)
    layouts += '<option value="state">state</option>'
    parts.append(
        f'<label>group by<select id="group"><option value="">nothing</option>{layouts}'
        "</select></label>"
    )
    # The contact sheet: one axis down, one across, a cell per pair holding its takes.
    for ident, label in (("rows", "sheet rows"), ("cols", "sheet columns")):
        parts.append(
            f'<label class="sheet-axis">{label}<select id="{ident}">'
            f'<option value="">—</option>{layouts}</select></label>'
        )
    parts.append(
        '<label class="search">search<input id="q" type="search" '
        'placeholder="prompt, coordinate, error…"></label>'
    )
    parts.append('<span id="shown" class="muted"></span>')
    return "".join(parts)


# --- helpers -------------------------------------------------------------------------------


def _script_json(data: Any) -> str:
    body = json.dumps(data, ensure_ascii=False)
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        body = body.replace(char, code)
    # U+2028/2029 end a line in older JavaScript parsers.
    return body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _elapsed(jobs: list[JobRow]) -> tuple[float | None, float | None]:
    """Wall-clock span from the first submit to the last finish, and summed job time."""
    starts = [s for j in jobs if (s := parse_time(j.submitted_at))]
    ends = [e for j in jobs if (e := parse_time(j.finished_at))]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    busy = [
        (e - s).total_seconds()
        for j in jobs
        if (s := parse_time(j.submitted_at)) and (e := parse_time(j.finished_at))
    ]
    return span, (sum(busy) if busy else None)


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
