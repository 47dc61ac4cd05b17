"""The AI/ML API as providers.md and its OpenAPI files describe it.

Billed at completion (`meta.usage`), 2,000,000 credits = 1 USD; the price per second is
not published, so the emulator uses xAI's own USD price turned into credits. Out of
credits is 403. No Retry-After on 429s.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .base import (
    ASPECTS,
    Answer,
    EmulatedProvider,
    Spec,
    check_enum,
    check_int,
    check_prompt,
    check_url,
    check_urls,
)
from .ledger import EmuJob

MODEL = "x-ai/grok-imagine-video"
PER_SECOND = {"480p": 100_000.0, "720p": 140_000.0, "1080p": 200_000.0}
CREDITS_PER_USD = 2_000_000


class AimlApi(EmulatedProvider):
    name = "aimlapi"
    submit_path = "/v2/video/generations"
    charge_at_submit = False
    refunds_failures = False  # nothing is charged for a failure
    sends_retry_after = False
    server_errors = (500, 502, 503)

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(
            status,
            {
                "message": message,
                "path": "/v2/video/generations",
                "requestId": str(uuid.uuid4()),
                "statusCode": status,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def insufficient(self, required: float, available: float) -> Answer:
        return self.error(403, "Insufficient balance: top up your credits", "forbidden")

    def poll_id(self, path: str, query: dict[str, str]) -> str | None:
        if path == "/v2/video/generations":
            return query.get("generation_id", "")
        return None

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"], None
        problems: list[str] = []
        if body.get("model") != MODEL:
            problems.append(f"model must be {MODEL}")
        check_prompt(body, problems, required=False, most=None)
        if "image_url" in body and not check_url(body["image_url"]):
            problems.append("image_url must be a URI")
        check_urls(body.get("reference_images"), "reference_images", 7, problems)
        if "image_url" in body and "reference_images" in body:
            problems.append("image_url cannot be combined with reference_images")
        check_int(body, "duration", 1, 15, problems)
        check_enum(body, "aspect_ratio", ASPECTS, problems)
        check_enum(body, "resolution", tuple(PER_SECOND), problems)
        duration = body.get("duration", 10)
        resolution = body.get("resolution", "720p")
        price = PER_SECOND.get(resolution, 0.0) * (duration if isinstance(duration, int) else 0)
        return problems, Spec(price=price, duration=duration, resolution=resolution)

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(200, {"id": job.id, "status": "queued"})

    def polled(self, job: EmuJob, phase: str, progress: float, url: str | None) -> Answer:
        body: dict[str, Any] = {"id": job.id, "video": None, "error": None, "meta": None}
        if phase == "queued":
            body["status"] = "queued"
        elif phase == "running":
            body["status"] = "generating"
        elif job.outcome == "ok":
            body |= {
                "status": "completed",
                "video": {"url": url},
                "meta": {
                    "usage": {
                        "credits_used": job.price,
                        "usd_spent": round(job.price / CREDITS_PER_USD, 6),
                    }
                },
            }
        else:
            name = "ModerationError" if job.outcome == "moderated" else "GenerationError"
            body |= {
                "status": "error",
                "error": {"name": name, "message": self.failure_message(job)},
            }
        return Answer(200, body)


PROVIDER = AimlApi()
