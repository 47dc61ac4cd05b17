"""AI Video API as providers.md describes it: body under `input`, submit envelope.

Charged up front (2.4 credits/s at 480p, 4.5 at 720p, rounded up), refunded on failure.
Errors `{error: {code, message, type}}`; out of credits 402; no Retry-After on 429s.
`callback_url` must be an absolute http(s) URL. Outputs are kept 24 h (`url_ttl`); after
that the task still says `completed` and its URLs answer 410 [guess].
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from .base import Answer, EmulatedProvider, Spec, View
from .checks import check_bool, check_enum, check_int, check_prompt, check_url_field, check_urls
from .jobs import EmuJob

TEXT, IMAGE = "grok-imagine-text-to-video", "grok-imagine-image-to-video"
ASPECTS = ("2:3", "3:2", "1:1", "16:9", "9:16")
PER_SECOND = {"480p": 2.4, "720p": 4.5}
POLL = re.compile(r"^/v1/tasks/([^/]+)$")


class AiVideoApi(EmulatedProvider):
    name = "aivideoapi"
    submit_path = "/v1/videos/generations"
    poll_path = POLL
    sends_retry_after = False

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        codes = {
            401: "invalid_api_key",
            402: "insufficient_credits",
            404: "task_not_found",
            429: "rate_limit_exceeded",
            500: "internal_error",
            503: "upstream_error",
        }
        code = codes.get(status, code)
        kind = "invalid_request_error" if status == 400 else "api_error"
        return Answer(status, {"error": {"code": code, "message": message, "type": kind}})

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"], None
        problems: list[str] = []
        # providers.md does not say unknown fields are rejected: they are ignored
        model = body.get("model")
        if model not in (TEXT, IMAGE):
            problems.append(f"model must be {TEXT} or {IMAGE}")
        check_url_field(body, "callback_url", problems)
        data = body.get("input")
        if not isinstance(data, dict):
            return [*problems, "input must be an object"], None
        check_prompt(data, problems, required=model == TEXT, most=5000)
        check_int(data, "duration", 6, 30, problems)
        check_enum(data, "resolution", tuple(PER_SECOND), problems)
        check_enum(data, "aspect_ratio", ASPECTS, problems)
        check_enum(data, "mode", ("fun", "normal", "spicy"), problems)
        check_urls(data.get("image_urls"), "image_urls", 7, problems)
        if model == IMAGE and not data.get("image_urls"):
            problems.append("image_urls is required for image-to-video")
        if model == TEXT and data.get("image_urls"):
            problems.append("image_urls is only for image-to-video")  # [guess]
        if model == IMAGE and data.get("mode") == "spicy":
            problems.append("mode spicy is only available for text-to-video")
        check_bool(data, "nsfw_checker", problems)
        duration = data.get("duration", 6)
        resolution = data.get("resolution", "480p")
        rate = PER_SECOND.get(resolution, 0.0)
        seconds = duration if isinstance(duration, int) else 0
        return problems, Spec(
            price=float(math.ceil(round(rate * seconds, 9))),
            duration=seconds,
            resolution=resolution,
            aspect_ratio=data.get("aspect_ratio", "2:3"),
            model=model if isinstance(model, str) else "",
        )

    def new_id(self, seq: int) -> str:
        return f"task_{uuid.uuid4().hex}"

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(200, {"code": 200, "msg": "success", "data": {"taskId": job.id}})

    def polled(self, job: EmuJob, view: View) -> Answer:
        body: dict[str, Any] = {
            "id": job.id,
            "model": job.details.get("model"),
            "progress": int(view.progress),
            "created_at": int(job.created),
        }
        if view.phase == "queued":
            body["status"] = "pending"
        elif view.phase == "running":
            body["status"] = "processing"
        else:
            body["completed_at"] = int(job.finished_at)
            if job.outcome == "ok":
                body |= {"status": "completed", "output": {"urls": [view.url]}}
            else:
                code = "content_moderation" if job.outcome == "moderated" else "generation_failed"
                body |= {
                    "status": "failed",
                    "error": {"code": code, "message": self.failure_message(job)},
                }
        return Answer(200, body)


PROVIDER = AiVideoApi()
