"""APIFrame: X-API-Key, a params block per model, and idempotency keys.

Submit `POST /v2/videos/generate` with `{model: "grok-imagine-video", prompt,
grokImagineVideoParams: {duration, aspect_ratio, reference_images}}` and an
`Idempotency-Key` header → 202 `{jobId, status: "QUEUED"}`; poll `GET /v2/jobs/{id}` →
`{id, status, progress, result, error, creditCost, expired}`. The job's key is the
idempotency key: a submit whose answer was lost is resent safely, and APIFrame returns the
job it already made instead of charging twice. Resolution is fixed at 720p.

Its OpenAPI file documents a submit's 503 as "service temporarily unavailable (queue / DB
outage)": the job was not created, the one 5xx grokbatch reads that way.

`result` is typed as anything ("{}" in the OpenAPI file): a URL string, an object or an
array, nested at will, and it may hold a thumbnail or poster beside the video. The video is
chosen by `outputs.media_urls`: content type, then extension, then key name; never a URL
under a thumbnail/poster/preview key, never an image; no suitable URL is a failure naming
what was found, not a download of the wrong file.

Not documented, so read tolerantly [guess]: the shape of `result` for this model (hence
the search above), and what an `expired` job costs (taken as its `creditCost`: it was made
and is not refunded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from ..jobs import ASPECT_RATIOS, Job
from . import checks
from .base import Provider
from .outputs import media_urls
from .parse import clean_text, epoch, make_polled, parse_id, require, rows_of
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

MODEL = "grok-imagine-video"
PRICES = {6: 10.0, 10: 15.0, 15: 25.0}
# What grokbatch's states are called in the list filter.
LIST_STATUS = {
    RemoteState.QUEUED: "QUEUED",
    RemoteState.RUNNING: "PROCESSING",
    RemoteState.SUCCEEDED: "COMPLETED",
    RemoteState.FAILED: "FAILED",
}
STATUSES = {
    "queued": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "completed": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "cancelled": RemoteState.FAILED,
}


class ApiFrame(Provider):
    name = "apiframe"
    title = "APIFrame"
    key_env = "APIFRAME_API_KEY"
    default_base_url = "https://api.apiframe.ai"
    idempotent_submit = True
    not_created_statuses = frozenset({503})
    max_prompt_chars = 5000
    defaults: ClassVar[Mapping[str, Any]] = {
        "duration": 6,
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }
    extra: ClassVar[Mapping[str, checks.Check]] = {
        "webhookUrl": checks.http_url,
        "webhookEvents": checks.some_of(("progress", "completed", "failed")),
    }

    def check_params(self, params: Mapping[str, Any], model: str | None) -> list[Violation]:
        found = [
            *checks.video_only(params),
            *checks.one_of(params, "aspect_ratio", ASPECT_RATIOS),
            *checks.one_of(params, "resolution", ("720p",)),
            *checks.unsupported(params, ("mode",), "its motion modes are AI Video API's"),
            *checks.unsupported(
                params, ("image",), "it has no image-to-video; give the image in reference_images"
            ),
            *checks.image_count(params),
            *checks.extra_fields(params, self.extra),
            *checks.urls(params),
        ]
        if params.get("duration") not in PRICES:
            found.append(
                Violation(
                    "duration",
                    f"does not accept duration {params.get('duration')} (only 6, 10 or 15 s)",
                    "use 6, 10 or 15",
                )
            )
        return found

    def list_price(self, params: Mapping[str, Any]) -> Price:
        return Price(PRICES[int(params["duration"])], None, "published")

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"X-API-Key": api_key}

    def submit_request(self, job: Job, attempt: int = 1) -> HttpRequest:
        p = job.params
        block: dict[str, Any] = {"duration": p["duration"], "aspect_ratio": p["aspect_ratio"]}
        if p.get("reference_images"):
            block["reference_images"] = list(p["reference_images"])
        body: dict[str, Any] = {"model": MODEL, "prompt": job.prompt}
        body["grokImagineVideoParams"] = block
        body.update(p.get("extra") or {})
        # The job key (64 hex chars ≤ 255): a resend of this attempt replays the job APIFrame
        # already made. A deliberate retry after a failure is a new attempt, hence a new key:
        # the old one would replay the failed job.
        key = job.key if attempt <= 1 else f"{job.key}-{attempt}"
        return HttpRequest(
            "POST", "/v2/videos/generate", json=body, headers={"Idempotency-Key": key}
        )

    def parse_submit(self, response: HttpResponse) -> Submitted:
        return Submitted(parse_id(response.body, "jobId"))

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/v2/jobs/{quote(remote_id, safe='')}")

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        error = body.get("error")
        status = require(body, "status")
        if body.get("expired") is True and str(status).upper() == "COMPLETED":
            # Made and paid; only the files are gone.
            error = error or "the outputs were purged (APIFrame keeps them 24 h)"
            return make_polled(
                "EXPIRED",
                {"expired": RemoteState.FAILED},
                error=error,
                charged=body.get("creditCost"),
            )
        urls, missing = media_urls(body.get("result"), "video")
        return make_polled(
            status,
            STATUSES,
            urls=urls,
            error=error or missing or None,
            charged=body.get("creditCost"),
            progress=body.get("progress"),
            refunds_failures=True,
        )

    # `GET /v2/jobs` (its OpenAPI file): newest first, filtered by status and model, paged by
    # an opaque cursor. A FAILED filter leaves CANCELLED jobs out [docs: separate statuses].
    listable: ClassVar[frozenset[RemoteState]] = frozenset(RemoteState)

    def list_request(
        self, *, state: RemoteState | None = None, page: str | None = None, limit: int = 100
    ) -> HttpRequest:
        params = {"model": MODEL, "limit": str(limit)}
        if state is not None:
            params["status"] = LIST_STATUS[state]
        if page:
            params["cursor"] = page
        return HttpRequest("GET", "/v2/jobs", params=params)

    def parse_list(self, response: HttpResponse, *, page: str | None, limit: int) -> Listing:
        items = tuple(
            Listed(
                remote_id=parse_id(row, "id"),
                polled=self.parse_poll(HttpResponse(200, row)),
                created_at=epoch(row.get("createdAt")),
            )
            for row in rows_of(response.body, "jobs")
            if row.get("id")
        )
        cursor = response.body.get("nextCursor")
        more = response.body.get("hasMore") is True and isinstance(cursor, str) and cursor
        return Listing(items, cursor if more else None)

    def error_details(self, response: HttpResponse) -> tuple[str, str | None]:
        message, code = super().error_details(response)
        details = response.body.get("details") if isinstance(response.body, dict) else None
        if isinstance(details, dict) and details:
            fields = "; ".join(f"{k}: {_listed(v)}" for k, v in details.items())
            message = clean_text(f"{message} ({fields})")
        return message, code


def _listed(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


ADAPTER = ApiFrame()
