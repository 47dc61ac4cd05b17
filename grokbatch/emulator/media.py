"""The files the emulator serves: a real (tiny) MP4 per video, a real PNG per image.

Each file is unique to its job, so checksums tell outputs apart: the MP4 is one base clip
(generated once with ffmpeg, `assets/clip.mp4`) with a trailing `free` box naming the job,
which players ignore; the PNG is drawn from the job id.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import cache
from importlib import resources


@cache
def _base_clip() -> bytes:
    return resources.files(__package__).joinpath("assets/clip.mp4").read_bytes()


def mp4_for(job_id: str, *, resolution: str, aspect_ratio: str, seconds: int) -> bytes:
    payload = f"grokbatch emulator job {job_id}".encode()
    return _base_clip() + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def png_for(job_id: str, aspect_ratio: str = "1:1", size: int = 64) -> bytes:
    """A size×size RGB PNG whose colours come from the job id."""
    seed = hashlib.sha256(job_id.encode()).digest()
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            row += bytes(
                (seed[(x // 8) % 32] ^ y * 3 & 255, seed[(y // 8) % 32], (x * 4 + seed[0]) & 255)
            )
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
