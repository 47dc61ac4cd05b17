"""What a downloaded file is: a clip's duration and frame size, an image's size, from headers.

Reads only headers, never frames, and never trusts a size a file states:

* MP4: the top-level boxes are walked by their headers (8 or 16 bytes each, 64-bit sizes
  included), seeking past `mdat`; only `moov` is read, and only up to MAX_MOOV bytes. In it:
  `mvhd` (timescale, duration; version 0 or 1), each `trak`'s `tkhd` (width and height in
  16.16 fixed point, the rotation matrix), `mdhd`, `hdlr` and the visual sample entry in
  `stsd` (`avc1`, `hvc1`, … : 16-bit width and height) for the video track.
* PNG: the IHDR chunk; JPEG: the first start-of-frame segment; WebP: the VP8/VP8L/VP8X header.

A truncated or hostile file gives a Probe with `problem` set; nothing here raises for what a
file contains, and no loop runs more than MAX_BOXES times.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_MOOV = 16 << 20  # a 30 s clip's moov is a few KB; hours of video stay under this
MAX_BOXES = 4096  # boxes (or JPEG segments) looked at per file
MAX_DEPTH = 8  # moov/trak/mdia/minf/stbl/stsd/avc1 is 7 deep
_JPEG_SCAN = 1 << 20  # EXIF and ICC segments come before the frame header, each ≤ 64 KB
_VISUAL_ENTRIES = frozenset(
    {b"avc1", b"avc3", b"hvc1", b"hev1", b"av01", b"vp08", b"vp09", b"mp4v", b"encv"}
)
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts"})


@dataclass(frozen=True)
class Probe:
    """What a file's headers say; None where they say nothing."""

    kind: str  # "video", "image" or "unknown"
    format: str  # "mp4", "png", "jpeg", "webp" or ""
    width: int | None = None  # as displayed (a 90°-rotated track's sides are swapped)
    height: int | None = None
    duration: float | None = None  # seconds
    problem: str | None = None  # why the headers could not be read (truncated, hostile, …)


class _Bad(Exception):
    """The headers contradict themselves; the message says how."""


def probe_file(path: Path) -> Probe:
    """Read path's headers; never raises for what the file contains (only Probe.problem)."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
            if head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"free", b"mdat", b"wide"):
                return _guard("video", "mp4", lambda: _mp4(f))
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return _guard("image", "png", lambda: _png(head + f.read(16)))
            if head.startswith(b"\xff\xd8"):
                return _guard("image", "jpeg", lambda: _jpeg(head + f.read(_JPEG_SCAN)))
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _guard("image", "webp", lambda: _webp(head + f.read(32)))
    except OSError as e:
        return Probe("unknown", "", problem=f"cannot be read ({e.strerror or e})")
    return Probe("unknown", "", problem="is neither an MP4 video nor a PNG, JPEG or WebP image")


def _guard(kind: str, fmt: str, read: Callable[[], Probe]) -> Probe:
    try:
        found = read()
    except _Bad as e:
        return Probe(kind, fmt, problem=f"has a broken {fmt.upper()} header: {e}")
    except (struct.error, IndexError, ValueError, OverflowError) as e:
        return Probe(kind, fmt, problem=f"has a truncated {fmt.upper()} header ({e})")
    return found


# --- MP4 -----------------------------------------------------------------------------------


def _mp4(f: BinaryIO) -> Probe:
    f.seek(0, 2)
    end = f.tell()
    pos = 0
    for _ in range(MAX_BOXES):
        if pos + 8 > end:
            break
        f.seek(pos)
        kind, header, size = _header(f.read(16), end - pos)
        if kind == b"moov":
            if size > MAX_MOOV:
                raise _Bad(f"moov is {size:,} bytes, over the {MAX_MOOV:,}-byte limit")
            f.seek(pos + header)
            body = f.read(size - header)
            if len(body) < size - header:
                raise _Bad("the file ends inside moov")
            return _moov(body)
        pos += size
    raise _Bad("no moov box (the file may be cut short, or still being written)")


def _header(data: bytes, room: int) -> tuple[bytes, int, int]:
    """(type, header length, box size) of the box at the start of data; room: bytes left."""
    if len(data) < 8:
        raise _Bad("a box header is cut short")
    size, kind = struct.unpack(">I4s", data[:8])
    header = 8
    if size == 1:  # a 64-bit size follows the type
        if len(data) < 16:
            raise _Bad(f"the 64-bit size of {_name(kind)} is cut short")
        (size,) = struct.unpack(">Q", data[8:16])
        header = 16
    elif size == 0:  # the box runs to the end of its parent
        size = room
    if size < header:
        raise _Bad(f"{_name(kind)} claims {size:,} bytes, less than its own header")
    if size > room:
        raise _Bad(f"{_name(kind)} claims {size:,} bytes where {room:,} remain (cut short?)")
    return kind, header, size


def _children(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in buf[start:end]."""
    pos = start
    for _ in range(MAX_BOXES):
        if pos >= end:
            return
        kind, header, size = _header(buf[pos : pos + 16], end - pos)
        yield kind, pos + header, pos + size
        pos += size
    raise _Bad(f"over {MAX_BOXES} boxes in one parent")


