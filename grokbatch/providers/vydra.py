"""Vydra: three sub-models, synchronous text-to-image, and the `www.` host.

Submit `POST /api/v1/models/grok-imagine` with `{prompt, model, image_url?, aspect_ratio,
duration}`. Videos answer 202 `{jobId, status: "pending", creditsCharged}` and are polled
at `GET /api/v1/jobs/{jobId}` → `{id, status, output: {videoUrl, resultUrls}}`; images
(`text-to-image`) answer 200 at once with `{jobId, status: "completed", imageUrl,
resultUrls}`. Flat prices: 150 credits per video, 8 per image, refunded on errors. The bare
host redirects to `www.`, and a client following a cross-host redirect drops the key, so the
default base URL is the `www.` one.
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
    opt_float,
    require,
)

T2V, I2V, T2I = "text-to-video", "image-to-video", "text-to-image"
STATUSES = {
    "pending": RemoteState.QUEUED,
    "queued": RemoteState.QUEUED,
    "running": RemoteState.RUNNING,
    "processing": RemoteState.RUNNING,
    "completed": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "error": RemoteState.FAILED,
    "cancelled": RemoteState.FAILED,
}


class Vydra(Provider):
    name = "vydra"
    title = "Vydra"
    key_env = "VYDRA_API_KEY"
    default_base_url = "https://www.vydra.ai"
    types = ("video", "image")
    models = (T2V, I2V, T2I)
    max_prompt_chars = 5000
    defaults: ClassVar[Mapping[str, Any]] = {"aspect_ratio": "16:9"}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        out = super().resolve(params)
        if out.get("type", "video") == "video":
            out.setdefault("duration", 6)  # duration is for videos only
        return out

    def pick_model(self, params: Mapping[str, Any], model: str | None) -> str | None:
        if model:
            return model
        if params.get("type") == "image":
            return T2I
        return I2V if params.get("image") else T2V

    def check_params(self, params: Mapping[str, Any], model: str | None) -> list[Violation]:
        chosen = self.pick_model(params, model)
        found = [
            *checks.duration_range(params, 1, 15),
            *checks.one_of(params, "aspect_ratio", ASPECT_RATIOS),
            *checks.unsupported(params, ("resolution",), "Vydra picks it"),
            *checks.unsupported(params, ("mode",), "its motion modes are AI Video API's"),
            *checks.unsupported(params, ("reference_images",), "give one image as image"),
            *checks.extra_fields(params, {}),
            *checks.urls(params),
        ]
        if chosen not in self.models:
            found.append(
                Violation("model", f"has no model {chosen!r}", f"use {', '.join(self.models)}")
            )
        if chosen == I2V and not params.get("image"):
            found.append(Violation("image", f"{I2V} needs an image", "give image: URL"))
        if chosen == T2V and params.get("image"):
            found.append(Violation("image", f"{T2V} takes no image", f"use model {I2V}"))
        is_image = params.get("type") == "image"
        if is_image != (chosen == T2I):
            found.append(
                Violation(
                    "type",
                    f"model {chosen} does not make {'images' if is_image else 'videos'}",
                    f"use type: image with {T2I}, type: video with the video models",
                )
            )
        if is_image and params.get("duration") is not None:
            found.append(Violation("duration", "takes no duration for images", "remove duration"))
        return found

    def list_price(self, params: Mapping[str, Any]) -> Price:
        return Price(8.0 if params.get("type") == "image" else 150.0, None, "published")

    def submit_request(self, job: Job, attempt: int = 1) -> HttpRequest:
        p = job.params
        body: dict[str, Any] = {"prompt": job.prompt, "model": job.model}
        if p.get("image"):
            body["image_url"] = p["image"]
        body["aspect_ratio"] = p["aspect_ratio"]
        if p.get("duration") is not None:
            body["duration"] = p["duration"]
        return HttpRequest("POST", "/api/v1/models/grok-imagine", json=body)

    def parse_submit(self, response: HttpResponse) -> Submitted:
        body = response.body
        remote_id = str(require(body, "jobId"))
        charged = opt_float(body.get("creditsCharged"))
        result = None
        if str(body.get("status", "")).lower() in ("completed", "failed", "error"):
            # text-to-image: the answer is the result
            result = make_polled(
                body["status"],
                STATUSES,
                urls=_unique([body.get("imageUrl"), body.get("resultUrls")]),
                error=body.get("error"),
                charged=charged,
                refunds_failures=True,
            )
        return Submitted(remote_id, charged=charged, result=result)

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/api/v1/jobs/{remote_id}")

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        output = body.get("output")
        urls: list[Any] = []
        if isinstance(output, dict):
            urls = [output.get("videoUrl"), output.get("imageUrl"), output.get("resultUrls")]
        status = require(body, "status")
        return make_polled(
            status,
            STATUSES,
            urls=_unique(urls),
            error=body.get("error") or (body.get("statusMessage") if _failed(status) else None),
            charged=body.get("creditsCharged"),
            progress=body.get("progress"),
            refunds_failures=True,
        )


def _failed(status: Any) -> bool:
    return str(status).lower() in ("failed", "error", "cancelled")


def _unique(values: list[Any]) -> list[Any]:
    """videoUrl is usually repeated in resultUrls: keep the first of each."""
    seen: list[Any] = []
    for v in values:
        for item in v if isinstance(v, list) else [v]:
            if item and item not in seen:
                seen.append(item)
    return seen


ADAPTER = Vydra()
