"""Vydra: three sub-models, synchronous text-to-image, and the `www.` host.

Submit `POST /api/v1/models/grok-imagine` with `{prompt, model, image_url?, aspect_ratio,
duration}`. Videos answer 202 `{jobId, status: "pending", creditsCharged}` and are polled
at `GET /api/v1/jobs/{jobId}` → `{id, status, output: {videoUrl, resultUrls}}`; images
(`text-to-image`) answer 200 at once with `{jobId, status: "completed", imageUrl,
resultUrls}`. Flat prices: 150 credits per video, 8 per image, refunded on errors. The bare
host redirects to `www.`, and a client following a cross-host redirect drops the key, so the
default base URL is the `www.` one.

Plans limit requests per minute and jobs in flight: Free 10 / 2, Starter 30 / 5, Creator
60 / 10 [docs]. grokbatch keeps 2 Vydra jobs in flight unless the manifest's
`limits.provider_concurrency` says otherwise (`default_concurrency`), so a free account
works out of the box and a paid one raises it.

Guesses [guess]: `queued` and `processing` as other names of `pending` and `running`;
`statusMessage` as the reason of a failure that carries no `error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from ..jobs import ASPECT_RATIOS, Job
from . import checks
from .base import Provider
from .parse import epoch, make_polled, next_offset, opt_cost, parse_id, require, rows_of
from .wire import (
    HttpRequest,
    HttpResponse,
    Listed,
    Listing,
    Polled,
    Price,
    RemoteState,
    Submitted,
    Violation,
)

T2V, I2V, T2I = "text-to-video", "image-to-video", "text-to-image"
# What grokbatch's states are called in Vydra's list filter.
LIST_STATUS = {
    RemoteState.QUEUED: "pending",
    RemoteState.RUNNING: "running",
    RemoteState.SUCCEEDED: "completed",
    RemoteState.FAILED: "failed",
}


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
    default_concurrency = 2  # the Free plan's concurrent-jobs limit
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
        remote_id = parse_id(body, "jobId")
        charged = opt_cost(body.get("creditsCharged"))
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
        return HttpRequest("GET", f"/api/v1/jobs/{quote(remote_id, safe='')}")

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
            # "Refunded on errors" [docs]; a cancel is not an error and nothing says it is
            # refunded, so a cancelled job's charge stays spent.
            refunds_failures=str(status).lower() != "cancelled",
        )

    # The jobs API (vydra.ai/docs/jobs): list by status with limit/offset, cancel by id.
    listable: ClassVar[frozenset[RemoteState]] = frozenset(LIST_STATUS)

    def list_request(
        self, *, state: RemoteState | None = None, page: str | None = None, limit: int = 100
    ) -> HttpRequest:
        params = {"limit": str(limit), "offset": page or "0"}
        if state is not None:
            params["status"] = LIST_STATUS[state]
        return HttpRequest("GET", "/api/v1/jobs", params=params)

    def parse_list(self, response: HttpResponse, *, page: str | None, limit: int) -> Listing:
        rows = rows_of(response.body, "data")
        items = tuple(
            Listed(
                remote_id=parse_id(row, "id"),
                polled=self.parse_poll(HttpResponse(200, row)),
                created_at=epoch(row.get("createdAt")),
            )
            for row in rows
            if row.get("id")
        )
        # Offset paging with no total [docs]: a full page may have a next one.
        return Listing(items, next_offset(page, len(rows), limit))

    def cancel_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("DELETE", f"/api/v1/jobs/{quote(remote_id, safe='')}")


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