def _moov(buf: bytes) -> Probe:
    timescale = duration = 0
    fragments = 0
    tracks: list[_Track] = []
    for kind, start, end in _children(buf, 0, len(buf)):
        if kind == b"mvhd":
            timescale, duration = _time_header(buf, start)
        elif kind == b"trak":
            tracks.append(_trak(buf, start, end))
        elif kind == b"mvex":
            for sub, s, _ in _children(buf, start, end):
                if sub == b"mehd":
                    fragments = _u(buf, s + 4, 8 if buf[s] == 1 else 4)
    if not timescale:
        raise _Bad("mvhd is missing or has a zero timescale")
    video = next((t for t in tracks if t.video), None)
    if video is None:
        raise _Bad("no video track")
    seconds: float | None = (duration or fragments) / timescale
    if not seconds and video.timescale:
        seconds = video.duration / video.timescale
    width, height = video.size()
    return Probe("video", "mp4", width=width, height=height, duration=seconds or None)


def _time_header(buf: bytes, start: int) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd body; an all-ones duration is unknown."""
    if buf[start] == 1:  # version 1: 64-bit times
        timescale, duration = _u(buf, start + 20, 4), _u(buf, start + 24, 8)
        unknown = 0xFFFFFFFFFFFFFFFF
    else:
        timescale, duration = _u(buf, start + 12, 4), _u(buf, start + 16, 4)
        unknown = 0xFFFFFFFF
    return timescale, 0 if duration == unknown else duration


@dataclass
class _Track:
    handler: bytes = b""
    tkhd: tuple[int, int] = (0, 0)  # whole pixels
    rotated: bool = False
    entry: tuple[int, int] = (0, 0)  # from the visual sample entry
    timescale: int = 0
    duration: int = 0

    @property
    def video(self) -> bool:
        return self.handler == b"vide" or (not self.handler and any(self.entry))

    def size(self) -> tuple[int | None, int | None]:
        w, h = self.tkhd if all(self.tkhd) else self.entry
        if self.rotated:
            w, h = h, w
        return (w or None), (h or None)


def _trak(buf: bytes, start: int, end: int) -> _Track:
    track = _Track()
    for kind, s, e in _walk(buf, start, end, 1):
        if kind == b"tkhd":
            at = s + (52 if buf[s] == 1 else 40)  # the matrix, after the version's times
            a, b, _, c, d = struct.unpack(">5i", buf[at : at + 20])
            track.rotated = a == 0 and d == 0 and b != 0 and c != 0
            track.tkhd = (_u(buf, at + 36, 4) >> 16, _u(buf, at + 40, 4) >> 16)
        elif kind == b"mdhd":
            track.timescale, track.duration = _time_header(buf, s)
        elif kind == b"hdlr":
            track.handler = buf[s + 8 : s + 12]
        elif kind == b"stsd":
            for entry, es, _ in _children(buf, s + 8, e):
                if entry in _VISUAL_ENTRIES:
                    track.entry = (_u(buf, es + 24, 2), _u(buf, es + 26, 2))
                    break
    return track


def _walk(buf: bytes, start: int, end: int, depth: int) -> Iterator[tuple[bytes, int, int]]:
    """Every box in buf[start:end], descending into containers."""
    if depth > MAX_DEPTH:
        raise _Bad(f"boxes nested over {MAX_DEPTH} deep")
    for kind, s, e in _children(buf, start, end):
        yield kind, s, e
        if kind in _CONTAINERS:
            yield from _walk(buf, s, e, depth + 1)


def _u(buf: bytes, at: int, size: int) -> int:
    if at < 0 or at + size > len(buf):
        raise _Bad("a field lies past the end of its box")
    return int.from_bytes(buf[at : at + size], "big")


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


# --- images --------------------------------------------------------------------------------


def _png(data: bytes) -> Probe:
    length, chunk = struct.unpack(">I4s", data[8:16])
    if chunk != b"IHDR" or length != 13:
        raise _Bad("the first chunk is not a 13-byte IHDR")
    width, height = struct.unpack(">II", data[16:24])
    if not 0 < width < 1 << 31 or not 0 < height < 1 << 31:
        raise _Bad(f"IHDR says {width}×{height}")
    return Probe("image", "png", width=width, height=height)


def _jpeg(data: bytes) -> Probe:
    pos = 2
    for _ in range(MAX_BOXES):
        while pos < len(data) and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if data[pos] != 0xFF:
            raise _Bad(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return Probe("image", "jpeg", width=width or None, height=height or None)
        if length < 2:
            raise _Bad(f"a segment of length {length}")
        pos += 2 + length
    raise _Bad(f"no frame header in the first {MAX_BOXES} segments")


def _webp(data: bytes) -> Probe:
    if len(data) < 30:
        raise _Bad("the header is cut short")
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
    else:
        raise _Bad(f"unknown first chunk {_name(chunk)}")
    return Probe("image", "webp", width=width, height=height)
