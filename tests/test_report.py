"""The HTML report: structure, relative media paths, filters, escaping, no remote loads."""

from __future__ import annotations

import json
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from grokbatch.report import CSP, render_report, write_report
from grokbatch.state.base import JobRecord, JobRow, JobState

HOSTILE = "<script>alert(1)</script>\"onerror=alert(2) x='</script><img src=x onerror=alert(3)>"


def make_row(**overrides: Any) -> JobRow:
    """A DONE job with plausible values; any field (and `prompt`) can be overridden."""
    prompt = overrides.pop("prompt", "a lighthouse in a storm")
    fields: dict[str, Any] = {
        "manifest": "teasers",
        "key": "k001",
        "provider": "apiframe",
        "model": None,
        "prompt_id": "hero",
        "coords": {"prompt": "hero", "style": "noir", "aspect_ratio": "16:9", "duration": 6},
        "request": {},
        "output_path": "hero/noir.mp4",
        "state": JobState.DONE,
        "remote_id": "r-1",
        "remote_status": "completed",
        "attempts": 1,
        "estimated_credits": 10.0,
        "estimated_usd": 0.5,
        "price_basis": "published",
        "reserved_credits": 0.0,
        "spent_credits": 10.0,
        "reserved_usd": 0.0,
        "spent_usd": 0.5,
        "charged_credits": 10.0,
        "charged_usd": None,
        "size": 1234,
        "sha256": "ab" * 32,
        "error": None,
        "error_kind": None,
        "created_at": "2025-01-31T12:00:00.000Z",
        "updated_at": "2025-01-31T12:01:30.000Z",
        "submitted_at": "2025-01-31T12:00:00.000Z",
        "finished_at": "2025-01-31T12:01:30.000Z",
    }
    fields.update(overrides)
    if not fields["request"]:
        fields["request"] = {
            "provider": fields["provider"],
            "model": fields["model"],
            "prompt": prompt,
            "params": {"duration": 6},
        }
    return JobRow(**fields)


def job_record(**overrides: Any) -> JobRecord:
    """A job as a runner registers it, for tests that go through the real store."""
    fields: dict[str, Any] = {
        "key": "k1",
        "provider": "apiframe",
        "model": None,
        "prompt_id": "hero",
        "coords": {"prompt": "hero"},
        "request": {"provider": "apiframe", "prompt": "a hero shot", "params": {}},
        "output_path": "hero.mp4",
        "estimated_credits": 25.0,
        "estimated_usd": None,
        "price_basis": "published",
    }
    return JobRecord(**(fields | overrides))


def write_png(path: Path, *, seed: int = 0, width: int = 160, height: int = 90) -> Path:
    """Write a small gradient PNG with nothing but zlib, so tests need no imaging library."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(((x * 255 // width + seed * 40) % 256, y * 255 // height, 160))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


class Page(HTMLParser):
    """The parsed page: every start tag with its attributes, text by enclosing tag, scripts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.text: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []  # table rows, each cell's text
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in {"meta", "img", "input", "br", "link"}:
            self.stack.append(tag)
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td") and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        where = self.stack[-1] if self.stack else ""
        self.text.append((where, data))
        if self.rows and self.rows[-1] and ("td" in self.stack or "th" in self.stack):
            self.rows[-1][-1] += data
        if where == "script":
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def cards(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "article" and "card" in (a.get("class") or "")]


def i2v_request(image: str | None, *refs: str, **params: Any) -> dict[str, Any]:
    """A stored request for an image-to-video job (image and/or reference images)."""
    values: dict[str, Any] = {"duration": 6, **params}
    if image is not None:
        values["image"] = image
    if refs:
        values["reference_images"] = list(refs)
    return {"provider": "apiframe", "model": None, "prompt": "it moves", "params": values}


def render(rows: list[JobRow], tmp_path: Path, **kwargs: Any) -> Page:
    html = render_report(
        rows,
        manifest_name=kwargs.pop("manifest_name", "teasers"),
        output_dir=kwargs.pop("output_dir", tmp_path / "out"),
        report_path=kwargs.pop("report_path", tmp_path / "report.html"),
        generated_at="2025-01-31T13:00:00Z",
        **kwargs,
    )
    return Page(html)


