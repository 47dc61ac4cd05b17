"""CSV and JSONL export: round trips, coordinates as columns, formula-injection guard."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest

from grokbatch.errors import InputError
from grokbatch.export import export_rows
from grokbatch.state.base import JobRow, JobState

from .test_report import make_row


def rows() -> list[JobRow]:
    return [
        make_row(key="a", coords={"prompt": "hero", "style": "noir", "duration": 6}),
        make_row(
            key="b",
            provider="kie",
            model="grok-v1",
            coords={"prompt": "city", "lens": "35mm"},
            prompt='rain, "neon", commas,\nand a newline',
            state=JobState.FAILED,
            error="moderation, refused",
            error_kind="ModerationError",
            sha256=None,
            size=None,
            charged_credits=None,
            estimated_usd=None,
        ),
        make_row(
            key="c",
            coords={"prompt": "hero"},
            state=JobState.PENDING,
            submitted_at=None,
            finished_at=None,
        ),
    ]


def export(format: str, data: list[JobRow]) -> tuple[int, str]:
    out = io.StringIO(newline="")
    n = export_rows(iter(data), out, format=format)
    return n, out.getvalue()


def test_csv_round_trip_with_coordinate_columns() -> None:
    n, text = export("csv", rows())
    assert n == 3
    reader = csv.DictReader(io.StringIO(text, newline=""))
    got = list(reader)
    assert [r["key"] for r in got] == ["a", "b", "c"]
    assert reader.fieldnames is not None
    coords = [f for f in reader.fieldnames if f.startswith("coord.")]
    assert coords == ["coord.prompt", "coord.style", "coord.duration", "coord.lens"]
    a, b, c = got
    assert (a["coord.style"], a["coord.duration"], a["coord.lens"]) == ("noir", "6", "")
    assert (b["coord.prompt"], b["coord.lens"], b["coord.style"]) == ("city", "35mm", "")
    assert b["prompt"] == 'rain, "neon", commas,\nand a newline'
    assert (b["state"], b["error"], b["error_kind"]) == (
        "failed",
        "moderation, refused",
        "ModerationError",
    )
    assert (b["model"], b["sha256"], b["size"], b["estimated_usd"]) == ("grok-v1", "", "", "")
    assert float(a["estimated_credits"]) == 10.0 and a["attempts"] == "1"
    assert c["submitted_at"] == "" and a["finished_at"] == "2025-01-31T12:01:30.000Z"
    for column in ("manifest", "provider", "prompt_id", "output_path", "price_basis"):
        assert column in reader.fieldnames
    assert {"charged_credits", "spent_credits", "charged_usd", "remote_status"} <= set(
        reader.fieldnames
    )


def test_jsonl_round_trip_streams() -> None:
    n, text = export("jsonl", rows())
    assert n == 3
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["key"] for r in records] == ["a", "b", "c"]
    assert records[0]["coords"] == {"prompt": "hero", "style": "noir", "duration": 6}
    assert records[1]["prompt"] == 'rain, "neon", commas,\nand a newline'
    assert records[1]["sha256"] is None and records[1]["state"] == "failed"
    assert records[0]["estimated_credits"] == 10.0

    # Streaming: the first record is written before the second row is even produced.
    out = io.StringIO()

    def produce() -> Iterator[JobRow]:
        yield make_row(key="first")
        assert json.loads(out.getvalue())["key"] == "first"
        yield make_row(key="second")

    assert export_rows(produce(), out, format="jsonl") == 2


@pytest.mark.parametrize("payload", ["=1+2", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_guards_against_formula_injection(payload: str) -> None:
    row = make_row(
        key=payload,
        prompt=payload,
        coords={"style": payload, "n": -5},
        error=payload,
        state=JobState.FAILED,
    )
    _, text = export("csv", [row])
    (got,) = csv.DictReader(io.StringIO(text, newline=""))
    for column in ("key", "prompt", "coord.style", "error"):
        assert got[column] == "'" + payload
    assert got["coord.n"] == "-5"  # a number we wrote is not a formula


def test_plain_text_is_not_prefixed() -> None:
    _, text = export("csv", [make_row(prompt="a = b, plus - minus")])
    (got,) = csv.DictReader(io.StringIO(text, newline=""))
    assert got["prompt"] == "a = b, plus - minus"


def test_empty_and_unknown_format() -> None:
    n, text = export("csv", [])
    assert n == 0 and text.startswith("key,manifest,provider,model,prompt_id,prompt,")
    assert export("jsonl", []) == (0, "")
    with pytest.raises(InputError, match="csv, jsonl"):
        export("xlsx", rows())
