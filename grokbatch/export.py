"""Export a batch's jobs as CSV or JSON Lines, one row per job.

JSONL streams: one job in memory at a time, coordinates kept as a `coords` object with
their JSON types. CSV needs its header first, and the header has one `coord.<axis>` column
per grid axis found in ANY job, so CSV buffers every row before writing: memory grows with
the batch (about 1-2 KB per job; 100,000 jobs ≈ 150 MB). Use JSONL for larger batches.

CSV cells are guarded against formula injection: a text cell starting with `=`, `+`, `-`,
`@`, a tab or a carriage return would run as a formula in Excel, LibreOffice or Sheets when
opened (prompts and provider errors are not ours to trust), so it is written with a leading
single quote (`'=HYPERLINK(...)`). Numbers grokbatch computes (credits, sizes) are written
as numbers and never prefixed; a coordinate given as the text "-5" is.

The figures are the report's (jobview.py): money as the ledger counts it (a refunded job
was charged 0; USD empty where its price is unknown), the source image and reference
images, and, given the output directory, what was delivered and how it differs from the
request. In CSV, reference images are separated by spaces (as a prompts CSV takes them) and
differences by "; "; JSONL keeps both as lists.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from .errors import InputError
from .jobview import JobView, Viewer
from .state.base import JobRow

FORMATS = ("csv", "jsonl")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Column order: identity, coordinates (CSV only, spliced in after these), then what
# happened, then money, then time.
_HEAD = ("key", "manifest", "provider", "model", "prompt_id")
_TAIL = (
    "prompt",
    "image",
    "reference_images",
    "state",
    "remote_id",
    "remote_status",
    "output_path",
    "size",
    "sha256",
    "delivered_duration",
    "delivered_width",
    "delivered_height",
    "mismatches",
    "estimated_credits",
    "spent_credits",
    "reserved_credits",
    "charged_credits",
    "refunded",
    "estimated_usd",
    "spent_usd",
    "reserved_usd",
    "charged_usd",
    "price_basis",
    "attempts",
    "error_kind",
    "error",
    "submitted_at",
    "finished_at",
)
# Fields a JobView states differently from the stored row (the ledger's reading of it).
_FROM_VIEW = ("image", "refunded", "charged_credits", "charged_usd", "spent_usd", "reserved_usd")


def export_rows(
    rows: Iterable[JobRow],
    out: TextIO,
    *,
    format: str,
    output_dir: Path | None = None,
) -> int:
    """Write one record per job to out as "csv" or "jsonl"; returns how many were written.

    With `output_dir`, each done job's file is probed and compared with its request;
    """
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}: use one of {', '.join(FORMATS)}")
    viewer = Viewer(output_dir=output_dir)
    views = (viewer.view(row) for row in rows)
    return _write_jsonl(views, out) if format == "jsonl" else _write_csv(views, out)


def _record(view: JobView) -> dict[str, Any]:
    """A job's exported fields, coordinates as an object, in column order."""
    job = view.row
    record: dict[str, Any] = {name: getattr(job, name) for name in _HEAD}
    record["coords"] = job.coords
    probe = view.probe if view.probe is not None and view.probe.problem is None else None
    for name in _TAIL:
        if name == "prompt":
            record[name] = job.request.get("prompt")
        elif name == "state":
            record[name] = job.state.value
        elif name in ("reference_images", "mismatches"):
            record[name] = list(getattr(view, name))
        elif name.startswith("delivered_"):
            field = name.removeprefix("delivered_")
            record[name] = getattr(probe, field) if probe is not None else None
        elif name in _FROM_VIEW:
            record[name] = getattr(view, name)
        else:
            record[name] = getattr(job, name)
    return record


def _write_jsonl(views: Iterable[JobView], out: TextIO) -> int:
    count = 0
    for view in views:
        # default=str: a coordinate the manifest gave as a date stays readable, never fatal.
        out.write(json.dumps(_record(view), ensure_ascii=False, default=str) + "\n")
        count += 1
    return count


def _write_csv(views: Iterable[JobView], out: TextIO) -> int:
    records = [_record(view) for view in views]
    axes: dict[str, None] = {}  # first-seen order keeps the manifest's own axis order
    for record in records:
        axes.update(dict.fromkeys(record["coords"]))
    columns = [*_HEAD, *(f"coord.{axis}" for axis in axes), *_TAIL]
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([_cell(c) for c in columns])
    for record in records:
        coords = record.pop("coords")
        record["reference_images"] = " ".join(record["reference_images"]) or None
        record["mismatches"] = "; ".join(record["mismatches"]) or None
        for axis in axes:
            record[f"coord.{axis}"] = coords.get(axis)
        writer.writerow([_cell(record[c]) for c in columns])
    return len(records)


def _cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return "'" + text if text.startswith(_FORMULA_START) else text
