"""The report in a real headless Chromium: media load from file:// under the page's CSP,
the script runs, URL-hash filters hide the right cards, and a screenshot renders.

Needs headless Chromium: on Debian/Ubuntu `apt-get install -y chromium` (`.ci/run` does it),
elsewhere any Chromium or Chrome, named by GROKBATCH_CHROMIUM when it is not on PATH. Without
one the tests are skipped, and the skip says what was looked for and how to install it.
Chromium only ever opens file:// URLs here, with background networking, sync and component
updates off.

Videos come from grokbatch/emulator/assets/*.mp4 when the emulator ships them; PNGs written
with zlib stand in otherwise, so the test needs no ffmpeg.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grokbatch.report import write_report
from grokbatch.state.base import JobRow, JobState

from .test_report import HOSTILE, make_row, write_png

# Each test starts a real Chromium: seconds of CPU apiece, so they wait for the full run.
pytestmark = pytest.mark.slow

ASSETS = Path(__file__).resolve().parent.parent / "grokbatch" / "emulator" / "assets"
TIMEOUT_S = 60


NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = (
    "install it with `apt-get install -y chromium` (Debian/Ubuntu), "
    "or set GROKBATCH_CHROMIUM to a Chromium or Chrome binary"
)


@functools.cache
def find_chromium() -> tuple[str | None, str]:
    """(the binary, "") or (None, why not), checked once per session."""
    named = os.environ.get("GROKBATCH_CHROMIUM")
    candidates = [named] if named else [p for n in NAMES if (p := shutil.which(n))]
    if not candidates:
        looked = f"GROKBATCH_CHROMIUM={named}" if named else ", ".join(NAMES) + " on PATH"
        return None, f"no headless Chromium found (looked for {looked}): {INSTALL}"
    binary = candidates[0]
    try:
        probe = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except OSError as e:
        return None, f"{binary} cannot be run ({e}): {INSTALL}"
    if probe.returncode != 0 or "chrom" not in probe.stdout.lower():
        # e.g. Ubuntu's chromium-browser, a stub that asks for the snap.
        said = (probe.stdout + probe.stderr).strip()[:200]
        return None, f"{binary} --version failed ({said!r}): {INSTALL}"
    return binary, ""


def chromium() -> str:
    binary, why = find_chromium()
    if binary is None:
        pytest.skip(why)
    return binary


def run_chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        *extra,
        url,
    ]
    assert url.startswith("file://")  # never the network
    env = {k: v for k, v in os.environ.items() if not k.endswith("_proxy")}
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


class Dom(HTMLParser):
    """The <body> attributes and every card's attributes from a dumped DOM."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.cards: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, set[str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name for name, _ in attrs}))
        if tag == "body":
            self.body = dict(attrs)
        elif tag == "article":
            self.cards.append(dict(attrs))


SOURCE = "https://images.example.com/portrait.jpg"


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, list[JobRow]]:
    out = tmp_path / "out dir"
    videos = sorted(ASSETS.glob("*.mp4"))[:2] if ASSETS.is_dir() else []
    rows = []
    cases = [("apiframe", "noir", 1), ("kie", "noir", 1), ("apiframe", "pastel", 1)]
    cases += [("kie", "pastel", 1), ("apiframe", "noir", 2)]  # a second take of the first
    for i, (provider, style, take) in enumerate(cases):
        if videos:
            output = f"{style}/{provider} clip #{i}.mp4"
            (out / output).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(videos[i % len(videos)], out / output)
        else:
            output = f"{style}/{provider} still #{i}.png"
            write_png(out / output, seed=i)
        prompt = f"A lighthouse in a storm, {style} look"
        params: dict[str, object] = {"duration": 6}
        if i == 0:  # image-to-video: its source image is shown beside the clip
            params |= {"image": SOURCE}
        rows.append(
            make_row(
                key=f"k{i}",
                provider=provider,
                coords={"prompt": "hero", "style": style, "duration": 6, "take": take},
                request={"provider": provider, "model": None, "prompt": prompt, "params": params},
                output_path=output,
            )
        )
    rows.append(
        make_row(
            key="failed",
            provider="kie",
            coords={"prompt": "hero", "style": HOSTILE, "duration": 10, "take": 1},
            prompt=HOSTILE,
            state=JobState.FAILED,
            error=HOSTILE,
            error_kind="ModerationError",
            sha256=None,
        )
    )
    path = write_report(
        rows,
        manifest_name="browser-check",
        output_dir=out,
        report_path=tmp_path / "reports" / "report.html",
        units={"apiframe": "USD"},
    )
    return path, rows


