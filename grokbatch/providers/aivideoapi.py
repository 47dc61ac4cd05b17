"""AI Video API: the body goes under `input`, the submit answer under an envelope.

Submit `POST /v1/videos/generations` with `{model, input: {...}, callback_url?}` →
`{code: 200, msg: "success", data: {taskId}}` (both the HTTP status and `code` must say
success); poll `GET /v1/tasks/{taskId}` → unwrapped `{id, status, progress, output: {urls},
error: {code, message}}`. Two sub-models: text-to-video, and image-to-video when images are
given (`image` and `reference_images` both become `image_urls`; the prompt may cite them as
`@image1`…). Credits are charged up front and refunded on failure.

Guesses [guess]: how fractions of a credit are rounded (up, so the estimate never falls
short); `queued`, `running`, `succeeded` and `cancelled` as other names of its statuses; an
enveloped poll answer (`{code, data: {...}}`) read like an unwrapped one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from ..errors import ProviderError
from ..jobs import Job
from . import checks
from .base import Provider
from .parse import make_polled, parse_id, require
from .pricing import round_up, usd
from .wire import (
    HttpRequest,
    HttpResponse,
    Polled,
    Price,
    RemoteState,
    Submitted,
    Violation,
)

TEXT = "grok-imagine-text-to-video"
IMAGE = "grok-imagine-image-to-video"
ASPECTS = ("2:3", "3:2", "1:1", "16:9", "9:16")
PER_SECOND = {"480p": 2.4, "720p": 4.5}
USD_PER_CREDIT = 0.005
STATUSES = {
    "pending": RemoteState.QUEUED,
    "queued": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "running": RemoteState.RUNNING,
    "completed": RemoteState.SUCCEEDED,
    "succeeded": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "cancelled": RemoteState.FAILED,
}


def image_urls(params: Mapping[str, Any]) -> list[str]:
    urls = [params["image"]] if params.get("image") else []
    return urls + list(params.get("reference_images") or ())


class AiVideoApi(Provider):
    name = "aivideoapi"
    title = "AI Video API"
    key_env = "AIVIDEOAPI_API_KEY"
    default_base_url = "https://api.aivideoapi.ai"
    usd_per_credit = USD_PER_CREDIT
    models = (TEXT, IMAGE)
    max_prompt_chars = 5000
    defaults: ClassVar[Mapping[str, Any]] = {
        "duration": 6,
        "aspect_ratio": "2:3",
        "resolution": "480p",
        "mode": "normal",
    }
    extra: ClassVar[Mapping[str, checks.Check]] = {
        "nsfw_checker": checks.boolean,
        "callback_url": checks.http_url,
    }

    def pick_model(self, params: Mapping[str, Any], model: str | None) -> str | None:
        return model or (IMAGE if image_urls(params) else TEXT)

    def check_params(self, params: Mapping[str, Any], model: str | None) -> list[Violation]:
        images = image_urls(params)
        chosen = self.pick_model(params, model)
        found = [
            *checks.video_only(params),
            *checks.duration_range(params, 6, 30),
            *checks.one_of(params, "aspect_ratio", ASPECTS),
            *checks.one_of(params, "resolution", tuple(PER_SECOND)),
            *checks.one_of(params, "mode", ("fun", "normal", "spicy")),
            *checks.extra_fields(params, self.extra),
            *checks.urls(params),
        ]
        if chosen not in self.models:
            found.append(Violation("model", f"has no model {chosen!r}", f"use {TEXT} or {IMAGE}"))
        if len(images) > 7:
            found.append(
                Violation(
                    "reference_images",
                    f"takes at most 7 images (image and reference_images together), not "
                    f"{len(images)}",
                    "keep 7 or fewer",
                )
            )
        if chosen == IMAGE and not images:
            found.append(
                Violation("image", f"{IMAGE} needs an image", "give image or reference_images")
            )
        if chosen == TEXT and images:
            found.append(Violation("image", f"{TEXT} takes no images", f"use model {IMAGE}"))
        if images and params.get("mode") == "spicy":
            found.append(
                Violation(
                    "mode",
                    "allows mode spicy for text-to-video only, and this job has images",
                    "use mode fun or normal with images",
                )
            )
        return found

    def needs_prompt(self, params: Mapping[str, Any], model: str | None) -> bool:
        return self.pick_model(params, model) == TEXT

    def list_price(self, params: Mapping[str, Any]) -> Price:
        credits = round_up(PER_SECOND[str(params["resolution"])] * int(params["duration"]))
        return Price(credits, usd(credits, USD_PER_CREDIT), "published")

    def submit_request(self, job: Job, attempt: int = 1) -> HttpRequest:
        p = job.params
        extra = dict(p.get("extra") or {})
        data: dict[str, Any] = {}
        if job.prompt:
            data["prompt"] = job.prompt
        images = image_urls(p)
        if images:
            data["image_urls"] = images
        for name in ("duration", "resolution", "aspect_ratio", "mode"):
            data[name] = p[name]
        if "nsfw_checker" in extra:
            data["nsfw_checker"] = extra.pop("nsfw_checker")
        body: dict[str, Any] = {"model": job.model or self.pick_model(p, None), "input": data}
        body.update(extra)  # callback_url sits beside input
        return HttpRequest("POST", "/v1/videos/generations", json=body)

    def parse_submit(self, response: HttpResponse) -> Submitted:
        body = response.body
        code = body.get("code") if isinstance(body, dict) else None
        if code is not None:
            status = _envelope_status(code)
            if not 200 <= status < 300:
                raise self._envelope_error(response, status)
        return Submitted(parse_id(body, "data", "taskId"))

    def _envelope_error(self, response: HttpResponse, status: int) -> ProviderError:
        """A 2xx whose envelope says otherwise: judge it by the envelope's own code."""
        body = response.body
        message = str(body.get("msg") or body.get("message") or body)
        wrapped = {"error": {"code": body.get("code"), "message": message}}
        return self.error_for(HttpResponse(status, wrapped, response.headers, response.text))

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/v1/tasks/{quote(remote_id, safe='')}")

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        if isinstance(body, dict) and "data" in body and "status" not in body:
            body = body["data"]  # tolerate an enveloped poll answer too
        status = require(body, "status")
        output = body.get("output")
        return make_polled(
            status,
            STATUSES,
            urls=output.get("urls") if isinstance(output, dict) else output,
            error=body.get("error"),
            progress=body.get("progress"),
            refunds_failures=True,
        )

    def is_out_of_credits(self, response: HttpResponse, message: str, code: str | None) -> bool:
        # 402 insufficient_credits, and 429 spend_limit_exceeded: the account's own cap.
        return response.status_code == 402 or code in (
            "insufficient_credits",
            "spend_limit_exceeded",
        )


def _envelope_status(code: Any) -> int:
    """The envelope's `code` as an HTTP status; one that is none reads as a server error."""
    try:
        status = int(code)
    except (TypeError, ValueError, OverflowError):
        return 500
    return status if 100 <= status <= 599 and not isinstance(code, bool) else 500


ADAPTER = AiVideoApi()