def test_one_card_per_job_with_totals(tmp_path: Path) -> None:
    rows = [
        make_row(key="a"),
        make_row(key="b", provider="kie", price_basis="declared", estimated_credits=30),
        make_row(
            key="c",
            state=JobState.FAILED,
            error="moderation refused it",
            error_kind="ModerationError",
            sha256=None,
        ),
        make_row(key="d", state=JobState.PENDING, submitted_at=None, finished_at=None),
    ]
    page = render(rows, tmp_path, units={"apiframe": "USD"})
    cards = page.cards()
    assert [c["data-key"] for c in cards] == ["a", "b", "c", "d"]
    assert [c["data-state"] for c in cards] == ["done", "done", "failed", "pending"]
    text = " ".join(t for _, t in page.text)
    assert "ModerationError" in text and "moderation refused it" in text
    assert "30*" in text  # a declared price is marked
    assert "USD" in text and "credits" in text  # units per provider
    assert "1m 30s" in text  # submitted → finished
    assert "abababababab" in text  # a sha256 prefix
    # Two videos, one failed placeholder, one pending placeholder.
    assert len(page.find("video")) == 2
    assert {a["class"] for a in page.find("div") if "placeholder" in (a["class"] or "")} == {
        "placeholder s-failed",
        "placeholder s-pending",
    }
    money = [t for w, t in page.text if w in {"th", "td"}]
    assert "apiframe" in money and "kie" in money


def test_videos_images_and_preload(tmp_path: Path) -> None:
    page = render(
        [make_row(key="v"), make_row(key="i", output_path="stills/one.WEBP")],
        tmp_path,
    )
    (video,) = page.find("video")
    assert video["preload"] == "metadata"
    assert {"controls", "muted", "loop", "playsinline"} <= set(video)
    (img,) = page.find("img")
    assert img["src"] == "out/stills/one.WEBP"

    many = [make_row(key=f"k{i}") for i in range(201)]
    assert {v["preload"] for v in render(many, tmp_path).find("video")} == {"none"}


def test_media_paths_are_relative_to_the_report(tmp_path: Path) -> None:
    row = make_row(output_path="hero/noir #1 50%.mp4")
    page = render(
        [row],
        tmp_path,
        output_dir=tmp_path / "runs" / "out dir",
        report_path=tmp_path / "reports" / "today" / "index.html",
    )
    (video,) = page.find("video")
    assert video["src"] == "../../runs/out%20dir/hero/noir%20%231%2050%25.mp4"
    (link,) = page.find("a", **{"class": "path"})
    assert link["href"] == video["src"]


def test_filters_for_every_axis_state_and_search(tmp_path: Path) -> None:
    rows = [
        make_row(key="a", coords={"prompt": "hero", "style": "noir", "duration": 10}),
        make_row(key="b", coords={"prompt": "city", "style": "anime", "duration": 6}),
        make_row(key="c", provider="kie", model="grok-v1", coords={"prompt": "hero", "lens": 35}),
    ]
    page = render(rows, tmp_path)
    filters = {a["data-filter"] for a in page.find("select") if a.get("data-filter")}
    assert filters == {"prompt", "style", "duration", "lens", "provider", "model", "state"}
    # Values sorted, numbers numerically.
    data = json.loads(page.scripts[0][1])
    axes = {a["name"]: a["values"] for a in data["axes"]}
    assert axes["duration"] == ["6", "10"]
    assert axes["prompt"] == ["city", "hero"]
    groups = [a["value"] for t, a in page.tags if t == "option"]
    assert "state" in groups
    assert page.find("select", id="group") and page.find("input", id="q")
    # Cards carry the values the script filters on; a card lacking an axis has no attribute.
    attr = {a["name"]: a["attr"] for a in data["axes"]}
    a, _, c = page.cards()
    assert a[attr["style"]] == "noir" and a[attr["provider"]] == "apiframe"
    assert attr["style"] not in c and c[attr["model"]] == "grok-v1"
    # Without JavaScript, no control is shown and every card is.
    assert "hidden" in page.find("nav", id="controls")[0]
    assert not any("hidden" in card for card in page.cards())


def test_reserved_axis_names_do_not_clash(tmp_path: Path) -> None:
    page = render([make_row(coords={"state": "ohio", "q": "x"})], tmp_path)
    filters = [a["data-filter"] for a in page.find("select") if a.get("data-filter")]
    assert filters.count("state") == 1
    assert "coord.state" in filters and "coord.q" in filters