def test_media_load_and_hash_filters_apply(
    report: tuple[Path, list[JobRow]], tmp_path: Path
) -> None:
    path, rows = report
    done = sum(1 for r in rows if r.state is JobState.DONE)

    everything = Dom(run_chromium(path.as_uri(), tmp_path / "p1", "--dump-dom").stdout)
    assert everything.body.get("data-ready") == "1", "the page script did not run"
    assert everything.body.get("data-shown") == str(len(rows))
    # Every clip or still resolved from the report's directory, through the CSP.
    assert everything.body.get("data-media-broken") == "0"
    assert everything.body.get("data-media-loaded") == str(done)
    assert not any("hidden" in card for card in everything.cards)

    filtered = Dom(
        run_chromium(path.as_uri() + "#provider=apiframe", tmp_path / "p2", "--dump-dom").stdout
    )
    assert filtered.body.get("data-ready") == "1"
    visible = [c["data-key"] for c in filtered.cards if "hidden" not in c]
    assert visible == [r.key for r in rows if r.provider == "apiframe"]
    assert filtered.body.get("data-shown") == str(len(visible))

    both = Dom(
        run_chromium(
            path.as_uri() + "#provider=kie&state=failed&group=style", tmp_path / "p3", "--dump-dom"
        ).stdout
    )
    assert [c["data-key"] for c in both.cards if "hidden" not in c] == ["failed"]
    # Even after the script moved the cards around, the hostile strings stayed text: no
    # script or handler the page did not make itself.
    assert [t for t, _ in both.tags].count("script") == 2
    assert not [(t, a) for t, names in both.tags for a in names if a.startswith("on")]

    search = Dom(
        run_chromium(path.as_uri() + "#q=PASTEL%20look", tmp_path / "p4", "--dump-dom").stdout
    )
    assert [c["data-key"] for c in search.cards if "hidden" not in c] == ["k2", "k3"]


class Sheet(HTMLParser):
    """The contact sheet in a dumped DOM: its rows, columns, and the cards in each cell."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.tables: list[str | None] = []
        self.rows: list[tuple[str, bool]] = []  # (value, shown)
        self.cols: list[tuple[str, bool]] = []
        self.cells: dict[tuple[str, str], list[str]] = {}
        self.shown_cells: set[tuple[str, str]] = set()
        self.sources: list[tuple[str, str, str]] = []  # (card key, role, href)
        self.cell: tuple[str, str] | None = None
        self.card: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        shown = "hidden" not in a
        if tag == "body":
            self.body = a
        elif tag == "table":
            self.tables.append(a.get("id"))
        elif tag == "th" and a.get("data-col") is not None:
            self.cols.append((a["data-col"] or "", shown))
        elif tag == "tr" and a.get("data-row") is not None:
            self.rows.append((a["data-row"] or "", shown))
        elif tag == "td":
            self.cell = (a.get("data-row") or "", a.get("data-col") or "")
            self.cells[self.cell] = []
            if shown:
                self.shown_cells.add(self.cell)
        elif tag == "article" and self.cell is not None:
            self.card = a.get("data-key") or ""
            if shown:
                self.cells[self.cell].append(self.card)
        elif tag == "a" and a.get("class") == "source" and self.card:
            self.sources.append((self.card, a.get("data-role") or "", a.get("href") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.cell = None
        elif tag == "article":
            self.card = None

    def shown(self, axis: list[tuple[str, bool]]) -> list[str]:
        return [value for value, shown in axis if shown]


def test_contact_sheet_lays_out_two_axes(report: tuple[Path, list[JobRow]], tmp_path: Path) -> None:
    path, _ = report
    url = path.as_uri() + "#rows=style&cols=provider"
    sheet = Sheet(run_chromium(url, tmp_path / "p5", "--dump-dom").stdout)
    assert sheet.body.get("data-ready") == "1", "the page script did not run"
    assert sheet.tables[-1] == "sheet"
    # Rows: every style (sorted as text, so the hostile one first), columns: every provider.
    assert sheet.shown(sheet.rows) == [HOSTILE, "noir", "pastel"]
    assert sheet.shown(sheet.cols) == ["apiframe", "kie"]
    # One cell per pair, its takes side by side, in the order of the jobs.
    assert {cell: keys for cell, keys in sheet.cells.items() if keys} == {
        ("noir", "apiframe"): ["k0", "k4"],
        ("noir", "kie"): ["k1"],
        ("pastel", "apiframe"): ["k2"],
        ("pastel", "kie"): ["k3"],
        (HOSTILE, "kie"): ["failed"],
    }
    assert (HOSTILE, "apiframe") in sheet.shown_cells  # an empty cell of a shown row stays
    # The image-to-video job shows its source image beside the clip, in its cell.
    assert sheet.sources == [("k0", "image", SOURCE)]
    assert sheet.body.get("data-media-broken") == "0"

    # Filters still apply: rows and columns left empty disappear.
    url = path.as_uri() + "#rows=take&cols=style&provider=kie"
    filtered = Sheet(run_chromium(url, tmp_path / "p6", "--dump-dom").stdout)
    assert filtered.shown(filtered.rows) == ["1"]  # take 2 is apiframe's
    assert filtered.shown(filtered.cols) == [HOSTILE, "noir", "pastel"]
    shown = {c: k for c, k in filtered.cells.items() if k and c in filtered.shown_cells}
    assert shown == {("1", "noir"): ["k1"], ("1", "pastel"): ["k3"], ("1", HOSTILE): ["failed"]}
    assert filtered.body.get("data-shown") == "3"


def test_screenshot_renders(report: tuple[Path, list[JobRow]], tmp_path: Path) -> None:
    path, _ = report
    shot = tmp_path / "report.png"
    run_chromium(
        path.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,900"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank 1280×900 page compresses to ~5 KB
