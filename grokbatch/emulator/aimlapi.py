"""The AI/ML API as providers.md, its OpenAPI files and its docs describe it.

Billed at completion (`meta.usage`), 2,000,000 credits = 1 USD; the price per second is
not published, so the emulator uses xAI's own USD price turned into credits. Out of
credits is 403. No Retry-After on 429s. Unknown body fields are rejected.

Request tracing (aimlapi/api-docs `docs/capabilities/request-tracing-and-cost.md`): a
submit's `X-Client-Request-Id` (1–128 characters of `A–Z a–z 0–9 . _ : -`; anything else
is silently dropped) is kept and echoed, and every answer about a generation carries
`x-inference-id`, the generation id. `GET /v2/logs` (`logs-v2.json`, `usage-logs.md`)
lists one row per generation, newest first, with `limit`/`offset` pagination; for async
video a row appears only once the generation has completed (plus `log_delay` seconds).
The endpoint allows 200 requests per 60 seconds.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from .base import ASPECTS, Answer, EmulatedProvider, Query, Spec, View, first, int_param, iso
from .checks import check_enum, check_int, check_prompt, check_url_field, check_urls, unknown_keys
from .config import EmulatorConfig
from .jobs import EmuJob

MODEL = "x-ai/grok-imagine-video"
FIELDS = {"model", "prompt", "image_url", "reference_images", "duration", "aspect_ratio",
          "resolution"}  # fmt: skip
PER_SECOND = {"480p": 100_000.0, "720p": 140_000.0, "1080p": 200_000.0}
CREDITS_PER_USD = 2_000_000
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PERIOD = re.compile(r"([1-9][0-9]*)([hd])")
MAX_WINDOW = 92 * 86400.0


class AimlApi(EmulatedProvider):
    name = "aimlapi"
    submit_path = "/v2/video/generations"
    list_path = "/v2/logs"
    list_rate = (200, 60.0)
    charge_at_submit = False
    refunds_failures = False  # nothing is charged for a failure
    sends_retry_after = False
    server_errors = (500, 502, 503)

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(
            status,
            {
                "message": message,
                "path": extra.get("path", "/v2/video/generations"),
                "requestId": str(uuid.uuid4()),
                "statusCode": status,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def insufficient(
        self, required: float, available: float, chance: Callable[[float], bool]
    ) -> Answer:
        return self.error(403, "Insufficient balance: top up your credits", "forbidden")

    def poll_id(self, path: str, query: Query) -> str | None:
        if path == "/v2/video/generations":
            return first(query, "generation_id") or ""
        return None

    def client_request_id(self, headers: dict[str, str]) -> str | None:
        value = headers.get("x-client-request-id")
        return value if value is not None and CLIENT_ID.fullmatch(value) else None

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"], None
        problems: list[str] = []
        unknown_keys(body, FIELDS, problems)
        if body.get("model") != MODEL:
            problems.append(f"model must be {MODEL}")
        check_prompt(body, problems, required=False, most=None)
        check_url_field(body, "image_url", problems)
        check_urls(body.get("reference_images"), "reference_images", 7, problems)
        if "image_url" in body and "reference_images" in body:
            problems.append("image_url cannot be combined with reference_images")
        check_int(body, "duration", 1, 15, problems)
        check_enum(body, "aspect_ratio", ASPECTS, problems)
        check_enum(body, "resolution", tuple(PER_SECOND), problems)
        duration = body.get("duration", 10)
        seconds = duration if isinstance(duration, int) else 0
        resolution = body.get("resolution", "720p")
        return problems, Spec(
            price=PER_SECOND.get(resolution, 0.0) * seconds,
            duration=seconds,
            resolution=resolution,
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            model=MODEL,
            extra={"request_id": f"req-{uuid.uuid4().hex[:20]}"},
        )

    def _headers(self, job: EmuJob) -> dict[str, str]:
        headers = {"x-inference-id": job.id}
        if job.client_request_id is not None:
            headers["x-client-request-id"] = job.client_request_id
        return headers

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(200, {"id": job.id, "status": "queued"}, self._headers(job))

    def polled(self, job: EmuJob, view: View) -> Answer:
        body: dict[str, Any] = {"id": job.id, "video": None, "error": None, "meta": None}
        if view.phase == "queued":
            body["status"] = "queued"
        elif view.phase == "running":
            body["status"] = "generating"
        elif job.outcome == "ok":
            body |= {
                "status": "completed",
                "video": {"url": view.url},
                "meta": {"usage": self._usage(job)},
            }
        else:
            name = "ModerationError" if job.outcome == "moderated" else "GenerationError"
            body |= {
                "status": "error",
                "error": {"name": name, "message": self.failure_message(job)},
            }
        return Answer(200, body, {"x-inference-id": job.id})

    def _usage(self, job: EmuJob) -> dict[str, Any]:
        credits = job.charged - job.refunded
        return {"credits_used": credits, "usd_spent": round(credits / CREDITS_PER_USD, 6)}

    def listed(
        self,
        jobs: list[EmuJob],
        query: Query,
        view: Callable[[EmuJob], View],
        config: EmulatorConfig,
    ) -> tuple[Answer, list[EmuJob]]:
        now = time.time()
        problem, window = _window(query, now)
        statuses = query.get("status", [])
        models = query.get("model", [])
        limit = int_param(query, "limit", 50, 1, 100)
        offset = int_param(query, "offset", 0, 0, None)
        if problem is None and not set(statuses) <= {"succeeded", "failed"}:
            problem = "status must be succeeded or failed (repeat the parameter for both)"
        if problem is None and len(models) > 50:
            problem = "model accepts at most 50 values"
        if problem is None and (limit is None or offset is None):
            problem = "limit must be 1-100 and offset a whole number"
        if problem is not None or window is None or limit is None or offset is None:
            return self.error(400, problem or "bad query", "", path="/v2/logs"), []
        prefix = first(query, "key_prefix")
        if prefix is not None and not config.key_for(self.name).startswith(prefix):
            return self.error(403, "A regular key can only list its own requests", ""), []
        rows = []
        for job in jobs:  # newest first
            if job.phase(now)[0] != "final" or now < job.finished_at + config.log_delay:
                continue  # async video: logged once the generation has completed
            if not window[0] <= job.created <= window[1]:
                continue
            status = "succeeded" if job.outcome == "ok" else "failed"
            if (statuses and status not in statuses) or (models and MODEL not in models):
                continue
            rows.append((job, status))
        page = rows[offset : offset + limit]
        data = [self._row(job, status) for job, status in page]
        pagination = {
            "limit": limit,
            "offset": offset,
            "total": len(rows),
            "has_more": offset + len(page) < len(rows),
        }
        return Answer(200, {"data": data, "pagination": pagination}), [job for job, _ in page]

    def _row(self, job: EmuJob, status: str) -> dict[str, Any]:
        usage = self._usage(job) if status == "succeeded" else {"credits_used": 0, "usd_spent": 0}
        return {
            "created": iso(job.created, millis=True),
            "status": status,
            "origin": "api",
            "model": MODEL,
            "cost": {"usd": usage["usd_spent"], "credits": int(usage["credits_used"])},
            "tokens": {"input": 0, "output": 0, "total": 0},
            "request_id": job.details.get("request_id"),
            "inference_id": job.id,
            "client_request_id": job.client_request_id,
        }


def _window(query: Query, now: float) -> tuple[str | None, tuple[float, float] | None]:
    """(problem, (start, end)): either `period` or both `start` and `end`, never both."""
    period, start, end = first(query, "period"), first(query, "start"), first(query, "end")
    if period is not None and (start is not None or end is not None):
        return "provide either period or start and end, never both", None
    if period is not None:
        m = PERIOD.fullmatch(period)
        if not m:
            return "period must be a positive integer followed by h or d, e.g. 24h", None
        seconds = int(m.group(1)) * (3600 if m.group(2) == "h" else 86400)
        if seconds > MAX_WINDOW:
            return "the window must not exceed 92 days", None
        return None, (now - seconds, now)
    if start is None or end is None:
        return "provide either period or both start and end", None
    try:
        begin, until = _instant(start), _instant(end)
    except ValueError:
        return "start and end must be ISO-8601 dates", None
    if until < begin:
        return "end must not be earlier than start", None
    if until - begin > MAX_WINDOW:
        return "the window must not exceed 92 days", None
    return None, (begin, until)


def _instant(text: str) -> float:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:  # "A value without a UTC offset is read as UTC"
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


PROVIDER = AimlApi()
