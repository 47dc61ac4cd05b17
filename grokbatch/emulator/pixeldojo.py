"""PixelDojo's API as providers.md describes it (flat JSON, Bearer, legacy error body)."""

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
    check_int,
    check_prompt,
    check_url,
    iso,
    unknown_keys,
)
from .ledger import EmuJob

FIELDS = {"prompt", "image_url", "mode", "resolution", "aspect_ratio", "duration", "webhook_url"}
POLL = re.compile(r"^/api/v1/jobs/([^/]+)$")


class PixelDojo(EmulatedProvider):
    name = "pixeldojo"
    submit_path = "/api/v1/models/xai-video/run"
    poll_path = POLL
    refunds_failures = False  # [guess] the page says nothing of refunds

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(status, {"error": {"code": code, "message": message}, **extra})

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["the body must be a JSON object"], None
        problems: list[str] = []
        unknown_keys(body, FIELDS, problems)
        check_prompt(body, problems, required=True, most=None)
        check_enum(body, "mode", ("text-to-video", "image-to-video"), problems)
        check_enum(body, "resolution", ("480p", "720p"), problems)
        check_enum(body, "aspect_ratio", ASPECTS, problems)
        check_int(body, "duration", 1, 15, problems)
        if "image_url" in body and not check_url(body["image_url"]):
            problems.append("image_url must be an http(s) URL")
        if body.get("mode") == "image-to-video" and "image_url" not in body:
            problems.append("image-to-video needs image_url")  # [guess]
        duration = body.get("duration", 5)
        seconds = duration if isinstance(duration, int) else 0
        # The seed says a flat 10 credits per video, another version of the page 2 per
        # second: charge the larger, and say so in `creditCost` as the real API does.
        return problems, Spec(
            price=float(max(10, 2 * seconds)),
            duration=duration,
            resolution=body.get("resolution", "720p"),
        )

    def new_id(self, seq: int) -> str:
        return f"job_{uuid.uuid4().hex[:20]}"

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(
            202,
            {
                "jobId": job.id,
                "status": "pending",
                "statusUrl": f"{base}/api/v1/jobs/{job.id}",
                "creditCost": job.price,
                "creditsRemaining": job.details["balance"],
                "expiresAt": iso(24 * 3600),
            },
        )

    def polled(self, job: EmuJob, phase: str, progress: float, url: str | None) -> Answer:
        status = {"queued": "pending", "running": "processing"}.get(phase)
        body: dict[str, Any] = {
            "jobId": job.id,
            "creditCost": job.price,
            "expiresAt": iso(24 * 3600),
        }
        if status is None and job.outcome == "ok":
            body |= {"status": "completed", "output": {"video": url}}
        elif status is None:
            body |= {"status": "failed", "error": self.failure_message(job)}
        else:
            body["status"] = status
        return Answer(200, body)


PROVIDER = PixelDojo()
