"""The files the emulator serves look like what was asked for, by raw HTTP.

Each clip has its job's size, duration and frame rate in its boxes (tkhd, mvhd, mdhd),
decodes (with PyAV) to frames of that size, and is small and unique to its job. Images
and posters have the asked aspect ratio. APIFrame's `result` takes each of its shapes.
"""

from __future__ import annotations

import hashlib
import io
import struct

import av
import httpx
import pytest

from grokbatch.emulator import Emulator

from .emulator_kit import APIS, NAMES, Json, boxes, frame_video_url, png_pixels, poll, submit

pytestmark = pytest.mark.emulator(latency=0.0, seed=7, retry_after=0.5)  # done at the first poll


def clip_of(emu: Emulator, http: httpx.Client, name: str, body: Json | None = None) -> bytes:
    api = APIS[name]
    answer = submit(emu, http, api, body)
    assert answer.status_code == api.submit_status, answer.text
    got = http.get(api.url(poll(emu, http, api, api.job_id(answer.json()))))
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
    return got.content


def described(data: bytes) -> tuple[int, int, float, float]:
    """(width, height, movie seconds, media seconds) as the boxes say."""
    found = boxes(data)
    width, height = (v >> 16 for v in struct.unpack(">II", found[b"tkhd"][76:84]))
    movie_scale, movie_length = struct.unpack(">II", found[b"mvhd"][12:20])
    media_scale, media_length = struct.unpack(">II", found[b"mdhd"][12:20])
    return width, height, movie_length / movie_scale, media_length / media_scale


def decoded(data: bytes) -> tuple[int, set[tuple[int, int]], set[int]]:
    """(frames, their sizes, the luma values of the first frame's visible samples)."""
    sizes: set[tuple[int, int]] = set()
    luma: set[int] = set()
    count = 0
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            sizes.add((frame.width, frame.height))
            if count == 0:
                plane, stride = bytes(frame.planes[0]), frame.planes[0].line_size
                for row in range(frame.height):
                    luma |= set(plane[row * stride : row * stride + frame.width])
            count += 1
    return count, sizes, luma


@pytest.mark.parametrize("name", NAMES)
def test_each_providers_clip_has_the_asked_size_and_length_and_decodes(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    data = clip_of(emu, http, name)
    assert described(data) == (*api.size, api.seconds, api.seconds)
    frames, sizes, luma = decoded(data)
    assert frames == 24 * api.seconds and sizes == {api.size}
    assert len(luma) == 1  # a flat picture, in one colour
    assert len(data) < 20_000


AIML_SHAPES = [
    ("480p", "1:1", 1, (480, 480)),
    ("480p", "4:3", 2, (640, 480)),
    ("720p", "3:4", 1, (720, 960)),
    ("720p", "3:2", 1, (1080, 720)),
    ("1080p", "16:9", 2, (1920, 1080)),
    ("1080p", "2:3", 1, (1080, 1620)),
    ("1080p", "9:16", 15, (1080, 1920)),
]


@pytest.mark.parametrize(("resolution", "aspect", "seconds", "size"), AIML_SHAPES)
def test_a_clip_follows_the_resolution_aspect_ratio_and_duration_asked(
    emu: Emulator,
    http: httpx.Client,
    resolution: str,
    aspect: str,
    seconds: int,
    size: tuple[int, int],
) -> None:
    body = APIS["aimlapi"].body | {
        "resolution": resolution, "aspect_ratio": aspect, "duration": seconds
    }  # fmt: skip
    data = clip_of(emu, http, "aimlapi", body)
    assert described(data) == (*size, seconds, seconds)
    frames, sizes, _ = decoded(data)
    assert frames == 24 * seconds and sizes == {size}


def test_clips_are_unique_per_job_even_for_the_same_request(
    emu: Emulator, http: httpx.Client
) -> None:
    clips = [clip_of(emu, http, "xai") for _ in range(4)]
    assert len({hashlib.sha256(c).hexdigest() for c in clips}) == 4
    assert len({frozenset(decoded(c)[2]) for c in clips}) > 1  # colours drawn per job


@pytest.mark.parametrize(("aspect", "size"), [("16:9", (96, 54)), ("2:3", (64, 96)),
                                              ("1:1", (96, 96))])  # fmt: skip
def test_images_have_the_asked_aspect_ratio(
    emu: Emulator, http: httpx.Client, aspect: str, size: tuple[int, int]
) -> None:
    body = {"prompt": "A kite", "model": "text-to-image", "aspect_ratio": aspect}
    image = http.get(submit(emu, http, APIS["vydra"], body).json()["imageUrl"])
    assert png_pixels(image.content)[:2] == size


def test_apiframe_results_take_every_shape_and_some_carry_a_poster(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["apiframe"]
    shapes: set[str] = set()
    posters = 0
    for i in range(24):
        job = submit(emu, http, api, api.body | {"prompt": f"Lamp {i}"}).json()
        result = poll(emu, http, api, job["jobId"])["result"]
        shapes.add(type(result).__name__)
        urls = [result] if isinstance(result, str) else list(
            result.values() if isinstance(result, dict) else result
        )  # fmt: skip
        assert all(u.startswith(emu.url) for u in urls)
        for url in urls:
            if ".poster.png?" in url:
                posters += 1
                image = http.get(url)
                assert image.headers["content-type"] == "image/png"
                width, height, _ = png_pixels(image.content)
                assert (width, height) == (54, 96)  # the job asked for 9:16
        video = http.get(frame_video_url(result))
        assert video.headers["content-type"] == "video/mp4"
    assert shapes == {"str", "dict", "list"} and 0 < posters < 24
