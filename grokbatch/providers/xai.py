"""xAI's own API, the one the resellers wrap: priced in USD, failures inside HTTP 200.

Submit `POST /v1/videos/generations` with `{model, prompt, duration, aspect_ratio,
resolution, image: {url}?, reference_images: [{url}]?}` → `{request_id}`; poll
`GET /v1/videos/{request_id}` → `{status: pending|done|failed|expired, video: {url,
duration, respect_moderation}, usage: {cost_in_usd_ticks}}`. A failure is an HTTP 200 with
`status: "failed"`; a `done` without URL because `respect_moderation` is false is a
moderation failure. The cost is in ticks of 1e-10 USD; grokbatch counts xAI's "credits" in
USD, so `max_credits` for xAI is a dollar amount.
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

MODEL = "grok-imagine-video"
USD_PER_SECOND = {"480p": 0.05, "720p": 0.07}
USD_PER_TICK = 1e-10
STATUSES = {
    "pending": RemoteState.QUEUED,
    "queued": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "in_progress": RemoteState.RUNNING,
    "done": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "expired": RemoteState.FAILED,
}


class Xai(Provider):
    name = "xai"
    title = "xAI"
    key_env = "XAI_API_KEY"
    default_base_url = "https://api.x.ai"
    credit_unit = "USD"
    usd_per_credit = 1.0
    defaults: ClassVar[Mapping[str, Any]] = {
        "duration": 8,
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }

    def check_params(self, params: Mapping[str, Any], model: str | None) -> list[Violation]:
        refs = params.get("reference_images")
        found = [
            *checks.video_only(params),
            *checks.duration_range(params, 1, 15),
            *checks.one_of(params, "aspect_ratio", ASPECT_RATIOS),
            *checks.one_of(params, "resolution", tuple(USD_PER_SECOND)),
            *checks.unsupported(params, ("mode",), "its motion modes are AI Video API's"),
            *checks.image_count(params),
            *checks.extra_fields(params, {}),
            *checks.urls(params),
        ]
        if refs and params.get("image"):
            found.append(
                Violation(
                    "image",
                    "takes an image (image-to-video) or reference_images, not both",
                    "keep one of them",
                )
            )
        if refs and int(params.get("duration") or 0) > 10:
            found.append(
                Violation(
                    "duration",
                    f"allows at most 10 s with reference_images, not duration "
                    f"{params.get('duration')}",
                    "use a duration of 10 or less",
                )
            )
        return found

    def needs_prompt(self, params: Mapping[str, Any], model: str | None) -> bool:
        return not params.get("image")

    def list_price(self, params: Mapping[str, Any]) -> Price:
        usd = round(USD_PER_SECOND[str(params["resolution"])] * int(params["duration"]), 10)
        return Price(usd, usd, "published")

    def submit_request(self, job: Job, attempt: int = 1) -> HttpRequest:
        p = job.params
        body: dict[str, Any] = {"model": MODEL, "prompt": job.prompt}
        for name in ("duration", "aspect_ratio", "resolution"):
            body[name] = p[name]
        if p.get("image"):
            body["image"] = {"url": p["image"]}
        if p.get("reference_images"):
            body["reference_images"] = [{"url": u} for u in p["reference_images"]]
        return HttpRequest("POST", "/v1/videos/generations", json=body)

    def parse_submit(self, response: HttpResponse) -> Submitted:
        return Submitted(str(require(response.body, "request_id")))

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/v1/videos/{remote_id}")

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        status = require(body, "status")
        video = body.get("video") if isinstance(body.get("video"), dict) else {}
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        ticks = usage.get("cost_in_usd_ticks")
        usd = None if ticks is None else round(float(ticks) * USD_PER_TICK, 10)
        blocked = str(status).lower() == "done" and video.get("respect_moderation") is False
        error = body.get("error")
        if blocked and not video.get("url"):
            error = error or {"code": "moderation", "message": "blocked by content moderation"}
        return make_polled(
            status,
            STATUSES,
            urls=None if blocked else video.get("url"),
            error=error,
            charged=usd,
            usd=usd,
            # Billed when the clip is made: a failure costs what usage says, else nothing.
            refunds_failures=not ticks,
            moderated=blocked,
        )


ADAPTER = Xai()
