"""APIFrame as providers.md and its OpenAPI file describe it: X-API-Key, idempotency keys.

`POST /v2/videos/generate` takes `{model, prompt, grokImagineVideoParams, webhookUrl?,
webhookEvents?}` and rejects unknown fields; 6 s = 10, 10 s = 15, 15 s = 25 credits,
charged at submit and refunded on failure. Errors are `{error: "..."}`. Only `X-API-Key`
authenticates an API key: the file's Bearer scheme is for the dashboard's own JWTs.

`result` is untyped in the OpenAPI file (providers.md: "a URL string or an object/array
holding URLs"): each job draws one shape at submit, seeded — a URL string, `{url,
thumbnailUrl?}`, or an array of URLs — and some carry a poster image beside the video
[guess: names and order]. `expired` turns true once the outputs are purged; the `result`
URLs then answer 404, as the file says they may. A 503 on a submit created nothing (the
file: "queue / DB outage. Retry with backoff"). `GET /v2/jobs` lists jobs newest first with
an opaque cursor, as the file describes it.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from .base import ASPECTS, Answer, EmulatedProvider, Query, Spec, View, first, int_param, iso
from .checks import check_enum, check_prompt, check_url, check_urls, unknown_keys
from .config import EmulatorConfig
from .jobs import EmuJob

MODEL = "grok-imagine-video"
PRICES = {6: 10.0, 10: 15.0, 15: 25.0}
POLL = re.compile(r"^/v2/jobs/([^/]+)$")
EVENTS = ("progress", "completed", "failed")
STATUSES = ("QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED")


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class ApiFrame(EmulatedProvider):
    name = "apiframe"
    submit_path = "/v2/videos/generate"
    poll_path = POLL
    list_path = "/v2/jobs"
    server_errors = (503,)
    submit_5xx_may_create = False
    expired_status = 404

    def auth(self, headers: dict[str, str], key: str) -> Answer | None:
        return None if headers.get("x-api-key") == key else self.unauthorized()

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(status, {"error": message, **extra})

    def insufficient(
        self, required: float, available: float, chance: Callable[[float], bool]
    ) -> Answer:
        return self.error(
            402,
            "Insufficient credits",
            "insufficient_credits",
            creditsRequired=int(required),
            creditsAvailable=max(0, int(available)),
        )

    def invalid(self, problems: list[str]) -> Answer:
        return self.error(400, "Invalid request body", "invalid", details={"body": problems})

    def not_found(self, job_id: str) -> Answer:
        if not is_uuid(job_id):  # the OpenAPI file: 400 when `id` is not a valid UUID
            return self.error(400, "`id` is not a valid UUID", "invalid")
        return self.error(404, "Job not found", "not_found")

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"], None
        problems: list[str] = []
        unknown_keys(
            body,
            {"model", "prompt", "grokImagineVideoParams", "webhookUrl", "webhookEvents"},
            problems,
        )
        if body.get("model") != MODEL:
            problems.append(f"model must be {MODEL}")
        check_prompt(body, problems, required=True, most=5000)
        params = body.get("grokImagineVideoParams", {})
        if not isinstance(params, dict):
            return [*problems, "grokImagineVideoParams must be an object"], None
        unknown_keys(params, {"duration", "aspect_ratio", "reference_images"}, problems)
        check_enum(params, "duration", tuple(PRICES), problems)
        check_enum(params, "aspect_ratio", ASPECTS, problems)
        check_urls(params.get("reference_images"), "reference_images", 7, problems, least=0)
        if "webhookUrl" in body and not check_url(body["webhookUrl"]):
            problems.append("webhookUrl must be an absolute http(s) URL")
        events = body.get("webhookEvents")
        if "webhookEvents" in body and (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e in EVENTS for e in events)
        ):
            problems.append(f"webhookEvents must list some of {', '.join(EVENTS)}")
        duration = params.get("duration", 6)
        return problems, Spec(
            price=PRICES.get(duration, 0.0),
            duration=int(duration) if duration in PRICES else 0,
            resolution="720p",
            aspect_ratio=params.get("aspect_ratio", "16:9"),
            model=MODEL,
        )

    def draw(self, chance: Callable[[float], bool]) -> dict[str, Any]:
        shape = "string" if chance(1 / 3) else ("object" if chance(0.5) else "array")
        return {"result_shape": shape, "poster": chance(0.5), "poster_first": chance(0.5)}

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(202, {"jobId": job.id, "status": "QUEUED"})

    def _result(self, job: EmuJob, view: View) -> Any:
        if view.url is None:
            return None
        shape, poster = job.details.get("result_shape"), view.poster
        if shape == "object":
            return {"url": view.url} | ({"thumbnailUrl": poster} if poster else {})
        if shape == "array":
            if poster is None:
                return [view.url]
            return [poster, view.url] if job.details.get("poster_first") else [view.url, poster]
        return view.url

    def _status(self, job: EmuJob, phase: str) -> str:
        if job.cancelled is not None:
            return "CANCELLED"
        if phase != "final":
            return "QUEUED" if phase == "queued" else "PROCESSING"
        return "COMPLETED" if job.outcome == "ok" else "FAILED"

    def _row(self, job: EmuJob, view: View) -> dict[str, Any]:
        status = self._status(job, view.phase)
        final = view.phase == "final"
        return {
            "id": job.id,
            "status": status,
            "model": MODEL,
            "progress": int(view.progress),
            "result": self._result(job, view),
            "error": self.failure_message(job) if final and status != "COMPLETED" else None,
            "creditCost": int(job.price),
            "expired": view.expired,
            "webhookStatus": "pending" if job.details["input"].get("webhookUrl") else None,
            "createdAt": iso(job.created, millis=True),
            "completedAt": iso(job.finished_at, millis=True) if final else None,
        }

    def polled(self, job: EmuJob, view: View) -> Answer:
        return Answer(200, self._row(job, view) | {"input": job.details.get("input")})

    def listed(
        self,
        jobs: list[EmuJob],
        query: Query,
        view: Callable[[EmuJob], View],
        config: EmulatorConfig,
    ) -> tuple[Answer, list[EmuJob]]:
        details: dict[str, list[str]] = {}
        status = first(query, "status")
        if status is not None and status not in STATUSES:
            details["status"] = [f"must be one of {', '.join(STATUSES)}"]
        limit = int_param(query, "limit", 20, 1, 100)
        if limit is None:
            details["limit"] = ["must be an integer from 1 to 100"]
        search = first(query, "search")
        if search is not None and not is_uuid(search):
            details["search"] = ["must be a UUID"]
        if first(query, "include_models") not in (None, "true", "false"):
            details["include_models"] = ["must be true or false"]
        after = _decode(first(query, "cursor"))
        if after is False:
            details["cursor"] = ["is not a cursor this API issued"]
        if first(query, "scope") not in (None, "user", "team"):
            details["scope"] = ["must be user or team"]
        if details or limit is None:
            return self.error(400, "Invalid query parameters", "", details=details), []
        if first(query, "scope") == "team":
            return self.error(403, "Only team admins can list the team's jobs", ""), []
        model, now = first(query, "model"), time.time()
        found: list[EmuJob] = []
        for job in jobs:  # newest first: (createdAt desc, id desc)
            if isinstance(after, tuple) and (job.created, job.id) >= after:
                continue
            if (model is not None and model != MODEL) or (search not in (None, job.id)):
                continue
            if status is None or self._status(job, job.phase(now)[0]) == status:
                found.append(job)
            if len(found) > limit:
                break
        page, more = found[:limit], len(found) > limit
        last = page[-1] if page and more else None
        body: dict[str, Any] = {
            "jobs": [self._row(job, view(job)) for job in page],
            "nextCursor": _encode(last.created, last.id) if last else None,
            "hasMore": more,
        }
        if first(query, "include_models") == "true":
            body["models"] = [MODEL] if jobs else []
        return Answer(200, body), page


def _encode(created: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created!r}|{job_id}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[float, str] | bool | None:
    """(createdAt, id) of the last job of the previous page; None: no cursor; False: bad."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, job_id = text.partition("|")
        return float(created), job_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False


PROVIDER = ApiFrame()
