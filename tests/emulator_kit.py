"""What the raw-HTTP emulator tests share: each provider's API as a table, and helpers.

No grokbatch adapter is used by these tests (`test_contract.py` runs those against the
emulator), so a mistake shared by an adapter and the emulator cannot hide in both.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from grokbatch.emulator import DEFAULT_KEYS, Emulator

Json = dict[str, Any]


@dataclass(frozen=True)
class Api:
    """What a test needs to know to drive one provider by hand."""

    name: str
    submit_path: str
    body: Json  # a valid submit
    price: float  # what `body` costs, in the provider's unit
    job_id: Callable[[Json], str]
    poll_path: Callable[[str], str]
    walk: tuple[str, ...]  # statuses in order, the last one the success
    failed: str
    url: Callable[[Json], str]
    bad_body: Json
    insufficient_status: int
    error_keys: frozenset[str]  # the top-level keys of an error body
    retry_after: bool
    charged_at_submit: bool
    refunds: bool
    size: tuple[int, int]  # width × height of the clip `body` asks for
    seconds: int  # its duration
    submit_status: int = 202

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = DEFAULT_KEYS[self.name] if key is None else key
        if self.name == "apiframe":
            return {"X-API-Key": key}
        return {"Authorization": f"Bearer {key}"}


APIS = {
    api.name: api
    for api in (
        Api(
            name="pixeldojo",
            submit_path="/api/v1/models/xai-video/run",
            body={"prompt": "A lamp on a desk", "duration": 6, "resolution": "480p"},
            price=12.0,  # 2 credits/s beats the flat 10 at 6 s
            job_id=lambda a: str(a["jobId"]),
            poll_path=lambda i: f"/api/v1/jobs/{i}",
            walk=("pending", "processing", "completed"),
            failed="failed",
            url=lambda p: str(p["output"]["video"]),
            bad_body={"prompt": "A lamp", "duration": 99},
            insufficient_status=402,
            error_keys=frozenset({"error"}),
            retry_after=True,
            charged_at_submit=True,
            refunds=False,
            size=(848, 480),
            seconds=6,
        ),
        Api(
            name="aimlapi",
            submit_path="/v2/video/generations",
            body={
                "model": "x-ai/grok-imagine-video",
                "prompt": "A lamp on a desk",
                "duration": 3,
                "resolution": "480p",
            },
            price=300_000.0,  # 100,000 credits/s at 480p
            job_id=lambda a: str(a["id"]),
            poll_path=lambda i: f"/v2/video/generations?generation_id={i}",
            walk=("queued", "generating", "completed"),
            failed="error",
            url=lambda p: str(p["video"]["url"]),
            bad_body={"model": "x-ai/grok-imagine-video", "duration": 0},
            insufficient_status=403,
            error_keys=frozenset({"message", "path", "requestId", "statusCode", "timestamp"}),
            retry_after=False,
            charged_at_submit=False,
            refunds=False,
            size=(848, 480),
            seconds=3,
            submit_status=200,
        ),
        Api(
            name="aivideoapi",
            submit_path="/v1/videos/generations",
            body={
                "model": "grok-imagine-text-to-video",
                "input": {"prompt": "A lamp on a desk", "duration": 6, "resolution": "720p"},
            },
            price=27.0,  # ceil(4.5 × 6)
            job_id=lambda a: str(a["data"]["taskId"]),
            poll_path=lambda i: f"/v1/tasks/{i}",
            walk=("pending", "processing", "completed"),
            failed="failed",
            url=lambda p: str(p["output"]["urls"][0]),
            bad_body={"model": "grok-imagine-text-to-video", "input": {"duration": 6}},
            insufficient_status=402,
            error_keys=frozenset({"error"}),
            retry_after=False,
            charged_at_submit=True,
            refunds=True,
            size=(720, 1080),  # its default aspect ratio is 2:3
            seconds=6,
            submit_status=200,
        ),
        Api(
            name="apiframe",
            submit_path="/v2/videos/generate",
            body={
                "model": "grok-imagine-video",
                "prompt": "A lamp on a desk",
                "grokImagineVideoParams": {"duration": 10, "aspect_ratio": "9:16"},
            },
            price=15.0,
            job_id=lambda a: str(a["jobId"]),
            poll_path=lambda i: f"/v2/jobs/{i}",
            walk=("QUEUED", "PROCESSING", "COMPLETED"),
            failed="FAILED",
            url=lambda p: frame_video_url(p["result"]),
            bad_body={"model": "grok-imagine-video", "prompt": "A lamp", "resolution": "720p"},
            insufficient_status=402,
            error_keys=frozenset({"error"}),
            retry_after=True,
            charged_at_submit=True,
            refunds=True,
            size=(720, 1280),
            seconds=10,
        ),
        Api(
            name="vydra",
            submit_path="/api/v1/models/grok-imagine",
            body={"prompt": "A lamp on a desk", "model": "text-to-video", "duration": 6},
            price=150.0,
            job_id=lambda a: str(a["jobId"]),
            poll_path=lambda i: f"/api/v1/jobs/{i}",
            walk=("pending", "running", "completed"),
            failed="failed",
            url=lambda p: str(p["output"]["videoUrl"]),
            bad_body={"prompt": "A lamp", "model": "image-to-video"},
            insufficient_status=402,
            error_keys=frozenset({"error", "code"}),
            retry_after=True,
            charged_at_submit=True,
            refunds=True,
            size=(848, 480),
            seconds=6,
        ),
        Api(
            name="xai",
            submit_path="/v1/videos/generations",
            body={
                "model": "grok-imagine-video",
                "prompt": "A lamp on a desk",
                "duration": 4,
                "resolution": "720p",
            },
            price=0.28,  # USD: 0.07/s at 720p
            job_id=lambda a: str(a["request_id"]),
            poll_path=lambda i: f"/v1/videos/{i}",
            walk=("pending", "done"),
            failed="failed",
            url=lambda p: str(p["video"]["url"]),
            bad_body={
                "model": "grok-imagine-video",
                "prompt": "A lamp",
                "duration": 12,
                "reference_images": [{"url": "https://e.example/a.png"}],
            },
            insufficient_status=429,  # or 403: see the xAI tests
            error_keys=frozenset({"code", "error"}),
            retry_after=True,
            charged_at_submit=False,
            refunds=False,
            size=(1280, 720),
            seconds=4,
            submit_status=200,
        ),
    )
}
NAMES = tuple(APIS)


def frame_video_url(result: Any) -> str:
    """The clip's URL in an APIFrame `result`, whichever of its shapes the job drew."""
    if isinstance(result, dict):
        result = result["url"]
    if isinstance(result, list):
        [result] = [u for u in result if ".mp4?" in u]
    return str(result)