@pytest.mark.parametrize("where", ["prompt", "coords", "error", "provider", "path", "sources"])
def test_hostile_strings_are_escaped(tmp_path: Path, where: str) -> None:
    cases: dict[str, dict[str, Any]] = {
        "prompt": {"prompt": HOSTILE},
        "coords": {"coords": {HOSTILE: HOSTILE, "style": HOSTILE}},
        "error": {
            "state": JobState.FAILED,
            "error": HOSTILE,
            "error_kind": HOSTILE,
            "remote_status": HOSTILE,
        },
        "provider": {"provider": HOSTILE, "model": HOSTILE},
        "path": {"output_path": HOSTILE + ".png", "key": HOSTILE, "sha256": HOSTILE},
        "sources": {
            "request": i2v_request(
                "https://x.example/" + HOSTILE, HOSTILE, "javascript:alert(4)//" + HOSTILE
            )
        },
    }
    overrides = cases[where]
    html = render_report(
        [make_row(**overrides)],
        manifest_name=HOSTILE,
        output_dir=tmp_path,
        report_path=tmp_path / "r.html",
        units={HOSTILE: HOSTILE},
    )
    page = Page(html)
    # The only elements are the page's own: nothing injected became a tag or an attribute.
    assert [a for t, a in page.tags if t == "img" and a.get("onerror")] == []
    assert not any(k.startswith("on") for _, a in page.tags for k in a)
    assert len(page.find("script")) == 2
    assert html.count("</script>") == 2
    assert "<script>alert" not in html and "<img src=x" not in html
    # ...and the text reads back exactly as given.
    if where not in ("path", "sources"):
        assert any(HOSTILE in t for _, t in page.text)
    # A source link is http(s) or nothing: a javascript: URL never becomes an href.
    hrefs = [a.get("href") or "" for _, a in page.tags]
    assert not any(h.lower().lstrip().startswith("javascript") for h in hrefs)
    data = json.loads(page.scripts[0][1])  # the embedded JSON still parses
    assert isinstance(data["axes"], list)


def test_no_remote_resources(tmp_path: Path) -> None:
    sourced = make_row(key="s", request=i2v_request("https://cdn.example/a.jpg"))
    page = render([make_row(), make_row(key="i", output_path="a.png"), sourced], tmp_path)
    for tag, attrs in page.tags:
        for name in ("src", "href", "poster", "action", "data"):
            value = attrs.get(name) or ""
            if tag == "a" and name == "href" and attrs.get("class") == "source":
                continue  # a link the user may click: nothing is loaded
            assert "//" not in value and not value.startswith(("http:", "https:")), attrs
    (csp,) = page.find("meta", http_equiv="Content-Security-Policy")
    assert csp["content"] == CSP
    assert "default-src 'none'" in CSP and "connect-src 'none'" in CSP
    assert not page.find("link")


