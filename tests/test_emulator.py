"""The emulator on its own, with raw HTTP over loopback: every provider as providers.md has it.

No grokbatch adapter is used here (`test_contract.py` runs those against the emulator), so a
mistake shared by an adapter and the emulator cannot hide in both.
"""

from __future__ import annotations

import json
import math
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from grokbatch.emulator import PROVIDERS, Emulator, EmulatorConfig, serve
from grokbatch.emulator.config import DEFAULT_CREDITS

from .openapi import (
    AIML_FETCH_FILE,
    AIML_FILE,
    AIML_POLL,
    AIML_REQUEST,
    AIML_SUBMIT,
    FRAME_FILE,
)
from .openapi import openapi_schema as schema

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
    submit_status: int = 202

    def headers(self, key: str = "k-test") -> dict[str, str]:
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
            url=lambda p: str(p["result"]),
            bad_body={"model": "grok-imagine-video", "prompt": "A lamp", "resolution": "720p"},
            insufficient_status=402,
            error_keys=frozenset({"error"}),
            retry_after=True,
            charged_at_submit=True,
            refunds=True,
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
            insufficient_status=402,
            error_keys=frozenset({"code", "error"}),
            retry_after=True,
            charged_at_submit=False,
            refunds=False,
            submit_status=200,
        ),
    )
}
NAMES = tuple(APIS)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.0, seed=7, retry_after=0.5)) as e:
        yield e


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:  # one for all: building one takes ~30 ms
        yield client


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
    answer = http.get(emu.base_url(api.name) + api.poll_path(job_id), headers=api.headers())
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
    if api.name == "apiframe":
        assert isinstance(body["error"], str)
    return body


def mp4_boxes(data: bytes) -> list[bytes]:
    """The top-level box types; they must tile the file exactly."""
    kinds, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        assert size >= 8, (at, size)
        kinds.append(kind)
        at += size
    assert at == len(data)
    return kinds


