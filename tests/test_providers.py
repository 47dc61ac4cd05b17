"""The adapters on their own: the requests they build, the answers they read, the errors.

No server here: these pin each provider's wire format to providers.md and to the two
OpenAPI files. `test_contract.py` runs the same adapters against the emulator over HTTP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from grokbatch import providers
from grokbatch.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    InsufficientCreditsError,
    InvalidRequestError,
    MissingKeyError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from grokbatch.expand import expand
from grokbatch.jobs import Job
from grokbatch.manifest import loads
from grokbatch.providers.client import ProviderClient, resolve_api_key, resolve_base_url
from grokbatch.providers.parse import retry_after
from grokbatch.providers.wire import HttpResponse, RemoteState

from .openapi import AIML_REQUEST, FRAME_REQUEST, openapi_schema


def job_for(provider: str, params: str = "", template: str = "A fox in the snow") -> Job:
    [job] = expand(
        loads(
            f"name: t\nprovider: {provider}\nprompts: [{{id: a, template: '{template}'}}]\n{params}"
        )
    )
    return job


# --- requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        "",
        "defaults: {duration: 15, aspect_ratio: '9:16', resolution: 1080p}\n",
        "defaults: {image: 'https://e.example/a.png'}\n",
        "defaults: {reference_images: ['https://e.example/a.png', 'https://e.example/b.png']}\n",
    ],
)
def test_aimlapi_requests_validate_against_its_openapi(params: str) -> None:
    request = providers.get("aimlapi").submit_request(job_for("aimlapi", params))
    assert (request.method, request.path) == ("POST", "/v2/video/generations")
    openapi_schema("aimlapi-grok-imagine-video.json", AIML_REQUEST).validate(request.json)
    assert request.json and request.json["model"] == "x-ai/grok-imagine-video"


def test_aimlapi_poll_uses_the_generation_id_query() -> None:
    request = providers.get("aimlapi").poll_request("gen-1")
    assert (request.path, request.params) == ("/v2/video/generations", {"generation_id": "gen-1"})


@pytest.mark.parametrize(
    "params",
    [
        "",
        "defaults: {duration: 15, aspect_ratio: '3:4'}\n",
        "defaults: {reference_images: ['https://e.example/a.png']}\n",
    ],
)
def test_apiframe_requests_validate_against_its_openapi(params: str) -> None:
    job = job_for("apiframe", params)
    request = providers.get("apiframe").submit_request(job)
    openapi_schema("apiframe-openapi.json", FRAME_REQUEST).validate(request.json)
    # The job key is the idempotency key: the same job always resends the same key.
    assert request.headers == {"Idempotency-Key": job.key}
    assert len(job.key) <= 255
    assert providers.get("apiframe").auth_headers("k") == {"X-API-Key": "k"}


def test_openapi_validator_catches_a_wrong_body() -> None:
    # Guard against a validator that accepts anything.
    validator = openapi_schema("apiframe-openapi.json", FRAME_REQUEST)
    assert not validator.is_valid(
        {"model": "grok-imagine-video", "prompt": "x", "grokImagineVideoParams": {"duration": 8}}
    )
    aiml = openapi_schema("aimlapi-grok-imagine-video.json", AIML_REQUEST)
    assert not aiml.is_valid({"model": "x-ai/grok-imagine-video", "duration": 20})


def test_aivideoapi_nests_input_and_picks_the_sub_model() -> None:
    adapter = providers.get("aivideoapi")
    text = adapter.submit_request(job_for("aivideoapi", "defaults: {mode: spicy}\n")).json
    assert text == {
        "model": "grok-imagine-text-to-video",
        "input": {
            "prompt": "A fox in the snow",
            "duration": 6,
            "resolution": "480p",
            "aspect_ratio": "2:3",
            "mode": "spicy",
        },
    }
    image = adapter.submit_request(
        job_for(
            "aivideoapi",
            "defaults: {image: 'https://e.example/a.png', extra: {nsfw_checker: true, "
            "callback_url: 'https://hooks.example/x'}}\n",
            template="@image1 turns around",
        )
    ).json
    assert image is not None
    assert image["model"] == "grok-imagine-image-to-video"
    assert image["input"]["image_urls"] == ["https://e.example/a.png"]
    assert image["input"]["nsfw_checker"] is True
    assert image["callback_url"] == "https://hooks.example/x"


def test_pixeldojo_sends_its_own_mode_and_image_url() -> None:
    body = (
        providers.get("pixeldojo")
        .submit_request(job_for("pixeldojo", "defaults: {image: 'https://e.example/a.png'}\n"))
        .json
    )
    assert body == {
        "prompt": "A fox in the snow",
        "mode": "image-to-video",
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "duration": 5,
        "image_url": "https://e.example/a.png",
    }


def test_vydra_picks_text_to_image_and_sends_no_duration() -> None:
    job = job_for("vydra", "defaults: {type: image, aspect_ratio: '1:1'}\n")
    assert job.model == "text-to-image" and job.credits == 8
    body = providers.get("vydra").submit_request(job).json
    assert body == {"prompt": "A fox in the snow", "model": "text-to-image", "aspect_ratio": "1:1"}
    video = job_for("vydra", "defaults: {image: 'https://e.example/a.png'}\n")
    assert (video.model, video.credits, video.params["duration"]) == ("image-to-video", 150, 6)


def test_xai_wraps_images_as_objects_and_prices_in_usd() -> None:
    job = job_for(
        "xai", "defaults: {reference_images: ['https://e.example/a.png'], duration: 10}\n"
    )
    body = providers.get("xai").submit_request(job).json
    assert body and body["reference_images"] == [{"url": "https://e.example/a.png"}]
    assert job.credits == job.usd == pytest.approx(0.7)


# --- answers -----------------------------------------------------------------------------

STATUS_CASES = [
    ("pixeldojo", {"jobId": "j", "status": "pending"}, RemoteState.QUEUED),
    ("pixeldojo", {"jobId": "j", "status": "processing"}, RemoteState.RUNNING),
    (
        "pixeldojo",
        {"jobId": "j", "status": "completed", "output": {"video": "https://t.example/v.mp4"}},
        RemoteState.SUCCEEDED,
    ),
    ("pixeldojo", {"jobId": "j", "status": "failed", "error": "boom"}, RemoteState.FAILED),
    ("aimlapi", {"id": "g", "status": "queued"}, RemoteState.QUEUED),
    ("aimlapi", {"id": "g", "status": "generating"}, RemoteState.RUNNING),
    (
        "aimlapi",
        {"id": "g", "status": "completed", "video": {"url": "https://a.example/v.mp4"}},
        RemoteState.SUCCEEDED,
    ),
    ("aimlapi", {"id": "g", "status": "error", "error": {"name": "E"}}, RemoteState.FAILED),
    ("aivideoapi", {"id": "t", "status": "pending"}, RemoteState.QUEUED),
    ("aivideoapi", {"id": "t", "status": "processing", "progress": 40}, RemoteState.RUNNING),
    (
        "aivideoapi",
        {"id": "t", "status": "completed", "output": {"urls": ["https://v.example/1.mp4"]}},
        RemoteState.SUCCEEDED,
    ),
    ("aivideoapi", {"id": "t", "status": "failed"}, RemoteState.FAILED),
    ("apiframe", {"id": "f", "status": "QUEUED"}, RemoteState.QUEUED),
    ("apiframe", {"id": "f", "status": "PROCESSING"}, RemoteState.RUNNING),
    (
        "apiframe",
        {"id": "f", "status": "COMPLETED", "result": {"videos": ["https://f.example/v.mp4"]}},
        RemoteState.SUCCEEDED,
    ),
    ("apiframe", {"id": "f", "status": "CANCELLED"}, RemoteState.FAILED),
    ("vydra", {"id": "v", "status": "running"}, RemoteState.RUNNING),
    (
        "vydra",
        {"id": "v", "status": "completed", "output": {"videoUrl": "https://x.example/v.mp4"}},
        RemoteState.SUCCEEDED,
    ),
    ("vydra", {"id": "v", "status": "error"}, RemoteState.FAILED),
    ("xai", {"status": "pending"}, RemoteState.QUEUED),
    ("xai", {"status": "done", "video": {"url": "https://x.example/v.mp4"}}, RemoteState.SUCCEEDED),
    ("xai", {"status": "expired"}, RemoteState.FAILED),
]


@pytest.mark.parametrize(("provider", "body", "state"), STATUS_CASES)
def test_status_names_map_to_states(
    provider: str, body: dict[str, Any], state: RemoteState
) -> None:
    polled = providers.get(provider).parse_poll(HttpResponse(200, body))
    assert polled.state is state
    assert polled.recognised
    assert bool(polled.output_urls) == (state is RemoteState.SUCCEEDED)


@pytest.mark.parametrize("provider", providers.NAMES)
def test_an_unknown_status_is_running_and_flagged(provider: str) -> None:
    polled = providers.get(provider).parse_poll(
        HttpResponse(200, {"id": "x", "jobId": "x", "status": "warming_up"})
    )
    assert polled.state is RemoteState.RUNNING and not polled.recognised


@pytest.mark.parametrize("provider", providers.NAMES)
def test_success_without_an_output_url_is_a_failure(provider: str) -> None:
    status = {"apiframe": "COMPLETED", "xai": "done"}.get(provider, "completed")
    polled = providers.get(provider).parse_poll(HttpResponse(200, {"id": "x", "status": status}))
    assert polled.state is RemoteState.FAILED and polled.error


def test_aimlapi_reports_its_cost_only_at_completion() -> None:
    polled = providers.get("aimlapi").parse_poll(
        HttpResponse(
            200,
            {
                "id": "g",
                "status": "completed",
                "video": {"url": "https://a.example/v.mp4"},
                "error": None,
                "meta": {"usage": {"credits_used": 1_400_000, "usd_spent": 0.7}},
            },
        )
    )
    assert (polled.charged, polled.usd) == (1_400_000, 0.7)


def test_xai_failure_arrives_as_http_200_and_cost_in_ticks() -> None:
    adapter = providers.get("xai")
    failed = adapter.parse_poll(
        HttpResponse(200, {"status": "failed", "error": {"code": "internal", "message": "oops"}})
    )
    assert failed.state is RemoteState.FAILED and failed.error == "oops" and failed.refunded
    blocked = adapter.parse_poll(
        HttpResponse(200, {"status": "done", "video": {"respect_moderation": False}})
    )
    assert blocked.state is RemoteState.FAILED and blocked.moderated
    done = adapter.parse_poll(
        HttpResponse(
            200,
            {
                "status": "done",
                "video": {"url": "https://x.example/v.mp4", "respect_moderation": True},
                "usage": {"cost_in_usd_ticks": 5_600_000_000},
            },
        )
    )
    assert done.charged == done.usd == pytest.approx(0.56)


def test_vydra_text_to_image_is_answered_at_once() -> None:
    submitted = providers.get("vydra").parse_submit(
        HttpResponse(
            200,
            {
                "jobId": "job_1",
                "status": "completed",
                "creditsCharged": 8,
                "imageUrl": "https://x.example/i.png",
                "resultUrls": ["https://x.example/i.png"],
            },
        )
    )
    assert submitted.result is not None
    assert submitted.result.output_urls == ("https://x.example/i.png",)
    assert submitted.charged == 8


def test_moderation_is_recognised_in_a_failure_message() -> None:
    polled = providers.get("apiframe").parse_poll(
        HttpResponse(200, {"id": "f", "status": "FAILED", "error": "Blocked by content moderation"})
    )
    assert polled.moderated and polled.refunded


# --- errors ------------------------------------------------------------------------------

ERROR_CASES = [
    (
        "aimlapi",
        403,
        {"message": "Insufficient balance", "statusCode": 403},
        {},
        InsufficientCreditsError,
    ),
    ("aimlapi", 401, {"message": "Unauthorized", "statusCode": 401}, {}, AuthenticationError),
    ("aimlapi", 504, {"message": "Generation timeout", "statusCode": 504}, {}, TransientError),
    (
        "aivideoapi",
        402,
        {"error": {"code": "insufficient_credits", "message": "no"}},
        {},
        InsufficientCreditsError,
    ),
    (
        "aivideoapi",
        429,
        {"error": {"code": "spend_limit_exceeded", "message": "cap"}},
        {},
        InsufficientCreditsError,
    ),
    (
        "aivideoapi",
        429,
        {"error": {"code": "rate_limit_exceeded", "message": "slow"}},
        {},
        RateLimitedError,
    ),
    (
        "aivideoapi",
        403,
        {"error": {"code": "ip_not_allowed", "message": "ip"}},
        {},
        AuthenticationError,
    ),
    ("aivideoapi", 404, {"error": {"code": "task_not_found", "message": "?"}}, {}, NotFoundError),
    (
        "apiframe",
        402,
        {"error": "Insufficient credits", "creditsRequired": 15, "creditsAvailable": 3},
        {},
        InsufficientCreditsError,
    ),
    ("apiframe", 409, {"error": "Idempotency key reused"}, {}, ConflictError),
    ("apiframe", 429, {"error": "Too many requests"}, {"Retry-After": "7"}, RateLimitedError),
    (
        "apiframe",
        400,
        {"error": "Invalid", "details": {"prompt": ["Required"]}},
        {},
        InvalidRequestError,
    ),
    (
        "vydra",
        402,
        {
            "error": "Insufficient credits",
            "code": "INSUFFICIENT_CREDITS",
            "creditsRequired": 150,
            "creditsRemaining": 10,
        },
        {},
        InsufficientCreditsError,
    ),
    (
        "vydra",
        429,
        {"error": "Slow down", "code": "RATE_LIMIT_EXCEEDED"},
        {"Retry-After": "3"},
        RateLimitedError,
    ),
    (
        "pixeldojo",
        403,
        {"error": {"code": "insufficient_credits", "message": "Not enough credits"}},
        {},
        InsufficientCreditsError,
    ),
    (
        "pixeldojo",
        422,
        {"error": {"code": "validation", "message": "duration"}},
        {},
        InvalidRequestError,
    ),
    ("xai", 503, {"code": "unavailable", "error": "busy"}, {}, TransientError),
]


@pytest.mark.parametrize(("provider", "status", "body", "headers", "kind"), ERROR_CASES)
def test_error_answers_become_grokbatch_errors(
    provider: str, status: int, body: dict[str, Any], headers: dict[str, str], kind: type
) -> None:
    error = providers.get(provider).error_for(HttpResponse(status, body, headers, json.dumps(body)))
    assert type(error) is kind, error
    assert error.status_code == status
    if "Retry-After" in headers:
        assert isinstance(error, RateLimitedError)
        assert error.retry_after == float(headers["Retry-After"])
    if isinstance(error, InsufficientCreditsError) and "creditsRequired" in body:
        assert error.required == body["creditsRequired"]
        assert error.available == body.get("creditsAvailable", body.get("creditsRemaining"))
    if provider == "apiframe" and status == 400:
        assert "prompt: Required" in str(error)


def test_aivideoapi_envelope_error_inside_http_200() -> None:
    adapter = providers.get("aivideoapi")
    with pytest.raises(InsufficientCreditsError):
        adapter.parse_submit(HttpResponse(200, {"code": 402, "msg": "insufficient credits"}))
    submitted = adapter.parse_submit(
        HttpResponse(200, {"code": 200, "msg": "success", "data": {"taskId": "t-1"}})
    )
    assert submitted.remote_id == "t-1"


# --- where and with which key --------------------------------------------------------------


def test_base_url_environment_wins_over_manifest_over_default() -> None:
    adapter = providers.get("aimlapi")
    env = {"GROKBATCH_AIMLAPI_BASE_URL": "http://127.0.0.1:9/aimlapi/"}
    assert resolve_base_url(adapter, "http://m.example", env) == "http://127.0.0.1:9/aimlapi"
    assert resolve_base_url(adapter, "http://m.example", {}) == "http://m.example"
    assert resolve_base_url(adapter, None, {}) == "https://api.aimlapi.com"
    assert resolve_base_url(providers.get("vydra"), None, {}) == "https://www.vydra.ai"


def test_a_missing_key_names_its_variable_and_the_sandbox() -> None:
    with pytest.raises(MissingKeyError) as caught:
        resolve_api_key(providers.get("apiframe"), {"APIFRAME_API_KEY": "  "})
    assert "APIFRAME_API_KEY" in str(caught.value) and "--sandbox" in str(caught.value)
    assert caught.value.exit_code == 2
    assert resolve_api_key(providers.get("apiframe"), {"APIFRAME_API_KEY": "k1"}) == "k1"


# --- xAI as the live API answers (providers.md, "What the live API answers") ---------------


def test_xai_still_running_is_a_202_with_an_empty_body_or_only_progress() -> None:
    adapter = providers.get("xai")
    for response, progress in [
        (HttpResponse(202, None, {}, ""), None),
        (HttpResponse(202, {"progress": 40}, {}, '{"progress": 40}'), 40.0),
        (HttpResponse(200, {"status": "pending", "progress": 24}), 24.0),
        (HttpResponse(202, {"status": "pending", "progress": 81}), 81.0),
    ]:
        polled = adapter.parse_poll(response)
        assert not polled.state.finished and polled.recognised, response
        assert polled.progress == progress


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("provider", "raises"), [("xai", False), ("pixeldojo", True), ("apiframe", True)]
)
async def test_only_xai_reads_an_empty_202_poll_as_running(provider: str, raises: bool) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(202))) as h:
        client = ProviderClient(providers.get(provider), http=h, base_url="http://p", api_key="k")
        if raises:
            with pytest.raises(ProtocolError):
                await client.poll("3f1c9d2e-8a4b-4c6d-9e0f-123456789abc")
        else:
            assert (await client.poll("req-1")).state is RemoteState.RUNNING
        with pytest.raises(ProtocolError):  # a submit is never answered by an empty 202
            await client.submit(job_for(provider))


XAI_ERRORS = [
    # (status, body, kind): bodies as xAI sends them, {code, error}
    (400, "Incorrect API key provided: na***ys. You can obtain an API key from "
     "https://console.x.ai.", AuthenticationError),
    (400, "Incorrect%20API%20key%20provided:%20ba***na.", AuthenticationError),
    (400, "duration must be at most 15", InvalidRequestError),
    (429, "Your team 16f2 has either used all available credits or reached its monthly "
     "spending limit. To continue making API requests, please purchase more credits or "
     "raise your spending limit.", InsufficientCreditsError),
    (403, "Your team 8c26 has either used all available credits or reached its monthly "
     "spending limit.", InsufficientCreditsError),
    (429, "Too many requests: 1 request per second", RateLimitedError),
    (403, "The API key does not have permission to use this model", AuthenticationError),
    (401, "No or an invalid authentication header", AuthenticationError),
]  # fmt: skip


@pytest.mark.parametrize(("status", "message", "kind"), XAI_ERRORS)
def test_xai_errors_are_told_apart_by_their_message(status: int, message: str, kind: type) -> None:
    body = {"code": "Client specified an invalid argument", "error": message}
    error = providers.get("xai").error_for(HttpResponse(status, body, {}, json.dumps(body)))
    assert type(error) is kind, error
    assert error.not_created  # every one of them is a refusal: nothing was made


XAI_ENDINGS = [
    # (body, charged USD, refunded): billed when the clip is made
    ({"status": "expired", "usage": {"cost_in_usd_ticks": 5_600_000_000}}, 0.56, False),
    ({"status": "expired"}, None, False),  # made and paid, cost unknown: reservation stays
    ({"status": "failed", "error": {"code": "internal", "message": "x"}}, None, True),
    ({"status": "failed", "usage": {"cost_in_usd_ticks": 1_000_000_000}}, 0.1, False),
    ({"status": "failed", "usage": {"cost_in_usd_ticks": "NaN"}}, None, False),  # unknown
    ({"status": "done", "video": {"respect_moderation": False}}, None, False),  # billed too
]


@pytest.mark.parametrize(("body", "charged", "refunded"), XAI_ENDINGS)
def test_xai_failures_are_refunded_only_when_nothing_was_made(
    body: dict[str, Any], charged: float | None, refunded: bool
) -> None:
    polled = providers.get("xai").parse_poll(HttpResponse(200, body))
    assert polled.state is RemoteState.FAILED and polled.error
    assert polled.usd == polled.charged == (None if charged is None else pytest.approx(charged))
    assert polled.refunded is refunded


def test_xai_sends_no_prompt_for_an_image_only_job() -> None:
    job = job_for("xai", "defaults: {image: 'https://e.example/a.png'}\n", template='{{ "" }}')
    body = providers.get("xai").submit_request(job).json
    assert body is not None and "prompt" not in body
    assert body["image"] == {"url": "https://e.example/a.png"}


def test_default_pacing_is_declared_on_the_adapters() -> None:
    paced = {
        name: (
            providers.get(name).default_submits_per_minute,
            providers.get(name).default_concurrency,
        )
        for name in providers.NAMES
    }
    assert paced.pop("xai") == (60.0, None)  # 1 request/s for the video models
    assert paced.pop("vydra") == (None, 2)  # the Free plan's 2 concurrent jobs
    assert set(paced.values()) == {(None, None)}


# --- APIFrame: the video in a result of any shape ----------------------------------------

V = "https://cdn.apiframe.example/out/7f3a/video.mp4?sig=1"
JPG = "https://cdn.apiframe.example/out/7f3a/poster.jpg"
BARE = "https://cdn.apiframe.example/o/7f3a"  # a signed URL with no extension
FRAME_RESULTS = [
    (V, V),
    (BARE, BARE),
    ({"url": V, "thumbnail": JPG}, V),
    ({"thumbnailUrl": JPG, "videoUrl": V}, V),
    ([JPG, V], V),  # a poster first
    ([{"poster": BARE}, {"video": BARE + "/v"}], BARE + "/v"),  # the key names say which
    ({"videos": [{"url": BARE, "preview": JPG}]}, BARE),
    ({"data": {"assets": [{"type": "image/jpeg", "url": BARE + "/1"},
                          {"type": "video/mp4", "url": BARE + "/2"}]}}, BARE + "/2"),
    ({"output": [[{"cover_image": V}], [{"clip": {"src": V.replace("video", "c")}}]]},
     V.replace("video", "c")),  # under a cover key even an .mp4 is no output
]  # fmt: skip


@pytest.mark.parametrize(("result", "video"), FRAME_RESULTS)
def test_apiframe_picks_the_video_from_any_result_shape(result: Any, video: str) -> None:
    polled = providers.get("apiframe").parse_poll(
        HttpResponse(200, {"id": "f", "status": "COMPLETED", "result": result, "creditCost": 10})
    )
    assert polled.state is RemoteState.SUCCEEDED
    assert polled.output_urls[0] == video
    assert JPG not in polled.output_urls


@pytest.mark.parametrize(
    ("result", "says"),
    [
        ({"thumbnail": JPG}, "under 'thumbnail'"),
        ([JPG, "https://cdn.apiframe.example/still.png"], "no video URL, only image URL"),
        ({"video": "file:///etc/passwd"}, "no http(s) URL"),
        ("javascript:alert(1)", "no http(s) URL"),
        (None, "no http(s) URL"),
    ],
)
def test_apiframe_without_a_video_url_fails_saying_what_it_found(result: Any, says: str) -> None:
    polled = providers.get("apiframe").parse_poll(
        HttpResponse(200, {"id": "f", "status": "COMPLETED", "result": result, "creditCost": 10})
    )
    assert polled.state is RemoteState.FAILED and not polled.output_urls
    assert polled.error and says in polled.error
    # APIFrame counts the job a success and keeps its credits: no refund.
    assert not polled.refunded and polled.charged == 10


def test_apiframe_expired_job_keeps_its_cost() -> None:
    polled = providers.get("apiframe").parse_poll(
        HttpResponse(
            200, {"id": "f", "status": "COMPLETED", "expired": True, "result": V, "creditCost": 15}
        )
    )
    assert polled.state is RemoteState.FAILED and not polled.refunded and polled.charged == 15


# --- what a failed submit certainly did not create -----------------------------------------


@pytest.mark.parametrize(
    ("provider", "status", "not_created"),
    [
        ("apiframe", 503, True),  # its OpenAPI file: queue / DB outage, nothing created
        ("xai", 503, False),
        ("aivideoapi", 503, False),
        ("aimlapi", 502, False),
        ("apiframe", 500, False),
        ("pixeldojo", 504, False),
        ("vydra", 408, False),  # a gateway may still have passed the request on
        ("vydra", 429, True),
        ("aimlapi", 400, True),
        ("aivideoapi", 402, True),
        ("pixeldojo", 401, True),
    ],
)
def test_not_created_only_where_the_answer_says_so(
    provider: str, status: int, not_created: bool
) -> None:
    error = providers.get(provider).error_for(HttpResponse(status, {"error": "x"}, {}, "{}"))
    assert error.not_created is not_created


# --- AI/ML API: USD from credits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "credits", "usd"),
    [
        ({"credits_used": 1_400_000, "usd_spent": 0.7}, 1_400_000, 0.7),
        ({"credits_used": 1_400_000}, 1_400_000, 0.7),
        ({"credits_used": 1_000_000, "usd_spent": None}, 1_000_000, 0.5),
        ({"usd_spent": 0.25}, 500_000, 0.25),
        ({"credits_used": float("nan"), "usd_spent": -1}, None, None),
    ],
)
def test_aimlapi_usd_is_credits_over_two_million_when_not_given(
    usage: dict[str, Any], credits: float | None, usd: float | None
) -> None:
    video = {"url": "https://a.example/v.mp4"}
    body = {"id": "g", "status": "completed", "video": video, "meta": {"usage": usage}}
    polled = providers.get("aimlapi").parse_poll(HttpResponse(200, body))
    assert polled.charged == credits and polled.usd == usd


def test_aimlapi_failure_with_an_unreadable_usage_keeps_the_reservation() -> None:
    adapter = providers.get("aimlapi")
    free = adapter.parse_poll(HttpResponse(200, {"id": "g", "status": "error", "meta": None}))
    assert free.refunded
    unread = adapter.parse_poll(
        HttpResponse(
            200, {"id": "g", "status": "error", "meta": {"usage": {"credits_used": "lots"}}}
        )
    )
    assert not unread.refunded and unread.charged is None


# --- Retry-After: one parser, seconds or an HTTP date ------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # the obsolete RFC 850 form
        ("Sun, 01 Mar 2026 11:59:00 GMT", 0.0),  # already past: go now
        ("Sun, 01 Mar 2026 14:00:00 GMT", 3600.0),  # capped
        ("86400000", 3600.0),
        ("-3", None),
        ("nan", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str, seconds: float | None) -> None:
    assert retry_after({"Retry-After": value}, now=NOW) == seconds


def test_retry_after_as_a_date_reaches_the_error() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"retry-after": format_datetime(when, usegmt=True)}
    error = providers.get("apiframe").error_for(HttpResponse(429, {"error": "slow"}, headers))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is not None and 100 < error.retry_after <= 120


# --- PixelDojo sends what its page lists --------------------------------------------------

# /work/shared/seeds/000_*.txt, "Parameters": the fields the page lists, and nothing else.
PIXELDOJO_PAGE_FIELDS = {"prompt", "image_url", "mode", "resolution", "aspect_ratio", "duration"}


@pytest.mark.parametrize(
    "params",
    [
        "",
        "defaults: {image: 'https://e.example/a.png', duration: 15, resolution: 480p}\n",
        "defaults: {aspect_ratio: '3:4'}\n",
    ],
)
def test_pixeldojo_sends_only_the_fields_its_page_lists(params: str) -> None:
    body = providers.get("pixeldojo").submit_request(job_for("pixeldojo", params)).json
    assert body is not None and set(body) <= PIXELDOJO_PAGE_FIELDS


def test_pixeldojo_sends_a_webhook_url_only_when_the_manifest_asks() -> None:
    hook = "defaults: {extra: {webhook_url: 'https://hooks.example/x'}}\n"
    body = providers.get("pixeldojo").submit_request(job_for("pixeldojo", hook)).json
    assert body is not None and body["webhook_url"] == "https://hooks.example/x"
    assert set(body) - PIXELDOJO_PAGE_FIELDS == {"webhook_url"}


# --- hostile answers end as values or typed errors, never a traceback ---------------------

BAD_NUMBERS = [float("nan"), float("inf"), -10, "-1", "NaN", "1e999", True, [1], {"n": 1}]
COMPLETED = {
    "pixeldojo": ({"jobId": "j", "status": "completed", "output": {"video": V}}, "creditCost"),
    "apiframe": ({"id": "f", "status": "COMPLETED", "result": V}, "creditCost"),
    "vydra": ({"id": "v", "status": "completed", "output": {"videoUrl": V}}, "creditsCharged"),
    "aivideoapi": ({"id": "t", "status": "completed", "output": {"urls": [V]}}, "progress"),
}


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
@pytest.mark.parametrize("provider", sorted(COMPLETED))
def test_a_cost_that_is_no_number_is_unknown(provider: str, bad: Any) -> None:
    body, field = COMPLETED[provider]
    polled = providers.get(provider).parse_poll(HttpResponse(200, {**body, field: bad}))
    assert polled.state is RemoteState.SUCCEEDED
    assert polled.charged is None and polled.usd is None and polled.progress is None


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_xai_and_aimlapi_costs_that_are_no_number_are_unknown(bad: Any) -> None:
    xai = providers.get("xai").parse_poll(
        HttpResponse(
            200, {"status": "done", "video": {"url": V}, "usage": {"cost_in_usd_ticks": bad}}
        )
    )
    aiml = providers.get("aimlapi").parse_poll(
        HttpResponse(
            200,
            {
                "id": "g",
                "status": "completed",
                "video": {"url": V},
                "meta": {"usage": {"credits_used": bad, "usd_spent": bad}},
            },
        )
    )
    for polled in (xai, aiml):
        assert polled.state is RemoteState.SUCCEEDED
        assert polled.charged is None and polled.usd is None
    submitted = providers.get("pixeldojo").parse_submit(
        HttpResponse(202, {"jobId": "j", "status": "pending", "creditCost": bad})
    )
    assert submitted.charged is None


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "data:video/mp4;base64,AAAAGGZ0eXBtcDQy",
        "javascript:alert(1)",
        "ftp://files.example/v.mp4",
        "//cdn.example/v.mp4",
        "https:///v.mp4",
        "https://cdn.example/v 1.mp4",
        "https://cdn.example/v.mp4\n",
        "https://cdn.example:99999999/v.mp4",
        "https://[::1/v.mp4",
        42,
    ],
)
@pytest.mark.parametrize("provider", sorted(COMPLETED))
def test_an_output_url_that_is_not_http_is_no_url(provider: str, url: Any) -> None:
    body, _ = COMPLETED[provider]
    hostile = json.loads(json.dumps(body).replace(json.dumps(V), json.dumps(url)))
    polled = providers.get(provider).parse_poll(HttpResponse(200, hostile))
    assert polled.state is RemoteState.FAILED and not polled.output_urls and polled.error


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("xai", {"request_id": {"id": 1}}),
        ("xai", {"request_id": True}),
        ("apiframe", {"jobId": ""}),
        ("vydra", {"jobId": "a\nb"}),
        ("pixeldojo", {"jobId": "x" * 300}),
        ("aimlapi", {"id": None}),
        ("aivideoapi", {"code": 200, "data": "t-1"}),
        ("aivideoapi", {"code": 1e400, "msg": "?"}),
    ],
)
def test_a_submit_answer_without_a_usable_id_is_a_protocol_error(
    provider: str, body: dict[str, Any]
) -> None:
    with pytest.raises((ProtocolError, TransientError)) as caught:
        providers.get(provider).parse_submit(HttpResponse(200, body))
    assert not caught.value.not_created  # a 2xx may have made the job


def test_ids_are_percent_encoded_into_poll_paths() -> None:
    for name in ("xai", "apiframe", "vydra", "pixeldojo", "aivideoapi"):
        path = providers.get(name).poll_request("../../v1/admin?x=1").path
        assert "../" not in path and "?" not in path, (name, path)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '"just a string"', "<html>502 Bad Gateway</html>", "NaN"],
)
async def test_a_2xx_that_is_no_json_object_is_a_protocol_error(text: str) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text=text))
    async with httpx.AsyncClient(transport=transport) as h:
        client = ProviderClient(providers.get("vydra"), http=h, base_url="http://p", api_key="k")
        with pytest.raises(ProtocolError):
            await client.poll("job_1")


HOSTILE_ERROR_BODIES: list[Any] = [
    None,
    [],
    {"error": None},
    {"error": 5},
    {"details": "x", "error": "e"},
    {"error": "x", "details": {"prompt": 5}},
    {"message": "\x1b[31mred\x07"},
]


def test_error_bodies_of_any_shape_become_errors() -> None:
    for provider in providers.NAMES:
        adapter = providers.get(provider)
        for body in HOSTILE_ERROR_BODIES:
            error = adapter.error_for(HttpResponse(400, body, {}, "\x1b]0;title\x07" * 300))
            assert isinstance(error, ProviderError)
            assert "\x1b" not in str(error) and len(str(error)) < 700


# --- keys and base URLs are checked before anything is sent ------------------------------

SECRET = "sk-7f3a9c2e5b"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (f"{SECRET}\n", "a line break"),
        (f"{SECRET[:5]} {SECRET[5:]}", "a space"),
        (f"{SECRET}\t", "a control character (U+0009)"),
        (f"{SECRET}\x00", "a control character (U+0000)"),
        (f"{SECRET}\u00a0", "a non-ASCII character (U+00A0)"),
        (f"\u201c{SECRET}\u201d", "a non-ASCII character (U+201C)"),
    ],
)
def test_a_key_with_what_no_key_has_is_refused_without_echoing_it(value: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve_api_key(providers.get("xai"), {"XAI_API_KEY": value})
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "XAI_API_KEY" in message and says in message and "export XAI_API_KEY=" in message
    assert SECRET not in message and SECRET[:5] not in message and SECRET[5:] not in message


def test_spaces_around_a_key_are_ignored() -> None:
    assert resolve_api_key(providers.get("xai"), {"XAI_API_KEY": f"  {SECRET} "}) == SECRET


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8080",
        "localhost",
        "ftp://mirror.example",
        "http://",
        "https:///v1",
        "http://host:port",
        "http://emu.example/?x=1",
        "http://emu example",
        "file:///tmp/sock",
    ],
)
def test_a_base_url_must_be_absolute_http_with_a_host(url: str) -> None:
    adapter = providers.get("aimlapi")
    with pytest.raises(InputError) as from_env:
        resolve_base_url(adapter, None, {"GROKBATCH_AIMLAPI_BASE_URL": url})
    assert "GROKBATCH_AIMLAPI_BASE_URL" in str(from_env.value) and from_env.value.exit_code == 2
    with pytest.raises(InputError) as from_manifest:
        resolve_base_url(adapter, url, {})
    assert "provider.base_url" in str(from_manifest.value)


def test_a_base_url_with_a_password_is_refused_without_showing_it() -> None:
    with pytest.raises(InputError) as caught:
        resolve_base_url(providers.get("vydra"), "https://me:hunter2@www.vydra.ai", {})
    assert "hunter2" not in str(caught.value) and "VYDRA_API_KEY" in str(caught.value)


def test_aimlapi_tags_every_submit_with_an_id_its_logs_keep() -> None:
    import re

    from grokbatch.expand import expand
    from grokbatch.manifest import loads

    [job] = expand(loads("name: c\nprovider: aimlapi\nprompts: [{id: a, template: lamp}]\n"))
    adapter = providers.get("aimlapi")
    first = adapter.submit_request(job, 1).headers["X-Client-Request-Id"]
    # The documented alphabet and length (anything else is silently dropped by the API).
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", first)
    assert first == adapter.client_request_id(job, 1)  # a resend carries the same id
    assert adapter.submit_request(job, 2).headers["X-Client-Request-Id"] != first
    assert providers.get("xai").client_request_id(job, 1) is None  # xAI keeps no such id