def submit(
    emu: Emulator,
    http: httpx.Client,
    api: Api,
    body: Json | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return http.post(
        emu.base_url(api.name) + api.submit_path,
        json=api.body if body is None else body,
        headers=api.headers() | (headers or {}),
    )


def poll(emu: Emulator, http: httpx.Client, api: Api, job_id: str) -> Json:
    """A poll's body; xAI's HTTP 202 "still in progress" (its body may be empty) is pending."""
    answer = http.get(emu.base_url(api.name) + api.poll_path(job_id), headers=api.headers())
    if api.name == "xai" and answer.status_code == 202:
        return {"status": "pending"} if not answer.content else dict(answer.json())
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


def stats(emu: Emulator, name: str) -> Json:
    entry: Json = emu.stats()["providers"][name]
    return entry


def submitted_id(emu: Emulator, http: httpx.Client, api: Api, body: Json | None = None) -> str:
    answer = submit(emu, http, api, body)
    assert answer.status_code == api.submit_status, answer.text
    return api.job_id(answer.json())


def assert_error_shape(api: Api, answer: httpx.Response, status: int) -> Json:
    assert answer.status_code == status, answer.text
    body: Json = answer.json()
    assert api.error_keys <= set(body), body
    if api.name in ("pixeldojo", "aivideoapi"):
        assert {"code", "message"} <= set(body["error"])
    if api.name == "aivideoapi":
        assert "type" in body["error"]
    if api.name == "aimlapi":
        assert body["statusCode"] == status
    if api.name in ("apiframe", "xai"):
        assert isinstance(body["error"], str)
    return body


def boxes(data: bytes) -> dict[bytes, bytes]:
    """An MP4's boxes by type, nested ones included (the first of each type); the boxes at
    each level must tile their parent exactly."""
    found: dict[bytes, bytes] = {}
    containers = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"udta"}

    def walk(chunk: bytes) -> None:
        at = 0
        while at < len(chunk):
            size, kind = struct.unpack(">I4s", chunk[at : at + 8])
            assert size >= 8, (at, size)
            payload = chunk[at + 8 : at + size]
            found.setdefault(kind, payload)
            if kind in containers:
                walk(payload)
            at += size
        assert at == len(chunk)

    walk(data)
    return found


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, raw scanlines) of a PNG, after checking its signature and CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, kinds, header = 8, b"", [], b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, chunk = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + chunk)
        kinds.append(kind)
        idat += chunk if kind == b"IDAT" else b""
        header = chunk if kind == b"IHDR" else header
        at += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height = struct.unpack(">II", header[:8])
    return width, height, zlib.decompress(idat)
