"""MP4 headers written box by box, so tests can state what a clip claims to be.

Only the boxes a reader needs are written (ftyp, moov/mvhd, trak/tkhd/mdia/mdhd/hdlr/
minf/stbl/stsd/avc1, mdat): enough for grokbatch.probe, not a playable video.
"""

from __future__ import annotations

import struct
from pathlib import Path

IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
ROTATE_90 = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def box(kind: bytes, *parts: bytes, large: bool = False) -> bytes:
    body = b"".join(parts)
    if large:  # size 1, then a 64-bit size
        return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, struct.pack(">B3x", version), body)


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    return full(b"mvhd", version, times + bytes(80))


def tkhd(
    width: float, height: float, *, version: int = 0, matrix: tuple[int, ...] = IDENTITY
) -> bytes:
    times = (
        struct.pack(">QQIIQ", 0, 0, 1, 0, 0) if version == 1 else struct.pack(">5I", 0, 0, 1, 0, 0)
    )
    size = struct.pack(">II", int(width * 65536), int(height * 65536))
    return full(b"tkhd", version, times + bytes(16) + struct.pack(">9i", *matrix) + size)


def mdhd(timescale: int, duration: int) -> bytes:
    return full(b"mdhd", 0, struct.pack(">IIII", 0, 0, timescale, duration) + bytes(4))


def hdlr(handler: bytes) -> bytes:
    return full(b"hdlr", 0, bytes(4) + handler + bytes(12) + b"\x00")


def avc1(width: int, height: int, kind: bytes = b"avc1") -> bytes:
    entry = box(
        kind,
        bytes(6),
        struct.pack(">H", 1),
        bytes(16),
        struct.pack(">HH", width, height),
        bytes(50),
    )
    return full(b"stsd", 0, struct.pack(">I", 1) + entry)


def video_trak(
    width: int,
    height: int,
    *,
    version: int = 0,
    matrix: tuple[int, ...] = IDENTITY,
    tkhd_size: bool = True,
    entry: tuple[int, int] | None = None,
    media: tuple[int, int] = (0, 0),
) -> bytes:
    ew, eh = entry or (width, height)
    size = (width, height) if tkhd_size else (0, 0)
    stbl = box(b"stbl", avc1(ew, eh))
    mdia = box(b"mdia", mdhd(*media), hdlr(b"vide"), box(b"minf", stbl))
    return box(b"trak", tkhd(*size, version=version, matrix=matrix), mdia)


def audio_trak() -> bytes:
    mdia = box(b"mdia", mdhd(48000, 48000 * 6), hdlr(b"soun"), box(b"minf", box(b"stbl")))
    return box(b"trak", tkhd(0, 0), mdia)


def mp4_bytes(
    width: int = 1280,
    height: int = 720,
    seconds: float = 6.0,
    *,
    timescale: int = 1000,
    version: int = 0,
    large: bool = False,
    mdat_first: bool = False,
    mdat: bytes = b"\x00" * 64,
    audio_first: bool = True,
    **trak: object,
) -> bytes:
    """A clip header claiming width×height and seconds; mdat before moov when mdat_first."""
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    traks = [video_trak(width, height, version=version, **trak)]  # type: ignore[arg-type]
    if audio_first:
        traks.insert(0, audio_trak())
    moov = box(b"moov", mvhd(timescale, round(seconds * timescale), version), *traks, large=large)
    data = box(b"mdat", mdat, large=large)
    return ftyp + (data + moov if mdat_first else moov + data)


def write_mp4(
    path: Path, width: int = 1280, height: int = 720, seconds: float = 6.0, **kw: object
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mp4_bytes(width, height, seconds, **kw))  # type: ignore[arg-type]
    return path