def test_write_report_is_atomic_and_complete(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.html"
    path = write_report([make_row()], manifest_name="m", output_dir=tmp_path, report_path=target)
    assert path == target
    assert target.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp left


def test_reads_rows_from_the_real_store(tmp_path: Path) -> None:
    from grokbatch.state import Limits, open_store

    store = open_store(tmp_path / "state.db")
    try:
        record = job_record(
            provider="kie",
            coords={"prompt": "hero", "style": "noir"},
            request={"provider": "kie", "prompt": "a hero shot", "params": {}},
            output_path="hero/noir.mp4",
            estimated_credits=12.0,
            price_basis="guessed",
        )
        store.add_jobs("m", [record], run_id=None)
        run = store.start_run(manifest="m", manifest_path="m.yaml", options={})
        assert store.reserve("m", "k1", run_id=run, credits=12.0, usd=None, limits=Limits())
        page = render(list(store.jobs("m")), tmp_path, units={"kie": "credits"})
    finally:
        store.close()
    (card,) = page.cards()
    assert card["data-state"] == "submitting"
    assert any("12~" in t for _, t in page.text)


def test_contact_sheet_controls(tmp_path: Path) -> None:
    rows = [
        make_row(key="a", coords={"style": "noir", "aspect_ratio": "16:9", "take": 1}),
        make_row(key="b", coords={"style": "noir", "aspect_ratio": "16:9", "take": 2}),
        make_row(key="c", coords={"style": "anime", "rows": "x", "cols": "y"}),
    ]
    page = render(rows, tmp_path)
    assert page.find("select", id="rows") and page.find("select", id="cols")
    # Every axis (and state) can lay out the page: in "group by", sheet rows, sheet columns.
    options = [a["value"] for t, a in page.tags if t == "option"]
    for key in ("style", "aspect_ratio", "take", "provider", "state"):
        assert options.count(key) == 3, key
    # Axes named like the sheet's own hash keys are filtered as coord.NAME.
    filters = {a["data-filter"] for a in page.find("select") if a.get("data-filter")}
    assert {"coord.rows", "coord.cols", "style", "take"} <= filters
    # The script builds the sheet from the cards' axis attributes: every card carries them.
    data = json.loads(page.scripts[0][1])
    attr = {a["name"]: a["attr"] for a in data["axes"]}
    a, b, _ = page.cards()
    assert (a[attr["style"]], a[attr["aspect_ratio"]], a[attr["take"]]) == ("noir", "16:9", "1")
    assert b[attr["take"]] == "2"


def test_source_image_and_references_beside_the_clip(tmp_path: Path) -> None:
    dot = "data:image/png;base64,iVBORw0KGgo="
    rows = [
        make_row(
            key="i2v",
            request=i2v_request(
                "https://images.example.com/in/portrait.jpg?sig=1",
                "https://images.example.com/a.png",
                "ftp://old.example/b.png",
            ),
        ),
        make_row(key="inline", request=i2v_request(dot)),
        make_row(key="t2v"),
    ]
    page = render(rows, tmp_path)
    links = page.find("a", **{"class": "source"})
    assert [(a["data-role"], a["href"]) for a in links] == [
        ("image", "https://images.example.com/in/portrait.jpg?sig=1"),
        ("reference", "https://images.example.com/a.png"),
    ]
    assert all(a["rel"] == "noopener noreferrer" for a in links)
    texts = [t for _, t in page.text]
    assert "portrait.jpg" in texts and "a.png" in texts and "ref 2" in texts
    # Not http(s): shown, never linked.
    (plain,) = [a for t, a in page.tags if t == "span" and a.get("class") == "source"]
    assert plain["title"] == "ftp://old.example/b.png"
    # A data: image is local content: shown as an image.
    (figure,) = page.find("figure", **{"class": "source"})
    (img,) = page.find("img")
    assert img["src"] == dot and figure["data-role"] == "image"


def test_delivered_clips_that_differ_from_the_request_are_flagged(tmp_path: Path) -> None:
    from .media import write_mp4

    out = tmp_path / "out"
    asked = {"duration": 6, "aspect_ratio": "16:9", "resolution": "720p"}
    write_mp4(out / "good.mp4", 1280, 720, 6.0)
    write_mp4(out / "short.mp4", 1280, 720, 4.0)
    write_mp4(out / "square.mp4", 720, 720, 6.0)
    rows = [
        make_row(key=name, output_path=f"{name}.mp4", request=i2v_request(None, **asked))
        for name in ("good", "short", "square", "missing")
    ]
    page = render(rows, tmp_path)
    flagged = {c["data-key"] for c in page.cards() if c.get("data-mismatch")}
    assert flagged == {"short", "square"}
    texts = [t for _, t in page.text]
    assert "4 s long, 6 s requested" in texts
    assert "720×720 (1:1), 16:9 requested" in texts
    assert "6 s · 1280×720" in texts  # what was delivered, per card
    (tile,) = page.find("div", id="differ")
    assert "2" in [t for w, t in page.text if w == "b"]
    assert tile["class"] == "tile warn"


def test_figures_equal_the_ledger(tmp_path: Path) -> None:
    refunded = make_row(  # the ledger books a refunded attempt as charged 0
        key="refunded",
        state=JobState.FAILED,
        charged_credits=0.0,
        spent_credits=0.0,
        estimated_credits=25.0,
        error="the provider failed it",
    )
    kept = make_row(key="kept", state=JobState.FAILED, charged_credits=25.0, spent_credits=25.0)
    done = make_row(key="done", charged_credits=10.0, spent_credits=10.0)
    page = render([refunded, kept, done], tmp_path)
    dds = [t for w, t in page.text if w == "dd"]
    assert "0 (refunded)" in dds and dds.count("25") == 1 and "10" in dds
    assert "estimated 25 · spent 0" in dds  # the refunded job's ledger figures
    # The totals sum what the cards show: spent 35, charged by provider 35 (0 + 25 + 10).
    (row,) = [r for r in table_rows(page) if r and r[0] == "apiframe"]
    assert row[1:7] == ["3", "credits", "45", "35", "0", "35 (3 jobs)"]
    heads = [t for w, t in page.text if w == "th"]
    for label in ("estimated", "spent", "reserved"):
        assert label in heads


def test_usd_total_only_where_every_price_is_known(tmp_path: Path) -> None:
    known = [
        make_row(key="a", provider="xai", estimated_usd=0.5, spent_usd=0.5),
        make_row(key="b", provider="apiframe", estimated_usd=0.25, spent_usd=0.25),
    ]
    page = render(known, tmp_path)
    (total,) = [r for r in table_rows(page) if r and r[0] == "all providers"]
    assert total[-3:] == ["$0.75", "$0.75", "$0.00"]
    assert not page.find("p", id="no-usd-total")

    unknown = make_row(key="c", provider="aimlapi", estimated_usd=None, spent_usd=0.0)
    page = render([*known, unknown], tmp_path)
    assert not [r for r in table_rows(page) if r and r[0] == "all providers"]
    assert len(page.find("p", id="no-usd-total")) == 1
    text = " ".join(t for _, t in page.text)
    assert "no USD price is known for aimlapi" in text
    (row,) = [r for r in table_rows(page) if r and r[0] == "aimlapi"]
    assert row[-1] == "no USD price" and "$" not in " ".join(row)
    # No partial sum anywhere: $0.75 appears only in the per-provider rows' own cells.
    assert "$0.75" not in text


def table_rows(page: Page) -> list[list[str]]:
    """The money table's rows, each cell's whole text (td text includes its <small>)."""
    return [[cell.strip() for cell in row] for row in page.rows]


def test_a_refund_on_a_retried_job_shows_charged_0_and_earlier_attempts_stay_spent(
    tmp_path: Path,
) -> None:
    from grokbatch.state import Limits, open_store

    store = open_store(tmp_path / "state.db")
    try:
        record = job_record()
        store.add_jobs("m", [record], run_id=None)
        run = store.start_run(manifest="m", manifest_path="m.yaml", options={})
        for attempt, refunded in ((1, False), (2, True)):
            assert store.reserve("m", "k1", run_id=run, credits=25, usd=None, limits=Limits())
            store.mark_submitted("m", "k1", run_id=run, remote_id=f"r{attempt}", charged=25)
            store.mark_failed(
                "m",
                "k1",
                run_id=run,
                error="failed",
                error_kind="RemoteJobError",
                refunded=refunded,
            )
            if attempt == 1:
                store.reset("m", "k1", run_id=run, reason="--retry-failed")
        (row,) = store.jobs("m")
        # The ledger books the refunded attempt as charged 0; the first attempt stays spent.
        assert (row.attempts, row.spent_credits, row.charged_credits) == (2, 25, 0)
        with_log = render([row], tmp_path)
    finally:
        store.close()
    # The first attempt's 25 stays spent; the second was refunded, so it was charged 0.
    dds = [t for w, t in with_log.text if w == "dd"]
    assert "0 (refunded)" in dds and "estimated 25 · spent 25" in dds


def test_report_command_writes_and_opens_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from grokbatch.cli import main
    from grokbatch.state import open_store

    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: opened\nprovider: apiframe\nprompts: [{id: a, template: a fox}]\n"
        "defaults: {duration: 6}\noutput: {path: a.mp4}\n",
        encoding="utf-8",
    )
    with open_store(tmp_path / "state.db") as store:
        record = job_record(
            prompt_id="a",
            coords={"prompt": "a"},
            request={"provider": "apiframe", "prompt": "a fox", "params": {"duration": 6}},
            output_path="a.mp4",
        )
        store.add_jobs("opened", [record], run_id=None)
    launched: list[str] = []
    monkeypatch.setattr("click.launch", lambda url, **kw: launched.append(url) or 0)
    out = tmp_path / "pages" / "r.html"
    args = ["report", str(manifest), "--db", str(tmp_path / "state.db"), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert out.is_file() and launched == []
    result = CliRunner().invoke(main, [*args, "--open"])
    assert result.exit_code == 0, result.output
    assert launched == [str(out.resolve())]
