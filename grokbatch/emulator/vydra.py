"""Vydra as providers.md describes it: three sub-models, synchronous text-to-image.

150 credits per video, 8 per image, charged at submit, refunded on failure. Errors
`{error, code, details?}`; 402 carries `creditsRequired` and `creditsRemaining`.
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
    check_int,
    check_prompt,
    check_url,
)
from .ledger import EmuJob

MODELS = ("text-to-video", "image-to-video", "text-to-image")
POLL = re.compile(r"^/api/v1/jobs/([^/]+)$")
CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    404: "JOB_NOT_FOUND",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class Vydra(EmulatedProvider):
    name = "vydra"
    submit_path = "/api/v1/models/grok-imagine"
    poll_path = POLL

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(status, {"error": message, "code": CODES.get(status, code.upper()), **extra})

    def insufficient(self, required: float, available: float) -> Answer:
        return self.error(
            402,
            "Insufficient credits",
            "insufficient_credits",
            creditsRequired=required,
            creditsRemaining=max(0.0, available),
        )

    def invalid(self, problems: list[str]) -> Answer:
        return self.error(400, "Invalid input", "invalid_input", details=problems)

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"], None
        problems: list[str] = []  # providers.md does not say unknown fields are rejected
        model = body.get("model", "text-to-video")
        check_enum(body, "model", MODELS, problems)
        check_prompt(body, problems, required=True, most=5000)
        check_enum(body, "aspect_ratio", ASPECTS, problems)
        if "image_url" in body and not check_url(body["image_url"]):
            problems.append("image_url must be a URL")
        if model == "image-to-video" and "image_url" not in body:
            problems.append("image_url is required for image-to-video")
        image = model == "text-to-image"  # [guess] a duration sent with it is ignored
        check_int(body, "duration", 1, 15, problems)
        return problems, Spec(
            price=8.0 if image else 150.0,
            kind="image" if image else "video",
            duration=0 if image else body.get("duration", 6),
            model=model,
            synchronous=image,
        )

    def new_id(self, seq: int) -> str:
        return f"job_{seq}{uuid.uuid4().hex[:8]}"

    def accepted(self, job: EmuJob, base: str) -> Answer:
        if job.kind == "image":
            return self._image(job)
        return Answer(
            202,
            {
                "jobId": job.id,
                "status": "pending",
                "message": "Grok Imagine video job created. Poll /api/v1/jobs/{jobId} for status.",
                "creditsCharged": job.price,
                "externalJobId": str(uuid.uuid4()),
                "input": job.details.get("input"),
            },
        )

    def _image(self, job: EmuJob) -> Answer:
        url = job.details["url"]
        if job.outcome != "ok":
            return Answer(
                200,
                {
                    "jobId": job.id,
                    "status": "failed",
                    "error": self.failure_message(job),
                    "creditsCharged": 0,
                },
            )
        return Answer(
            200,
            {
                "jobId": job.id,
                "status": "completed",
                "message": "Image generated successfully.",
                "creditsCharged": job.price,
                "imageUrl": url,
                "resultUrls": [url],
            },
        )

    def polled(self, job: EmuJob, phase: str, progress: float, url: str | None) -> Answer:
        status = {"queued": "pending", "running": "running"}.get(phase)
        body: dict[str, Any] = {
            "id": job.id,
            "progress": int(progress),
            "creditsCharged": job.price,
        }
        if status is not None:
            body |= {"status": status, "statusMessage": "Generating your video"}
        elif job.outcome == "ok":
            output = {"videoUrl": url, "resultUrls": [url], "duration": job.details.get("duration")}
            if job.kind == "image":
                output = {"imageUrl": url, "resultUrls": [url]}
            body |= {"status": "completed", "output": output, "statusMessage": "Done"}
        else:
            # [guess] the reason is in statusMessage; `error` repeats it, as image answers do
            body |= {
                "status": "failed",
                "statusMessage": self.failure_message(job),
                "error": self.failure_message(job),
                "creditsCharged": 0,
            }
        return Answer(200, body)


PROVIDER = Vydra()
