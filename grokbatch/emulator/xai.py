"""xAI's native API as providers.md describes it: USD prices, failures inside HTTP 200.

Billed at completion in ticks of 1e-10 USD (0.05 USD/s at 480p, 0.07 at 720p); the
emulator's balance for xAI is in USD. A moderated job is `done` with
`respect_moderation: false` and no URL; a failed one is HTTP 200 `status: failed`.
"""

from __future__ import annotations

import re
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

MODEL = "grok-imagine-video"
USD_PER_SECOND = {"480p": 0.05, "720p": 0.07}
TICKS_PER_USD = 10_000_000_000
POLL = re.compile(r"^/v1/videos/([^/]+)$")


class Xai(EmulatedProvider):
    name = "xai"
    submit_path = "/v1/videos/generations"
    poll_path = POLL
    charge_at_submit = False
    refunds_failures = False

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        # [guess] xAI's error body: {code, error}
        return Answer(status, {"code": code, "error": message, **extra})

    def validate(self, body: Any) -> tuple[list[str], Spec | None]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"], None
        problems: list[str] = []
        # providers.md does not say unknown fields are rejected: they are ignored
        if body.get("model") != MODEL:
            problems.append(f"model must be {MODEL}")
        check_int(body, "duration", 1, 15, problems)
        check_enum(body, "aspect_ratio", ASPECTS, problems)
        check_enum(body, "resolution", tuple(USD_PER_SECOND), problems)
        image = body.get("image")
        if image is not None and not (isinstance(image, dict) and check_url(image.get("url"))):
            problems.append("image must be {url: ...}")
        refs = body.get("reference_images")
        if refs is not None:
            if (
                not isinstance(refs, list)
                or not 1 <= len(refs) <= 7
                or not all(isinstance(r, dict) and check_url(r.get("url")) for r in refs)
            ):
                problems.append("reference_images must be 1 to 7 {url: ...} objects")
            if not body.get("prompt"):
                problems.append("reference_images need a prompt")
            if isinstance(body.get("duration", 8), int) and body.get("duration", 8) > 10:
                problems.append("duration must be at most 10 with reference_images")
        check_prompt(body, problems, required=image is None, most=None)
        duration = body.get("duration", 8)
        resolution = body.get("resolution", "480p")
        usd = USD_PER_SECOND.get(resolution, 0.0) * (duration if isinstance(duration, int) else 0)
        return problems, Spec(price=round(usd, 10), duration=duration, resolution=resolution)

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(200, {"request_id": job.id})

    def polled(self, job: EmuJob, phase: str, progress: float, url: str | None) -> Answer:
        if phase != "final":
            return Answer(200, {"status": "pending", "progress": int(progress)})
        if job.outcome == "failed":
            return Answer(
                200,
                {
                    "status": "failed",
                    "error": {"code": "generation_failed", "message": self.failure_message(job)},
                },
            )
        video: dict[str, Any] = {"duration": job.details.get("duration")}
        if job.outcome == "moderated":
            video["respect_moderation"] = False
            ticks = 0
        else:
            video |= {"url": url, "respect_moderation": True}
            ticks = round(job.price * TICKS_PER_USD)
        return Answer(
            200, {"status": "done", "video": video, "usage": {"cost_in_usd_ticks": ticks}}
        )


PROVIDER = Xai()
