"""The files the emulator serves: an MP4 per video, a PNG per image, shaped as asked.

A clip has the job's size (its resolution and aspect ratio), duration and 24 frames a
second, as a real Grok Imagine clip does, and decodes: H.264 coded by hand (`h264.py`), in
a plain ISO BMFF file written here. Each is a flat picture in a colour drawn from the job
id and ends with a `free` box naming the job, so every file is unique to its job and a
few kilobytes long. A PNG (an image job's output, or a video's poster) has the asked
aspect ratio, patterned from the job id.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

from .h264 import Picture

FPS = 24
TIMESCALE = FPS * 1000  # each frame lasts 1000 ticks
UNITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)  # the identity matrix


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height): the short side is the resolution's lines (480p: 480); the long side
    follows the ratio, rounded to a multiple of 16 where it is not whole (480p 16:9: 848)."""
    short = int(resolution.rstrip("p") or 720)
    a, b = (int(x) for x in aspect_ratio.split(":"))
    exact = short * max(a, b) / min(a, b)
    long = int(exact) if exact == int(exact) else 16 * round(exact / 16)
    return (long, short) if a >= b else (short, long)


def colour_of(job_id: str) -> tuple[int, int, int]:
    """A (Y, Cb, Cr) colour in the video range 16..235, drawn from the job id."""
    digest = hashlib.sha256(job_id.encode()).digest()
    return 16 + digest[0] * 219 // 255, 16 + digest[1] * 224 // 255, 16 + digest[2] * 224 // 255


def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


@lru_cache(maxsize=64)
def _parameter_sets(width: int, height: int) -> tuple[bytes, bytes]:
    picture = Picture(width, height)
    return picture.sps(), picture.pps()


@lru_cache(maxsize=64)
def _repeats(width: int, height: int, frames: int) -> tuple[bytes, ...]:
    """Every frame after the first, length-prefixed: the same in every clip of this size
    and length, so built once (they were most of the emulator's time per download)."""
    picture = Picture(width, height)
    skipped = (picture.skipped(n) for n in range(1, frames))
    return tuple(struct.pack(">I", len(s)) + s for s in skipped)


def mp4_for(job_id: str, *, resolution: str, aspect_ratio: str, seconds: int) -> bytes:
    """The job's clip: `seconds` long (at least one frame) at the asked size."""
    width, height = frame_size(resolution, aspect_ratio)
    picture = Picture(width, height)
    sps, pps = _parameter_sets(width, height)
    frames = max(1, seconds * FPS)
    first = picture.idr(colour_of(job_id))
    samples = [struct.pack(">I", len(first)) + first, *_repeats(width, height, frames)]
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")

    def moov(data_offset: int) -> bytes:
        return _moov(width, height, frames, sps, pps, samples, data_offset)

    head = ftyp + moov(0)
    mdat = box(b"mdat", *samples)
    note = box(b"free", f"grokbatch emulator job {job_id}".encode())
    return ftyp + moov(len(head) + 8) + mdat + note


def _moov(
    width: int,
    height: int,
    frames: int,
    sps: bytes,
    pps: bytes,
    samples: list[bytes],
    data_offset: int,
) -> bytes:
    ms = frames * 1000 // FPS
    matrix = struct.pack(">9I", *UNITY)
    mvhd = full(
        b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, ms),
        struct.pack(">IH", 0x10000, 0x100), bytes(10), matrix, bytes(24), struct.pack(">I", 2),
    )  # fmt: skip
    tkhd = full(
        b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, ms), bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0), matrix, struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, frames * 1000, 0x55C4, 0))
    hdlr = full(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0")
    avcc = box(
        b"avcC", bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]),
        struct.pack(">H", len(sps)), sps, b"\x01", struct.pack(">H", len(pps)), pps,
    )  # fmt: skip
    avc1 = box(
        b"avc1", bytes(6), struct.pack(">HHH", 1, 0, 0), bytes(12),
        struct.pack(">HHIIIH", width, height, 0x480000, 0x480000, 0, 1), bytes(32),
        struct.pack(">Hh", 0x18, -1), avcc,
    )  # fmt: skip
    sizes = b"".join(struct.pack(">I", len(s)) for s in samples)
    stbl = box(
        b"stbl",
        full(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        full(b"stts", 0, 0, struct.pack(">III", 1, frames, 1000)),
        full(b"stss", 0, 0, struct.pack(">II", 1, 1)),  # the first frame is the only key frame
        full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
        full(b"stsz", 0, 0, struct.pack(">II", 0, frames), sizes),
        full(b"stco", 0, 0, struct.pack(">II", 1, data_offset)),
    )
    dinf = box(b"dinf", full(b"dref", 0, 0, struct.pack(">I", 1), full(b"url ", 0, 1)))
    minf = box(b"minf", full(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    return box(b"moov", mvhd, trak)


def png_for(job_id: str, aspect_ratio: str = "1:1") -> bytes:
    """An RGB PNG of the asked aspect ratio (96 pixels on its long side), from the job id."""
    a, b = (int(x) for x in aspect_ratio.split(":"))
    scale = 96 / max(a, b)
    width, height = round(a * scale), round(b * scale)
    seed = hashlib.sha256(job_id.encode()).digest()
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            row += bytes(
                (seed[(x // 8) % 32] ^ y * 3 & 255, seed[(y // 8) % 32], (x * 4 + seed[0]) & 255)
            )
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
