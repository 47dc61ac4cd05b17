"""AI/ML API: flat JSON under one model id, cost known only when the clip is done.

Submit `POST /v2/video/generations` → `{id, status}`; poll `GET /v2/video/generations?
generation_id=ID` → `{id, status, video: {url}, error: {name, message}, meta: {usage:
{credits_used, usd_spent}}}`. Out of credits is **403**, not 402. The price per second is not
published: estimates rest on the manifest's `prices:` or, failing that, on a guess from
xAI's own USD price (0.05/0.07 USD/s) at 2,000,000 credits per USD — marked as guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..jobs import ASPECT_RATIOS, Job
from . import checks
from .base import (
    HttpRequest,
    HttpResponse,
    Polled,
    Price,
    Provider,
    RemoteState,
    Submitted,
    Violation,
    make_polled,
    require,
)
from .pricing import usd

MODEL = "x-ai/grok-imagine-video"
USD_PER_CREDIT = 1 / 2_000_000
# Guess: xAI's USD price per second turned into AI/ML credits (1080p extrapolated).
GUESSED_PER_SECOND = {"480p": 100_000.0, "720p": 140_000.0, "1080p": 200_000.0}
STATUSES = {
    "queued": RemoteState.QUEUED,
    "generating": RemoteState.RUNNING,
    "processing": RemoteState.RUNNING,  # tolerated: not in their docs
    "completed": RemoteState.SUCCEEDED,
    "error": RemoteState.FAILED,
    "failed": RemoteState.FAILED,
}


class AimlApi(Provider):
    name = "aimlapi"
    title = "AI/ML API"
    key_env = "AIMLAPI_API_KEY"
    default_base_url = "https://api.aimlapi.com"
    usd_per_credit = USD_PER_CREDIT
    # The API picks the resolution from the input image in image modes; 720p otherwise.
    defaults: ClassVar[Mapping[str, Any]] = {"duration": 10, "aspect_ratio": "16:9"}

    def check_params(self, params: Mapping[str, Any], model: str | None) -> list[Violation]:
        found = [
            *checks.video_only(params),
            *checks.duration_range(params, 1, 15),
            *checks.one_of(params, "aspect_ratio", ASPECT_RATIOS),
            *checks.one_of(params, "resolution", ("480p", "720p", "1080p")),
            *checks.unsupported(params, ("mode",), "its motion modes are AI Video API's"),
            *checks.image_count(params),
            *checks.extra_fields(params, {}),
            *checks.urls(params),
        ]
        if params.get("image") and params.get("reference_images"):
            found.append(
                Violation(
                    "image",
                    "takes an image (image-to-video) or reference_images, not both",
                    "keep one: image animates a still, reference_images guide a new clip",
                )
            )
        return found

    def needs_prompt(self, params: Mapping[str, Any], model: str | None) -> bool:
        return not params.get("image")

    def list_price(self, params: Mapping[str, Any]) -> Price:
        per_second = GUESSED_PER_SECOND[str(params.get("resolution") or "720p")]
        credits = per_second * int(params["duration"])
        return Price(credits, usd(credits, USD_PER_CREDIT), "guessed", "AI/ML API publishes none")

    def submit_request(self, job: Job, attempt: int = 1) -> HttpRequest:
        p = job.params
        body: dict[str, Any] = {"model": MODEL}
        if job.prompt:
            body["prompt"] = job.prompt
        if p.get("image"):
            body["image_url"] = p["image"]
        if p.get("reference_images"):
            body["reference_images"] = list(p["reference_images"])
        body["duration"] = p["duration"]
        body["aspect_ratio"] = p["aspect_ratio"]
        if p.get("resolution"):
            body["resolution"] = p["resolution"]
        return HttpRequest("POST", "/v2/video/generations", json=body)

    def parse_submit(self, response: HttpResponse) -> Submitted:
        return Submitted(str(require(response.body, "id")))

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", "/v2/video/generations", params={"generation_id": remote_id})

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        video = body.get("video")
        meta = body.get("meta")
        usage = meta.get("usage") if isinstance(meta, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        status = require(body, "status")
        failed = str(status).lower() in ("error", "failed")
        return make_polled(
            status,
            STATUSES,
            urls=video.get("url") if isinstance(video, dict) else None,
            error=body.get("error"),
            charged=usage.get("credits_used"),
            usd=usage.get("usd_spent"),
            # Billed at completion: a failed generation costs nothing unless usage says so.
            refunds_failures=failed and not usage.get("credits_used"),
        )

    def is_out_of_credits(self, response: HttpResponse, message: str, code: str | None) -> bool:
        return response.status_code in (402, 403)  # 401 is the bad key; 403 the empty balance


ADAPTER = AimlApi()
