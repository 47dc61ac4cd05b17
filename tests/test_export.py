"""CSV and JSONL export: round trips, coordinates as columns, formula-injection guard."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from grokbatch.errors import InputError
from grokbatch.export import export_rows
from grokbatch.state.base import JobRow, JobState

from .media import write_mp4
from .test_report import i2v_request, make_row


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
        coords={"style": payload, "n": -5},
        error=payload,
        state=JobState.FAILED,
        request={**i2v_request(payload, payload), "prompt": payload},
    )
    _, text = export("csv", [row])
    (got,) = csv.DictReader(io.StringIO(text, newline=""))
    for column in ("key", "prompt", "coord.style", "error", "image", "reference_images"):
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


def test_source_images_in_both_formats() -> None:
    row = make_row(
        request=i2v_request(
            "https://img.example/in.jpg", "https://img.example/a.png", "https://img.example/b.png"
        )
    )
    _, text = export("csv", [row, make_row(key="t2v")])
    got, plain = csv.DictReader(io.StringIO(text, newline=""))
    assert got["image"] == "https://img.example/in.jpg"
    assert got["reference_images"] == "https://img.example/a.png https://img.example/b.png"
    assert (plain["image"], plain["reference_images"]) == ("", "")
    _, text = export("jsonl", [row])
    record = json.loads(text)
    assert record["image"] == "https://img.example/in.jpg"
    assert record["reference_images"] == ["https://img.example/a.png", "https://img.example/b.png"]


def test_figures_equal_the_ledger() -> None:
    refunded = make_row(  # the ledger books a refunded attempt as charged 0
        key="r", state=JobState.FAILED, charged_credits=0.0, spent_credits=0.0, charged_usd=0.0
    )
    unpriced = make_row(key="u", provider="aimlapi", estimated_usd=None, spent_usd=0.0)
    _, text = export("jsonl", [refunded, unpriced, make_row(key="d")])
    r, u, d = (json.loads(line) for line in text.splitlines())
    assert (r["charged_credits"], r["charged_usd"], r["refunded"], r["spent_credits"]) == (
        0.0,
        0.0,
        True,
        0.0,
    )
    assert (u["estimated_usd"], u["spent_usd"], u["reserved_usd"]) == (None, None, None)
    assert (d["charged_credits"], d["refunded"], d["spent_usd"], d["reserved_credits"]) == (
        10.0,
        False,
        0.5,
        0.0,
    )
    _, text = export("csv", [refunded, unpriced])
    rc, uc = csv.DictReader(io.StringIO(text, newline=""))
    assert (rc["charged_credits"], rc["refunded"], uc["spent_usd"]) == ("0.0", "true", "")


def test_delivered_versus_requested(tmp_path: Path) -> None:
    asked = {"duration": 6, "aspect_ratio": "9:16", "resolution": "720p"}
    write_mp4(tmp_path / "ok.mp4", 720, 1280, 6.0)
    write_mp4(tmp_path / "off.mp4", 1280, 720, 10.0)
    (tmp_path / "junk.mp4").write_bytes(b"<html>expired</html>")
    rows = [
        make_row(key=k, output_path=f"{k}.mp4", request=i2v_request(None, **asked))
        for k in ("ok", "off", "junk", "gone")
    ]
    out = io.StringIO()
    export_rows(rows, out, format="jsonl", output_dir=tmp_path)
    ok, off, junk, gone = (json.loads(line) for line in out.getvalue().splitlines())
    assert (ok["delivered_duration"], ok["delivered_width"], ok["delivered_height"]) == (
        6.0,
        720,
        1280,
    )
    assert ok["mismatches"] == []
    assert off["mismatches"] == ["10 s long, 6 s requested", "1280×720 (16:9), 9:16 requested"]
    assert junk["delivered_width"] is None
    assert junk["mismatches"] == [
        "a file that is neither an MP4 video nor a PNG, JPEG or WebP image was delivered "
        "for a video"
    ]
    assert gone["mismatches"] == [] and gone["delivered_duration"] is None
    out = io.StringIO(newline="")
    export_rows(rows, out, format="csv", output_dir=tmp_path)
    _, off_csv, _, _ = csv.DictReader(io.StringIO(out.getvalue(), newline=""))
    assert off_csv["mismatches"] == "10 s long, 6 s requested; 1280×720 (16:9), 9:16 requested"
    assert (off_csv["delivered_duration"], off_csv["delivered_width"]) == ("10.0", "1280")
