"""AI/ML API: flat JSON under one model id, cost known only when the clip is done.

Submit `POST /v2/video/generations` → `{id, status}`; poll `GET /v2/video/generations?
generation_id=ID` → `{id, status, video: {url}, error: {name, message}, meta: {usage:
{credits_used, usd_spent}}}`. Out of credits is **403**, not 402. The price per second is not
published: estimates rest on the manifest's `prices:` or, failing that, on a guess from
xAI's own USD price (0.05/0.07 USD/s) at 2,000,000 credits per USD — marked as guessed.
The spend of a finished job is `meta.usage`: `usd_spent`, or `credits_used / 2,000,000`
where `usd_spent` is absent [docs].

Every submit carries `X-Client-Request-Id` (`client_request_id`: the job key and the
attempt, within the documented 1–128 characters of `A–Z a–z 0–9 . _ : -`), which the API
records beside the generation and lists in `GET /v2/logs` (aimlapi/api-docs
`docs/capabilities/request-tracing-and-cost.md`, `logs-v2.json`): one row per generation,
newest first, `limit`/`offset` paged, with `inference_id` (the generation id to poll),
`status` succeeded | failed and `cost`. For async video a row appears only once the
generation has completed, so the logs list finished jobs only.

Guesses [guess]: the price per second (above); `processing` and `failed` as other names of
`generating` and `error`; that a failed generation costs nothing unless `usage` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..jobs import ASPECT_RATIOS, Job
from . import checks
from .base import Provider
from .parse import epoch, make_polled, opt_cost, opt_str, parse_id, require, rows_of
from .pricing import usd
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

MODEL = "x-ai/grok-imagine-video"
CLIENT_REQUEST_ID = "X-Client-Request-Id"
LOG_STATUS = {RemoteState.SUCCEEDED: "succeeded", RemoteState.FAILED: "failed"}
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
        request_id = self.client_request_id(job, attempt)
        return HttpRequest(
            "POST", "/v2/video/generations", json=body, headers={CLIENT_REQUEST_ID: request_id}
        )

    def client_request_id(self, job: Job, attempt: int) -> str:
        # 64 hex digits, a dot, the attempt: the alphabet and length the API keeps. A resend
        # of one attempt carries the same id; a deliberate retry is a new one.
        return f"{job.key}.{attempt}"

    def parse_submit(self, response: HttpResponse) -> Submitted:
        return Submitted(parse_id(response.body, "id"))

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", "/v2/video/generations", params={"generation_id": remote_id})

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        video = body.get("video")
        meta = body.get("meta")
        usage = meta.get("usage") if isinstance(meta, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        status = require(body, "status")
        credits, usd_spent = opt_cost(usage.get("credits_used")), opt_cost(usage.get("usd_spent"))
        if usd_spent is None and credits is not None:
            usd_spent = usd(credits, USD_PER_CREDIT)
        if credits is None and usd_spent is not None:
            credits = round(usd_spent / USD_PER_CREDIT, 4)
        reported = any(usage.get(k) is not None for k in ("credits_used", "usd_spent"))
        failed = str(status).lower() in ("error", "failed")
        return make_polled(
            status,
            STATUSES,
            urls=video.get("url") if isinstance(video, dict) else None,
            error=body.get("error"),
            charged=credits,
            usd=usd_spent,
            # Billed at completion: a failed generation costs nothing unless usage says so.
            # A usage it cannot read leaves the cost unknown: the reservation stays spent.
            refunds_failures=failed and (credits == 0 or not reported),
        )

    def is_out_of_credits(self, response: HttpResponse, message: str, code: str | None) -> bool:
        return response.status_code in (402, 403)  # 401 is the bad key; 403 the empty balance

    # `GET /v2/logs`: finished generations only (a row appears at completion).
    listable: ClassVar[frozenset[RemoteState]] = frozenset(LOG_STATUS)
    list_horizon: ClassVar[float | None] = 24 * 3600.0  # period=24h

    def list_request(
        self, *, state: RemoteState | None = None, page: str | None = None, limit: int = 100
    ) -> HttpRequest | None:
        if state is not None and state not in LOG_STATUS:
            return None  # queued and running generations are not in the logs
        params = {"period": "24h", "model": MODEL, "limit": str(limit), "offset": page or "0"}
        if state is not None:
            params["status"] = LOG_STATUS[state]
        return HttpRequest("GET", "/v2/logs", params=params)

    def parse_list(self, response: HttpResponse, *, page: str | None, limit: int) -> Listing:
        rows = rows_of(response.body, "data")
        items = tuple(
            Listed(
                remote_id=parse_id(row, "inference_id"),
                polled=_logged(row),
                created_at=epoch(row.get("created")),
                client_request_id=opt_str(row.get("client_request_id")),
            )
            for row in rows
            if row.get("inference_id")
        )
        pagination = response.body.get("pagination")
        more = isinstance(pagination, dict) and pagination.get("has_more") is True
        return Listing(items, str(int(page or 0) + len(rows)) if more and rows else None)


def _logged(row: Mapping[str, Any]) -> Polled:
    """A log row's state and cost; its output URL comes from polling the generation."""
    status = str(row.get("status"))
    found = row.get("cost")
    cost: Mapping[str, Any] = found if isinstance(found, dict) else {}
    state = RemoteState.SUCCEEDED if status == "succeeded" else RemoteState.FAILED
    credits = opt_cost(cost.get("credits"))
    return Polled(
        state=state,
        status=status,
        charged=credits,
        usd=opt_cost(cost.get("usd")),
        refunded=state is RemoteState.FAILED and not credits,
    )


ADAPTER = AimlApi()
