"""Reading a clip's duration and size from its header, and comparing it with the request."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from grokbatch.delivery import compare
from grokbatch.probe import MAX_MOOV, Probe, probe_file

from .media import ROTATE_90, box, full, hdlr, mp4_bytes, mvhd, video_trak, write_mp4
from .test_report import write_png


def probe_bytes(data: bytes, tmp_path: Path) -> Probe:
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    return probe_file(path)


@pytest.mark.parametrize(
    ("options", "size", "seconds"),
    [
        ({}, (1280, 720), 6.0),
        ({"version": 1}, (1280, 720), 6.0),  # 64-bit times in mvhd and tkhd
        ({"large": True}, (1280, 720), 6.0),  # 64-bit box sizes
        ({"mdat_first": True, "large": True, "version": 1}, (1280, 720), 6.0),
        ({"matrix": ROTATE_90}, (720, 1280), 6.0),  # a phone clip turned upright
        ({"tkhd_size": False, "entry": (854, 480)}, (854, 480), 6.0),  # size from avc1
        ({"audio_first": False, "timescale": 90000, "seconds": 10.04}, (1280, 720), 10.04),
    ],
)
def test_mp4_header(
    options: dict[str, Any], size: tuple[int, int], seconds: float, tmp_path: Path
) -> None:
    args = {"seconds": 6.0, **options}
    got = probe_bytes(mp4_bytes(1280, 720, **args), tmp_path)
    assert got == Probe("video", "mp4", width=size[0], height=size[1], duration=seconds)


def test_fractional_tkhd_size_and_the_track_duration_fallback(tmp_path: Path) -> None:
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00")
    trak = video_trak(640, 360, media=(12800, 12800 * 5))
    got = probe_bytes(ftyp + box(b"moov", mvhd(1000, 0), trak), tmp_path)
    assert (got.width, got.height, got.duration) == (640, 360, 5.0)


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "seconds"),
    [("720p", "16:9", 6), ("480p", "9:16", 10), ("1080p", "1:1", 15), ("720p", "3:2", 1)],
)
def test_the_emulators_clips_read_as_what_was_asked(
    tmp_path: Path, resolution: str, aspect_ratio: str, seconds: int
) -> None:
    """The emulator writes its clips, the probe reads them: two independent box codecs."""
    from grokbatch.emulator.media import mp4_for

    path = tmp_path / "clip.mp4"
    path.write_bytes(
        mp4_for("job-1", resolution=resolution, aspect_ratio=aspect_ratio, seconds=seconds)
    )
    clip = probe_file(path)
    assert clip.kind == "video" and clip.problem is None
    assert clip.duration == pytest.approx(seconds, abs=0.05)
    params = {"resolution": resolution, "aspect_ratio": aspect_ratio, "duration": seconds}
    assert compare(params, clip) == []


class Counting:
    """A file object that counts the bytes read from it."""

    def __init__(self, f: Any) -> None:
        self.f, self.read_bytes = f, 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.f.read(n)
        self.read_bytes += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)

    def __enter__(self) -> Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def test_a_large_file_is_read_only_for_its_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 4 GB mdat (sparse on disk) before the moov: only box headers and moov are read.
    head = mp4_bytes(1920, 1080, 8.0)
    moov_at = head.index(b"moov") - 4
    ftyp, moov = head[:moov_at], head[moov_at:].split(b"\x00\x00\x00\x48mdat")[0]
    big = 4 << 30
    path = tmp_path / "big.mp4"
    with path.open("wb") as f:
        f.write(ftyp + struct.pack(">I4sQ", 1, b"mdat", 16 + big))
        f.seek(len(ftyp) + 16 + big)
        f.write(moov)
    opened: list[Counting] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Counting:
        opened.append(Counting(real_open(self, *args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(Path, "open", counting_open)
    got = probe_file(path)
    assert (got.width, got.height, got.duration) == (1920, 1080, 8.0)
    assert opened[0].read_bytes < 2 * len(head)


def hostile_cases() -> list[tuple[str, bytes, str]]:
    good = mp4_bytes()
    ftyp = good[: good.index(b"moov") - 4]
    deep = box(b"stbl")
    for _ in range(12):
        deep = box(b"mdia", deep)
    audio = box(b"trak", box(b"mdia", hdlr(b"soun")))
    return [
        ("cut inside moov", good[: len(good) - 100], "remain (cut short?)"),
        ("cut inside a header", good[: len(ftyp) + 5], "no moov"),
        ("a box bigger than the file", ftyp + struct.pack(">I4s", 1 << 30, b"moov"), "claims"),
        (
            "a box smaller than its header",
            ftyp + struct.pack(">I4s", 3, b"free"),
            "less than its own",
        ),
        ("a huge moov", ftyp + struct.pack(">I4sQ", 1, b"moov", MAX_MOOV + 17), "claims"),
        ("nesting bomb", ftyp + box(b"moov", mvhd(1000, 6000), box(b"trak", deep)), "nested"),
        ("no video track", ftyp + box(b"moov", mvhd(1000, 6000), audio), "no video track"),
        ("zero timescale", ftyp + box(b"moov", mvhd(0, 6000)), "zero timescale"),
        ("no moov at all", ftyp + box(b"mdat", b"x" * 100), "no moov"),
        ("a field past its box", ftyp + box(b"moov", full(b"mvhd", 1, b"")), "past the end"),
        ("empty file", b"", "neither"),
        ("text", b"<html>Access denied</html>", "neither"),
    ]


@pytest.mark.parametrize(
    ("data", "expect"),
    [case[1:] for case in hostile_cases()],
    ids=[case[0] for case in hostile_cases()],
)
def test_hostile_or_truncated_files_never_raise(data: bytes, expect: str, tmp_path: Path) -> None:
    got = probe_bytes(data, tmp_path)
    assert got.problem is not None and expect in got.problem, got
    assert got.width is None and got.duration is None


def test_a_huge_moov_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.mp4"
    ftyp = mp4_bytes()[:32]
    with path.open("wb") as f:
        f.write(ftyp + struct.pack(">I4s", MAX_MOOV + 64, b"moov"))
        f.truncate(len(ftyp) + MAX_MOOV + 64)  # sparse
    got = probe_file(path)
    assert got.problem is not None and "over the" in got.problem


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(9)
    return b"\xff\xd8" + app0 + b"\xff\xff" + sof + b"\xff\xd9"


def webp(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (jpeg(1024, 576), (1024, 576)),
        (
            webp(b"VP8X", bytes(4) + (799).to_bytes(3, "little") + (449).to_bytes(3, "little")),
            (800, 450),
        ),
        (
            webp(b"VP8L", b"\x2f" + ((639) | (479 << 14)).to_bytes(4, "little") + bytes(8)),
            (640, 480),
        ),
        (
            webp(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 300, 400) + bytes(4)),
            (300, 400),
        ),
    ],
    ids=["jpeg", "webp-vp8x", "webp-vp8l", "webp-vp8"],
)
def test_image_headers(data: bytes, size: tuple[int, int], tmp_path: Path) -> None:
    got = probe_bytes(data, tmp_path)
    assert (got.kind, got.width, got.height, got.problem) == ("image", *size, None)


def test_png_ihdr(tmp_path: Path) -> None:
    got = probe_file(write_png(tmp_path / "a.png", width=90, height=160))
    assert got == Probe("image", "png", width=90, height=160)
    bad = (tmp_path / "a.png").read_bytes()
    assert probe_bytes(bad[:20], tmp_path).problem
    assert "IHDR" in (probe_bytes(bad[:12] + b"IDAT" + bad[16:], tmp_path).problem or "")
    assert probe_bytes(jpeg(10, 10)[:30], tmp_path).problem


VIDEO = {"type": "video", "duration": 6, "aspect_ratio": "16:9", "resolution": "720p"}


@pytest.mark.parametrize(
    ("params", "probe", "found"),
    [
        (VIDEO, Probe("video", "mp4", 1280, 720, 6.0), []),
        (VIDEO, Probe("video", "mp4", 1280, 720, 6.49), []),  # within 0.5 s
        (VIDEO, Probe("video", "mp4", 1280, 720, 5.5), []),
        (VIDEO, Probe("video", "mp4", 1280, 720, 5.4), ["5.4 s long, 6 s requested"]),
        (VIDEO, Probe("video", "mp4", 1280, 720, 10.0), ["10 s long, 6 s requested"]),
        ({**VIDEO, "resolution": "480p"}, Probe("video", "mp4", 854, 480, 6.0), []),
        ({**VIDEO, "resolution": "480p"}, Probe("video", "mp4", 848, 480, 6.0), []),
        (VIDEO, Probe("video", "mp4", 1264, 712, 6.0), []),  # 8 px short, ratio 0.2 % off
        (VIDEO, Probe("video", "mp4", 1248, 702, 6.0), ["1248×702 (702p), 720p requested"]),
        (
            VIDEO,
            Probe("video", "mp4", 1080, 720, 6.0),
            ["1080×720 (3:2), 16:9 requested"],
        ),
        (
            {**VIDEO, "aspect_ratio": "9:16"},
            Probe("video", "mp4", 1280, 720, 6.0),
            ["1280×720 (16:9), 9:16 requested"],
        ),
        (
            VIDEO,
            Probe("video", "mp4", 854, 480, 4.0),
            ["4 s long, 6 s requested", "854×480 (480p), 720p requested"],
        ),
        (
            {**VIDEO, "aspect_ratio": "1:1"},
            Probe("video", "mp4", 1000, 700, 6.0),
            ["1000×700 (1.43:1), 1:1 requested", "1000×700 (700p), 720p requested"],
        ),
        ({"duration": 6}, Probe("video", "mp4", 640, 640, 6.2), []),  # nothing else asked
        (
            VIDEO,
            Probe("video", "mp4", 1280, 720, None),
            ["its duration is not in its header (6 s requested)"],
        ),
        (
            VIDEO,
            Probe("video", "mp4", problem="has a broken MP4 header: no video track"),
            ["the MP4 file has a broken MP4 header: no video track"],
        ),
        (VIDEO, Probe("image", "png", 1280, 720), ["a PNG image was delivered for a video"]),
        (
            VIDEO,
            Probe("unknown", "", problem="is neither an MP4 video nor a PNG, JPEG or WebP image"),
            [
                "a file that is neither an MP4 video nor a PNG, JPEG or WebP image"
                " was delivered for a video"
            ],
        ),
        ({"type": "image", "aspect_ratio": "3:2"}, Probe("image", "png", 1536, 1024), []),
        (
            {"type": "image", "aspect_ratio": "16:9", "resolution": "480p"},
            Probe("image", "png", 1024, 1024),
            ["1024×1024 (1:1), 16:9 requested"],
        ),
        ({"type": "image", "aspect_ratio": "nonsense"}, Probe("image", "png", 10, 99), []),
    ],
)
def test_compare(params: dict[str, Any], probe: Probe, found: list[str]) -> None:
    assert compare(params, probe) == found


def test_compare_a_real_file(tmp_path: Path) -> None:
    clip = probe_file(write_mp4(tmp_path / "c.mp4", 720, 1280, 10.0))
    assert compare({"duration": 10, "aspect_ratio": "9:16", "resolution": "720p"}, clip) == []
    assert compare({"duration": 6, "aspect_ratio": "9:16"}, clip) == ["10 s long, 6 s requested"]
