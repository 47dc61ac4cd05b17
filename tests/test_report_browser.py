"""The report in a real headless Chromium: media load from file:// under the page's CSP,
the script runs, URL-hash filters hide the right cards, and a screenshot renders.

Needs a `chromium` (or `chromium-browser`) binary; on Debian/Ubuntu `apt-get install -y
chromium`. Skipped with a reason when none is found. Chromium only ever opens file:// URLs
here, with background networking, sync and component updates off.

Videos come from grokbatch/emulator/assets/*.mp4 when the emulator ships them; PNGs written
with zlib stand in otherwise, so the test needs no ffmpeg.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grokbatch.report import write_report
from grokbatch.state.base import JobRow, JobState

from .test_report import HOSTILE, make_row, write_png

ASSETS = Path(__file__).resolve().parent.parent / "grokbatch" / "emulator" / "assets"
TIMEOUT_S = 60


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium or chromium-browser binary on PATH (apt-get install -y chromium)")


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


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, list[JobRow]]:
    out = tmp_path / "out dir"
    videos = sorted(ASSETS.glob("*.mp4"))[:2] if ASSETS.is_dir() else []
    rows = []
    for i, (provider, style) in enumerate(
        [("apiframe", "noir"), ("kie", "noir"), ("apiframe", "pastel"), ("kie", "pastel")]
    ):
        if videos:
            output = f"{style}/{provider} clip #{i}.mp4"
            (out / output).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(videos[i % len(videos)], out / output)
        else:
            output = f"{style}/{provider} still #{i}.png"
            write_png(out / output, seed=i)
        rows.append(
            make_row(
                key=f"k{i}",
                provider=provider,
                coords={"prompt": "hero", "style": style, "duration": 6},
                prompt=f"A lighthouse in a storm, {style} look",
                output_path=output,
            )
        )
    rows.append(
        make_row(
            key="failed",
            provider="kie",
            coords={"prompt": "hero", "style": HOSTILE, "duration": 10},
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


def test_screenshot_renders(report: tuple[Path, list[JobRow]], tmp_path: Path) -> None:
    path, _ = report
    shot = tmp_path / "report.png"
    run_chromium(
        path.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,900"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank 1280×900 page compresses to ~5 KB
