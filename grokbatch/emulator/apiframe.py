"""APIFrame as providers.md and its OpenAPI file describe it: X-API-Key, idempotency keys.

`POST /v2/videos/generate` takes `{model, prompt, grokImagineVideoParams, webhookUrl?,
webhookEvents?}` and rejects unknown fields; 6 s = 10, 10 s = 15, 15 s = 25 credits,
charged at submit and refunded on failure. Errors are `{error: "..."}`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from .base import (
    ASPECTS,
    Answer,
    EmulatedProvider,
    Spec,
    check_enum,
    check_prompt,
    check_url,
    check_urls,
    iso,
    unknown_keys,
)
from .ledger import EmuJob

MODEL = "grok-imagine-video"
PRICES = {6: 10.0, 10: 15.0, 15: 25.0}
POLL = re.compile(r"^/v2/jobs/([^/]+)$")


class ApiFrame(EmulatedProvider):
    name = "apiframe"
    submit_path = "/v2/videos/generate"
    poll_path = POLL
    server_errors = (503,)

    def key_from(self, headers: dict[str, str]) -> str | None:
        key = headers.get("x-api-key")
        return key if key else super().key_from(headers)  # the spec also allows Bearer

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(status, {"error": message, **extra})

    def insufficient(self, required: float, available: float) -> Answer:
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
        try:
            uuid.UUID(job_id)
        except ValueError:  # the OpenAPI file: 400 when `id` is not a valid UUID
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
            problems.append("webhookUrl must be a URI")
        events = body.get("webhookEvents")
        if events is not None and (
            not isinstance(events, list)
            or not events
            or not set(events) <= {"progress", "completed", "failed"}
        ):
            problems.append("webhookEvents must list progress, completed or failed")
        duration = params.get("duration", 6)
        return problems, Spec(price=PRICES.get(duration, 0.0), duration=duration, resolution="720p")

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(202, {"jobId": job.id, "status": "QUEUED"})

    def polled(self, job: EmuJob, phase: str, progress: float, url: str | None) -> Answer:
        status = {"queued": "QUEUED", "running": "PROCESSING"}.get(phase)
        final = status is None
        if final:
            status = "COMPLETED" if job.outcome == "ok" else "FAILED"
        return Answer(
            200,
            {
                "id": job.id,
                "status": status,
                "model": MODEL,
                "progress": int(progress),
                "result": url if final and job.outcome == "ok" else None,
                "error": self.failure_message(job) if final and job.outcome != "ok" else None,
                "creditCost": int(job.price),
                "expired": False,
                "input": job.details.get("input"),
                "webhookStatus": None,
                "createdAt": job.details["created_iso"],
                "completedAt": iso() if final else None,
            },
        )


PROVIDER = ApiFrame()