def png_pixels(data: bytes) -> bytes:
    """The raw scanlines of a PNG, after checking its signature and every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, kinds = 8, b"", []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, chunk = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + chunk)
        kinds.append(kind)
        idat += chunk if kind == b"IDAT" else b""
        at += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    return zlib.decompress(idat)


# --- the happy path, provider by provider ------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_job_walks_its_statuses_is_charged_and_downloads(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(latency=0.3)
    start = DEFAULT_CREDITS[name]
    job_id = submitted_id(emu, http, api)
    if api.charged_at_submit:
        assert stats(emu, name)["balance"] == pytest.approx(start - api.price)
    else:
        assert stats(emu, name)["balance"] == start
    seen: list[str] = []
    for _ in range(100):
        answer = poll(emu, http, api, job_id)
        if not seen or seen[-1] != answer["status"]:
            seen.append(answer["status"])
        if answer["status"] == api.walk[-1]:
            break
        time.sleep(0.02)
    assert tuple(seen) == api.walk
    entry = stats(emu, name)
    assert entry["balance"] == pytest.approx(start - api.price)
    assert entry["credits_charged"] == pytest.approx(api.price)
    assert (entry["submissions"], entry["paid"], entry["duplicates"]) == (1, 1, 0)
    assert entry["jobs"] == {"ok": 1} and entry["polls"] >= len(seen)
    got = http.get(api.url(answer))
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
    assert got.content[4:8] == b"ftyp"
    assert {b"ftyp", b"moov", b"mdat", b"free"} <= set(mp4_boxes(got.content))
    assert job_id.encode() in got.content  # unique per job
    assert len(got.content) < 40_000
    assert stats(emu, name)["downloads"] == 1


def test_each_provider_reports_its_cost_in_its_own_words(emu: Emulator, http: httpx.Client) -> None:
    def body_of(name: str) -> Json:
        body: Json = submit(emu, http, APIS[name]).json()
        return body

    assert body_of("pixeldojo")["creditCost"] == 12
    assert body_of("vydra")["creditsCharged"] == 150
    aiml = poll(emu, http, APIS["aimlapi"], body_of("aimlapi")["id"])
    assert aiml["meta"]["usage"] == {"credits_used": 300_000, "usd_spent": 0.15}
    xai = poll(emu, http, APIS["xai"], body_of("xai")["request_id"])
    assert xai["usage"]["cost_in_usd_ticks"] == 2_800_000_000
    assert xai["video"]["respect_moderation"] is True and xai["video"]["duration"] == 4
    frame = poll(emu, http, APIS["apiframe"], body_of("apiframe")["jobId"])
    assert frame["creditCost"] == 15
    # AI Video API: 2.4 credits/s at 480p (its default), rounded up.
    seven = {"model": "grok-imagine-text-to-video", "input": {"prompt": "x", "duration": 7}}
    submit(emu, http, APIS["aivideoapi"], seven)
    assert stats(emu, "aivideoapi")["credits_charged"] == math.ceil(2.4 * 7)


def test_pixeldojo_answers_its_seed_shapes(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["pixeldojo"]
    answer = submit(emu, http, api, {"prompt": "short", "duration": 3})
    body = answer.json()
    assert set(body) == {
        "jobId", "status", "statusUrl", "creditCost", "creditsRemaining", "expiresAt"
    }  # fmt: skip
    assert body["status"] == "pending" and body["creditCost"] == 10
    assert body["creditsRemaining"] == DEFAULT_CREDITS["pixeldojo"] - 10
    assert body["statusUrl"] == emu.base_url("pixeldojo") + f"/api/v1/jobs/{body['jobId']}"
    polled = http.get(body["statusUrl"], headers=api.headers()).json()
    assert {"jobId", "status", "output", "creditCost", "expiresAt"} <= set(polled)


def test_vydra_text_to_image_is_answered_at_once_with_a_png(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["vydra"]
    answer = submit(emu, http, api, {"prompt": "A red kite", "model": "text-to-image"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "completed" and body["resultUrls"] == [body["imageUrl"]]
    image = http.get(body["imageUrl"])
    assert image.headers["content-type"] == "image/png"
    pixels = png_pixels(image.content)
    other = submit(emu, http, api, {"prompt": "A blue kite", "model": "text-to-image"}).json()
    assert png_pixels(http.get(other["imageUrl"]).content) != pixels  # unique per job
    assert stats(emu, "vydra")["credits_charged"] == 16
    assert poll(emu, http, api, body["jobId"])["status"] == "completed"


def test_two_clips_differ_but_share_the_base_clip(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["xai"]
    first, second = (api.url(poll(emu, http, api, submitted_id(emu, http, api))) for _ in range(2))
    a, b = http.get(first).content, http.get(second).content
    assert a != b and a[:1000] == b[:1000]


# --- what the APIs refuse ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_or_wrong_key_is_401(emu: Emulator, http: httpx.Client, name: str) -> None:
    api = APIS[name]
    url = emu.base_url(name) + api.submit_path
    assert_error_shape(api, http.post(url, json=api.body), 401)
    emu.configure(api_keys=["right"])
    assert_error_shape(api, submit(emu, http, api, headers=api.headers("wrong")), 401)
    assert submit(emu, http, api, headers=api.headers("right")).status_code == api.submit_status
    entry = stats(emu, name)
    assert (entry["rejected"], entry["submissions"]) == (2, 1)


@pytest.mark.parametrize("name", NAMES)
def test_a_body_the_api_rejects_is_a_validation_error(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    body = assert_error_shape(api, submit(emu, http, api, api.bad_body), 400)
    if name == "vydra":
        assert body["code"] == "INVALID_INPUT"
    if name == "aivideoapi":
        assert body["error"]["code"] == "invalid_request"
    entry = stats(emu, name)
    assert (entry["rejected"], entry["submissions"], entry["credits_charged"]) == (1, 0, 0)
    not_json = http.post(emu.base_url(name) + api.submit_path, content=b"{", headers=api.headers())
    assert_error_shape(api, not_json, 400)


LONG = "x" * 5001
MORE_BAD_BODIES = [
    ("pixeldojo", {"prompt": "x", "colour": "red"}),  # unknown field
    ("pixeldojo", {"duration": 5}),  # no prompt
    ("pixeldojo", {"prompt": "x", "aspect_ratio": "5:4"}),
    ("pixeldojo", {"prompt": "x", "resolution": "1080p"}),
    ("aimlapi", {"model": "x-ai/grok-imagine-video", "image_url": "https://e.example/a.png",
                 "reference_images": ["https://e.example/b.png"]}),
    ("aimlapi", {"model": "x-ai/grok-imagine-video", "reference_images": ["https://e/b"] * 8}),
    ("aimlapi", {"model": "x-ai/grok-imagine-video", "duration": "5"}),
    ("aivideoapi", {"model": "grok-imagine-image-to-video",
                    "input": {"prompt": "x", "mode": "spicy", "image_urls": ["https://e/a"]}}),
    ("aivideoapi", {"model": "grok-imagine-image-to-video", "input": {"prompt": "x"}}),
    ("aivideoapi", {"model": "grok-imagine-text-to-video", "input": {"prompt": LONG}}),
    ("aivideoapi", {"model": "grok-imagine-text-to-video", "input": {"prompt": "x",
                                                                     "duration": 5}}),
    ("apiframe", {"model": "grok-imagine-video", "prompt": LONG}),
    ("apiframe", {"model": "grok-imagine-video", "prompt": "x",
                  "grokImagineVideoParams": {"duration": 6, "resolution": "720p"}}),
    ("vydra", {"prompt": LONG}),
    ("vydra", {"prompt": "x", "duration": 16}),
    ("vydra", {"prompt": "x", "model": "video"}),
    ("xai", {"model": "grok-imagine-video", "reference_images": [{"url": "https://e/a"}]}),
    ("xai", {"model": "grok-imagine-video", "prompt": "x", "resolution": "1080p"}),
    ("xai", {"model": "grok-video", "prompt": "x"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body"), MORE_BAD_BODIES)
def test_more_bodies_the_apis_reject(
    emu: Emulator, http: httpx.Client, name: str, body: Json
) -> None:
    api = APIS[name]
    answer = submit(emu, http, api, body)
    assert answer.status_code in (400, 422), answer.text
    assert_error_shape(api, answer, answer.status_code)


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_balance_is_the_providers_insufficient_credits(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.set_credits(name, api.price * 0.99)
    body = assert_error_shape(api, submit(emu, http, api), api.insufficient_status)
    if name == "apiframe":
        assert (body["creditsRequired"], body["creditsAvailable"]) == (15, 14)
    if name == "vydra":
        assert body["creditsRequired"] == 150 and body["creditsRemaining"] == pytest.approx(148.5)
    if name == "aivideoapi":
        assert body["error"]["code"] == "insufficient_credits"
    entry = stats(emu, name)
    assert (entry["submissions"], entry["rejected"]) == (0, 1)
    assert entry["balance"] == pytest.approx(api.price * 0.99)
    emu.set_credits(name, api.price)
    assert submit(emu, http, api).status_code == api.submit_status


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_job_is_404(emu: Emulator, http: httpx.Client, name: str) -> None:
    api = APIS[name]
    unknown = "3f1c9d2e-8a4b-4c6d-9e0f-123456789abc" if name == "apiframe" else "nope"
    answer = http.get(emu.base_url(name) + api.poll_path(unknown), headers=api.headers())
    body = assert_error_shape(api, answer, 404)
    if name == "vydra":
        assert body["code"] == "JOB_NOT_FOUND"
    if name == "aivideoapi":
        assert body["error"]["code"] == "task_not_found"


def test_apiframe_answers_400_to_a_job_id_that_is_not_a_uuid(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["apiframe"]
    answer = http.get(emu.base_url("apiframe") + api.poll_path("nope"), headers=api.headers())
    assert assert_error_shape(api, answer, 400)["error"] == "`id` is not a valid UUID"


def test_an_unknown_provider_or_route_is_404(emu: Emulator, http: httpx.Client) -> None:
    assert http.get(f"{emu.url}/midjourney/v1/x").status_code == 404
    api = APIS["apiframe"]
    unknown_route = http.get(emu.base_url("apiframe") + "/v9/nothing", headers=api.headers())
    assert unknown_route.status_code == 404
    with pytest.raises(KeyError):
        emu.base_url("midjourney")


# --- jobs that fail ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_failed_job_is_refunded_where_the_provider_refunds(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(failure_rate=1.0)
    answer = poll(emu, http, api, submitted_id(emu, http, api))
    assert answer["status"] == api.failed
    assert "moderation" not in json.dumps(answer).lower()
    entry = stats(emu, name)
    kept = api.price if api.charged_at_submit and not api.refunds else 0.0
    assert entry["balance"] == pytest.approx(DEFAULT_CREDITS[name] - kept)
    assert entry["credits_refunded"] == pytest.approx(api.price if api.refunds else 0.0)
    assert entry["jobs"] == {"failed": 1} and entry["paid"] == (1 if kept else 0)
    if name == "xai":  # failures come as HTTP 200 with an error object
        assert set(answer["error"]) == {"code", "message"}
    if name == "aimlapi":
        assert set(answer["error"]) == {"name", "message"} and answer["video"] is None


@pytest.mark.parametrize("name", NAMES)
def test_a_moderated_job_says_so(emu: Emulator, http: httpx.Client, name: str) -> None:
    api = APIS[name]
    emu.configure(moderation_rate=1.0)
    answer = poll(emu, http, api, submitted_id(emu, http, api))
    if name == "xai":
        assert answer["status"] == "done"
        assert answer["video"]["respect_moderation"] is False and "url" not in answer["video"]
    else:
        assert answer["status"] == api.failed
        assert "moderation" in json.dumps(answer).lower()
    assert stats(emu, name)["jobs"] == {"moderated": 1}


def test_the_same_seed_draws_the_same_fates(http: httpx.Client) -> None:
    def fates() -> list[str]:
        api = APIS["aivideoapi"]
        with Emulator(EmulatorConfig(latency=0, seed=11, failure_rate=0.5)) as emu:
            return [poll(emu, http, api, submitted_id(emu, http, api))["status"] for _ in range(12)]

    first = fates()
    assert first == fates() and len(set(first)) == 2


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_rate_limits_and_server_errors_in_the_providers_shape(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    job_id = submitted_id(emu, http, api)
    emu.configure(rate_limit_rate=1.0)
    for answer in (submit(emu, http, api), http.get(
        emu.base_url(name) + api.poll_path(job_id), headers=api.headers()
    )):  # fmt: skip
        body = assert_error_shape(api, answer, 429)
        assert ("retry-after" in answer.headers) == api.retry_after
        if api.retry_after:
            assert float(answer.headers["retry-after"]) == 0.5
        if name == "vydra":
            assert body["code"] == "RATE_LIMIT_EXCEEDED"
        if name == "aivideoapi":
            assert body["error"]["code"] == "rate_limit_exceeded"
    emu.configure(rate_limit_rate=0.0, server_error_rate=1.0)
    answer = submit(emu, http, api)
    assert_error_shape(api, answer, answer.status_code)
    assert answer.status_code >= 500
    entry = stats(emu, name)
    assert (entry["rate_limited"], entry["server_errors"], entry["submissions"]) == (2, 1, 1)


def test_rates_between_zero_and_one_hit_about_that_often(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["xai"]
    emu.configure(rate_limit_rate=0.3, server_error_rate=0.2)
    codes = [submit(emu, http, api).status_code for _ in range(200)]
    limited, failed = codes.count(429), sum(1 for c in codes if c >= 500)
    assert 35 < limited < 85 and 15 < failed < 60
    assert stats(emu, "xai")["submissions"] == codes.count(200)


@pytest.mark.parametrize("name", NAMES)
def test_a_lost_answer_still_created_and_charged_the_job(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(lost_response_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        submit(emu, http, api)
    entry = stats(emu, name)
    assert (entry["submissions"], entry["lost_responses"]) == (1, 1)
    # Billed at submit, or (AI/ML, xAI) at completion, which latency 0 makes immediate.
    assert entry["credits_charged"] == pytest.approx(api.price)
    emu.configure(lost_response_rate=0.0)
    assert submit(emu, http, api).status_code == api.submit_status  # the connection recovers
    assert stats(emu, name)["duplicates"] == 1  # the blind resend paid for the clip twice


def test_request_latency_delays_every_answer(emu: Emulator, http: httpx.Client) -> None:
    emu.configure(request_latency=0.2)
    began = time.monotonic()
    submit(emu, http, APIS["vydra"])
    assert time.monotonic() - began >= 0.2


# --- output URLs -------------------------------------------------------------------------------


def test_an_output_url_expires_and_a_new_poll_mints_a_fresh_one(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["apiframe"]
    job_id = submitted_id(emu, http, api)
    emu.configure(url_ttl=0.3)
    url = api.url(poll(emu, http, api, job_id))
    assert http.get(url).status_code == 200
    time.sleep(0.4)
    expired = http.get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text
    fresh = api.url(poll(emu, http, api, job_id))
    assert fresh != url and http.get(fresh).status_code == 200
    forged = fresh.replace("expires=", "expires=9").split("&sig=")[0] + "&sig=0"
    assert http.get(forged).status_code == 403
    assert stats(emu, "apiframe")["downloads"] == 2


def test_a_failed_job_has_no_file(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["vydra"]
    emu.configure(failure_rate=1.0)
    job_id = submitted_id(emu, http, api)
    emu.configure(failure_rate=0.0)
    good = api.url(poll(emu, http, api, submitted_id(emu, http, api)))
    stolen = good.replace(good.split("/")[-1].split(".")[0], job_id)
    assert http.get(stolen).status_code in (403, 404)


# --- idempotency and duplicates ----------------------------------------------------------------


def test_apiframe_replays_an_idempotency_key_and_refuses_it_for_another_body(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["apiframe"]
    key = {"Idempotency-Key": "job-1"}
    first = submit(emu, http, api, headers=key)
    again = submit(emu, http, api, headers=key)
    assert again.status_code == 202 and again.json()["jobId"] == first.json()["jobId"]
    other = api.body | {"prompt": "Something else"}
    conflict = submit(emu, http, api, other, key)
    assert_error_shape(api, conflict, 409)
    too_long = submit(emu, http, api, other, {"Idempotency-Key": "k" * 256})
    assert_error_shape(api, too_long, 400)
    entry = stats(emu, "apiframe")
    assert (entry["submissions"], entry["replays"], entry["duplicates"]) == (1, 1, 0)
    assert entry["credits_charged"] == 15


def test_concurrent_submits_with_one_key_create_one_job(emu: Emulator) -> None:
    api = APIS["apiframe"]
    url = emu.base_url("apiframe") + api.submit_path
    headers = api.headers() | {"Idempotency-Key": "same"}
    with httpx.Client(timeout=5.0) as http, ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda _: http.post(url, json=api.body, headers=headers), range(32))
        )
    assert len({a.json()["jobId"] for a in answers}) == 1
    entry = stats(emu, "apiframe")
    assert (entry["submissions"], entry["replays"], entry["duplicates"]) == (1, 31, 0)


def test_duplicates_count_clips_paid_twice_and_nothing_else(
    emu: Emulator, http: httpx.Client
) -> None:
    vydra, xai, pixel = APIS["vydra"], APIS["xai"], APIS["pixeldojo"]
    submitted_id(emu, http, vydra)
    submitted_id(emu, http, vydra)  # same body, paid again
    submitted_id(emu, http, vydra, vydra.body | {"prompt": "Another lamp"})  # not the same
    assert stats(emu, "vydra")["duplicates"] == 1
    # Key order does not make a body different.
    submitted_id(emu, http, vydra, dict(reversed(list(vydra.body.items()))))
    assert stats(emu, "vydra")["duplicates"] == 2
    # Billed at completion: counted once both are done and paid.
    poll(emu, http, xai, submitted_id(emu, http, xai))
    poll(emu, http, xai, submitted_id(emu, http, xai))
    assert stats(emu, "xai")["duplicates"] == 1
    # A resubmission after a failure is not a duplicate, refunded (Vydra) or not (PixelDojo).
    emu.reset()
    emu.configure(failure_rate=1.0)
    poll(emu, http, vydra, submitted_id(emu, http, vydra))
    poll(emu, http, pixel, submitted_id(emu, http, pixel))
    emu.configure(failure_rate=0.0)
    poll(emu, http, vydra, submitted_id(emu, http, vydra))
    poll(emu, http, pixel, submitted_id(emu, http, pixel))
    totals = emu.stats()["totals"]
    assert (totals["submissions"], totals["duplicates"], totals["paid"]) == (4, 0, 3)


def test_a_twin_sent_while_the_first_runs_stops_counting_once_the_first_is_refunded(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["aivideoapi"]
    emu.configure(latency=0.3, failure_rate=1.0)
    first = submitted_id(emu, http, api)
    emu.configure(failure_rate=0.0)
    submitted_id(emu, http, api)
    assert stats(emu, "aivideoapi")["duplicates"] == 1  # both paid for now
    time.sleep(0.35)
    assert poll(emu, http, api, first)["status"] == "failed"
    assert stats(emu, "aivideoapi")["duplicates"] == 0


# --- admin, concurrency, serve ------------------------------------------------------------------


def test_admin_stats_config_and_reset(emu: Emulator, http: httpx.Client) -> None:
    submitted_id(emu, http, APIS["vydra"])
    over_http = http.get(f"{emu.url}/_emulator/stats").json()
    assert over_http == emu.stats()
    assert set(over_http["providers"]) == set(PROVIDERS)
    assert over_http["totals"]["submissions"] == 1
    assert set(over_http["providers"]["vydra"]) >= {
        "submissions", "paid", "duplicates", "replays", "polls", "downloads", "rate_limited",
        "server_errors", "lost_responses", "rejected", "credits_charged", "credits_refunded",
        "balance", "jobs",
    }  # fmt: skip
    changed = http.post(f"{emu.url}/_emulator/config", json={"failure_rate": 1, "url_ttl": 5})
    assert changed.status_code == 200 and changed.json()["config"]["failure_rate"] == 1.0
    assert emu.config.url_ttl == 5.0
    for bad in ({"nonsense": 1}, {"failure_rate": 2}, {"latency": "slow"}):
        answer = http.post(f"{emu.url}/_emulator/config", json=bad)
        assert answer.status_code == 400, bad
    assert emu.config.failure_rate == 1.0
    http.post(f"{emu.url}/_emulator/config", json={"credits": {"vydra": 100}})
    assert_error_shape(APIS["vydra"], submit(emu, http, APIS["vydra"]), 402)
    assert http.post(f"{emu.url}/_emulator/reset").status_code == 200
    after = emu.stats()
    assert after["totals"]["submissions"] == 0 and after["providers"]["vydra"]["balance"] == 100
    assert http.get(f"{emu.url}/_emulator/nothing").status_code == 404


def test_credits_may_be_one_number_or_per_provider() -> None:
    assert EmulatorConfig(credits=5).balance_for("xai") == 5
    per = EmulatorConfig(credits={"xai": 3})
    assert per.balance_for("xai") == 3 and per.balance_for("vydra") == DEFAULT_CREDITS["vydra"]
    with Emulator(EmulatorConfig(credits={"apiframe": 20})) as emu:
        assert emu.stats()["providers"]["apiframe"]["balance"] == 20
        with pytest.raises(KeyError):
            emu.set_credits("midjourney", 1)


def test_many_concurrent_connections_are_all_served(emu: Emulator) -> None:
    emu.configure(latency=0.05)
    api = APIS["vydra"]
    base = emu.base_url("vydra")
    limits = httpx.Limits(max_connections=150, max_keepalive_connections=150)

    def run(i: int, http: httpx.Client) -> str:
        body = api.body | {"prompt": f"Lamp {i}"}
        job_id = api.job_id(http.post(base + api.submit_path, json=body, headers=api.headers())
                            .json())  # fmt: skip
        for _ in range(50):
            status = str(poll(emu, http, api, job_id)["status"])
            if status == "completed":
                return status
            time.sleep(0.02)
        return status

    with httpx.Client(timeout=10.0, limits=limits) as http, ThreadPoolExecutor(150) as pool:
        done = list(pool.map(lambda i: run(i, http), range(300)))
    assert done == ["completed"] * 300
    entry = stats(emu, "vydra")
    assert (entry["submissions"], entry["duplicates"], entry["paid"]) == (300, 0, 300)


def test_serve_prints_every_base_url_and_stops_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("grokbatch.emulator.time.sleep", interrupt)
    serve(EmulatorConfig(), port=0)
    out = capsys.readouterr().out
    root = out.split(" on ")[1].split()[0]
    for name in PROVIDERS:
        assert f"GROKBATCH_{name.upper()}_BASE_URL={root}/{name}" in out
    assert f"{root}/_emulator/stats" in out


# --- the providers' own OpenAPI files ----------------------------------------------------------


def frame(name: str) -> Draft202012Validator:
    return schema(FRAME_FILE, f"/components/schemas/{name}")


def test_aimlapi_answers_match_its_openapi(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["aimlapi"]
    submitted, polled = (
        schema(AIML_FILE, AIML_SUBMIT),
        schema(AIML_FETCH_FILE, AIML_POLL),
    )
    emu.configure(latency=0.3)
    answer = submit(emu, http, api).json()
    submitted.validate(answer)
    statuses = set()
    for _ in range(60):
        body = poll(emu, http, api, answer["id"])
        polled.validate(body)
        statuses.add(body["status"])
        if body["status"] == "completed":
            break
        time.sleep(0.02)
    assert statuses == {"queued", "generating", "completed"}
    emu.configure(latency=0.0, failure_rate=1.0)
    failed = poll(emu, http, api, submit(emu, http, api).json()["id"])
    polled.validate(failed)
    assert failed["status"] == "error"


def test_apiframe_answers_match_its_openapi(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["apiframe"]
    emu.configure(latency=0.3)
    accepted = submit(emu, http, api)
    frame("JobAccepted").validate(accepted.json())
    job_id = accepted.json()["jobId"]
    frame("Job").validate(poll(emu, http, api, job_id))  # QUEUED
    time.sleep(0.35)
    done = poll(emu, http, api, job_id)
    frame("Job").validate(done)
    assert done["status"] == "COMPLETED" and done["result"].startswith(emu.url)
    emu.configure(latency=0.0, failure_rate=1.0)
    frame("Job").validate(poll(emu, http, api, submitted_id(emu, http, api)))
    frame("ValidationError").validate(submit(emu, http, api, {"model": "x"}).json())
    error = frame("ErrorResponse")
    error.validate(http.post(emu.base_url("apiframe") + api.submit_path, json=api.body).json())
    error.validate(http.get(emu.base_url("apiframe") + "/v2/jobs/x", headers=api.headers()).json())
    emu.configure(rate_limit_rate=1.0)
    error.validate(submit(emu, http, api).json())
    emu.configure(rate_limit_rate=0.0, server_error_rate=1.0)
    unavailable = submit(emu, http, api)
    assert unavailable.status_code == 503
    error.validate(unavailable.json())
    emu.configure(server_error_rate=0.0)
    emu.set_credits("apiframe", 3)
    frame("InsufficientCredits").validate(submit(emu, http, api).json())


SPEC_REJECTS = [
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video", "duration": 30}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "other"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"prompt": "no model"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video",
                                         "reference_images": []}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video",
                                         "aspect_ratio": "21:9"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video",
                                         "resolution": "4k"}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": ""}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video"}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x", "grokImagineVideoParams": {"duration": 7}}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x", "extra": 1}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x", "webhookEvents": []}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x",
      "grokImagineVideoParams": {"reference_images": ["https://e.example/a"] * 8}}),
]  # fmt: skip
SPEC_ACCEPTS = [
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video", "prompt": "x",
                                         "image_url": "https://e.example/a.png",
                                         "resolution": "1080p", "duration": 15}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x" * 5000,
      "grokImagineVideoParams": {"duration": 15, "aspect_ratio": "3:2",
                                 "reference_images": ["https://e.example/a"]},
      "webhookUrl": "https://e.example/hook", "webhookEvents": ["completed"]}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "pointer", "body"), SPEC_REJECTS + SPEC_ACCEPTS)
def test_the_emulator_agrees_with_the_openapi_request_schemas(
    emu: Emulator, http: httpx.Client, name: str, spec: str, pointer: str, body: Json
) -> None:
    api = APIS[name]
    valid = schema(spec, pointer).is_valid(body)
    answer = submit(emu, http, api, body)
    assert answer.status_code == (api.submit_status if valid else 400), answer.text
