"""PixelDojo's API as providers.md describes it (flat JSON, Bearer, legacy error body).

Unknown fields are rejected; `webhook_url` and `image_url` must be absolute http(s) URLs.
`expiresAt` is when the output is deleted (`url_ttl` after the job ends); after it the
poll still says `completed` and the URL answers 410 [guess: the page says "deleted after
about 24 h", not what the URL then answers].
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from .base import ASPECTS, Answer, EmulatedProvider, Spec, View, iso
from .checks import check_enum, check_int, check_prompt, check_url_field, unknown_keys
from .jobs import EmuJob

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
        check_url_field(body, "image_url", problems)
        check_url_field(body, "webhook_url", problems)
        if body.get("mode") == "image-to-video" and "image_url" not in body:
            problems.append("image-to-video needs image_url")  # [guess]
        duration = body.get("duration", 5)
        seconds = duration if isinstance(duration, int) else 0
        # The seed says a flat 10 credits per video, another version of the page 2 per
        # second: charge the larger, and say so in `creditCost` as the real API does.
        return problems, Spec(
            price=float(max(10, 2 * seconds)),
            duration=seconds,
            resolution=body.get("resolution", "720p"),
            aspect_ratio=body.get("aspect_ratio", "16:9"),
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
                "expiresAt": iso(job.expires_at),
            },
        )

    def polled(self, job: EmuJob, view: View) -> Answer:
        status = {"queued": "pending", "running": "processing"}.get(view.phase)
        body: dict[str, Any] = {
            "jobId": job.id,
            "creditCost": job.price,
            "expiresAt": iso(job.expires_at),
        }
        if status is None and job.outcome == "ok":
            body |= {"status": "completed", "output": {"video": view.url}}
        elif status is None:
            body |= {"status": "failed", "error": self.failure_message(job)}
        else:
            body["status"] = status
        return Answer(200, body)


PROVIDER = PixelDojo()
