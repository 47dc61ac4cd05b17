"""xAI's own API, the one the resellers wrap: priced in USD, failures inside HTTP 200.

Submit `POST /v1/videos/generations` with `{model, prompt?, duration, aspect_ratio,
resolution, image: {url}?, reference_images: [{url}]?}` → `{request_id}`; poll
`GET /v1/videos/{request_id}` → `{status: pending|done|failed|expired, progress, video: {url,
duration, respect_moderation}, usage: {cost_in_usd_ticks}}`. A failure is an HTTP 200 with
`status: "failed"`; a `done` without URL because `respect_moderation` is false is a
moderation failure. The cost is in ticks of 1e-10 USD; grokbatch counts xAI's "credits" in
USD, so `max_credits` for xAI is a dollar amount.

What the live API answers beyond those shapes [docs, issues]:

* A poll of a job still in progress answers **HTTP 202 with an empty body** (xAI's OpenAPI:
  "202: still in progress", no schema; vercel/ai#17308): still running, never an error.
  With a body, `progress` runs 0–99.
* A **bad key answers 400** "Incorrect API key provided…" (continuedev/continue#10778):
  told from a bad request by its message.
* **Out of credits answers 403 or 429** naming the team's credits or monthly spending
  limit (griptape#1079, continuedev/continue#10373): a 429 like that is not a rate limit.
* **1 request per second** for the video models on every tier (docs.x.ai): submits are
  paced at that by default (`default_submits_per_minute`).

Guesses [guess], kept tolerant: whether polls count against the 1 request/s (a 429 on a
poll cools the provider down like any other); that `expired` (made, paid, result lost) is
not refunded; that a plain `failed` without `usage` costs nothing; the error body
`{code, error}`; `queued`, `processing` and `in_progress` as other names of running.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from ..jobs import ASPECT_RATIOS, Job
from . import checks
from .base import Provider
from .parse import make_polled, opt_cost, parse_id, require
from .wire import (
    HttpRequest,
    HttpResponse,
    Polled,
    Price,
    RemoteState,
    Submitted,
    Violation,
)

MODEL = "grok-imagine-video"
USD_PER_SECOND = {"480p": 0.05, "720p": 0.07}
USD_PER_TICK = 1e-10
STATUSES = {
    "pending": RemoteState.QUEUED,
    "queued": RemoteState.QUEUED,  # [guess]
    "processing": RemoteState.RUNNING,  # [guess]
    "in_progress": RemoteState.RUNNING,  # [guess]
    "done": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "expired": RemoteState.FAILED,
}
# The status of a poll answered 202 without one: still running.
RUNNING = {"in progress (http 202)": RemoteState.RUNNING}
# A 400 that is a refused key, not a bad request; matched on the text unquoted, since some
# clients show it URL-encoded ("Incorrect%20API%20key%20provided").
BAD_KEY = re.compile(r"(incorrect|invalid|missing|no) api key", re.IGNORECASE)
# A 403 or 429 that means the money ran out: "...used all available credits or reached its
# monthly spending limit".
NO_CREDITS = re.compile(r"credit|spending limit|spend limit", re.IGNORECASE)


class Xai(Provider):
    name = "xai"
    title = "xAI"
    key_env = "XAI_API_KEY"
    default_base_url = "https://api.x.ai"
    credit_unit = "USD"
    usd_per_credit = 1.0
    # docs.x.ai: 1 request per second for the video models, on every tier.
    default_submits_per_minute = 60.0
    empty_poll_statuses = frozenset({202})
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
        body: dict[str, Any] = {"model": MODEL}
        if job.prompt:  # an image-only job sends no prompt rather than ""
            body["prompt"] = job.prompt
        for name in ("duration", "aspect_ratio", "resolution"):
            body[name] = p[name]
        if p.get("image"):
            body["image"] = {"url": p["image"]}
        if p.get("reference_images"):
            body["reference_images"] = [{"url": u} for u in p["reference_images"]]
        return HttpRequest("POST", "/v1/videos/generations", json=body)

    def parse_submit(self, response: HttpResponse) -> Submitted:
        return Submitted(parse_id(response.body, "request_id"))

    def poll_request(self, remote_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/v1/videos/{quote(remote_id, safe='')}")

    def parse_poll(self, response: HttpResponse) -> Polled:
        body = response.body
        if response.status_code == 202 and not (isinstance(body, dict) and "status" in body):
            # Still in progress: an empty body, or one with only `progress`.
            progress = body.get("progress") if isinstance(body, dict) else None
            return make_polled("in progress (HTTP 202)", RUNNING, progress=progress)
        status = str(require(body, "status"))
        video = body.get("video") if isinstance(body.get("video"), dict) else {}
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        reported = usage.get("cost_in_usd_ticks") is not None
        ticks = opt_cost(usage.get("cost_in_usd_ticks"))
        usd = None if ticks is None else round(ticks * USD_PER_TICK, 10)
        blocked = status.lower() == "done" and video.get("respect_moderation") is False
        error = body.get("error")
        if blocked and not video.get("url"):
            error = error or {"code": "moderation", "message": "blocked by content moderation"}
        if status.lower() == "expired":
            error = error or "the clip was made but xAI no longer holds it (expired)"
        return make_polled(
            status,
            STATUSES,
            urls=None if blocked else video.get("url"),
            error=error,
            charged=usd,
            usd=usd,
            progress=body.get("progress"),
            # Billed when the clip is made. A plain failure made none: it costs what usage
            # says, else nothing (a usage it cannot read: unknown). `expired` was made and
            # paid, then lost [guess: no refund]: never refunded, and without usage its cost
            # is unknown (the reservation stays spent). A moderated `done` is billed too,
            # and is no provider failure anyway.
            refunds_failures=status.lower() == "failed" and (ticks == 0 or not reported),
            moderated=blocked,
        )

    def is_refused_key(self, response: HttpResponse, message: str, code: str | None) -> bool:
        if response.status_code == 400:
            return bool(BAD_KEY.search(unquote(message)))
        return super().is_refused_key(response, message, code)

    def is_out_of_credits(self, response: HttpResponse, message: str, code: str | None) -> bool:
        status = response.status_code
        return status == 402 or (status in (403, 429) and bool(NO_CREDITS.search(unquote(message))))


ADAPTER = Xai()
