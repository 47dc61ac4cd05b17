"""xAI's native API as providers.md and the live API's answers describe it.

Billed at completion in ticks of 1e-10 USD (0.05 USD/s at 480p, 0.07 at 720p); the
emulator's balance for xAI is in USD. What the live API answers beyond its shapes:

- a poll of a job still in progress is HTTP 202, with an empty body (vercel/ai#17308) or
  `{status: "pending", progress}` (both seen; the mix is `xai_empty_202_rate`);
- a wrong key is HTTP 400 `{code: "invalid-argument", error: "Incorrect API key provided:
  xa***ey. You can obtain an API key from https://console.x.ai."}` (continuedev/continue
  #10778, the OpenAPI file's "400 … or an invalid API key"); no key at all is 401 `{code:
  "unauthenticated:no-credentials", error: "No credentials presented."}`;
- out of credits is 403 `permission-denied` (griptape#1079) or 429 `resource-exhausted`
  (continuedev/continue#10373), both saying the team "has either used all available credits
  or reached its monthly spending limit"; an ordinary rate limit is a 429 saying "Too many
  requests for team …";
- failures are HTTP 200 `status: failed`; a moderated job is `done` with
  `respect_moderation: false` and no URL; once the output is purged (`url_ttl` after the job
  ended) a poll says `status: expired` and the old URLs answer 410. It was paid: nothing
  says it is refunded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .base import ASPECTS, Answer, EmulatedProvider, Spec, View
from .checks import check_enum, check_int, check_prompt, check_url
from .jobs import EmuJob

MODEL = "grok-imagine-video"
USD_PER_SECOND = {"480p": 0.05, "720p": 0.07}
TICKS_PER_USD = 10_000_000_000
POLL = re.compile(r"^/v1/videos/([^/]+)$")
TEAM = "5e1b0a7c-3f2d-4c8e-9a61-0d2f7b4e8c13"  # the emulated account's team id
CODES = {
    400: "invalid-argument",
    401: "unauthenticated",
    403: "permission-denied",
    404: "not-found",
    429: "resource-exhausted",
    500: "internal",
    503: "unavailable",
}
NO_CREDITS = (
    f"Your team {TEAM} has either used all available credits or reached its monthly spending "
    "limit. To continue making API requests, please purchase more credits or raise your "
    "spending limit."
)


def masked(key: str) -> str:
    """How xAI shows a refused key: its first two and last two characters."""
    return f"{key[:2]}***{key[-2:]}" if len(key) > 4 else "***"


class Xai(EmulatedProvider):
    name = "xai"
    submit_path = "/v1/videos/generations"
    poll_path = POLL
    charge_at_submit = False
    refunds_failures = False
    bills_moderated = True  # providers.md: "Moderated clips are billed too"

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(status, {"code": CODES.get(status, code), "error": message, **extra})

    def auth(self, headers: dict[str, str], key: str) -> Answer | None:
        value = headers.get("authorization", "")
        sent = value[7:].strip() if value[:7].lower() == "bearer " else ""
        if not sent:
            return Answer(
                401,
                {"code": "unauthenticated:no-credentials", "error": "No credentials presented."},
            )
        if sent == key:
            return None
        return self.error(
            400,
            f"Incorrect API key provided: {masked(sent)}. "
            "You can obtain an API key from https://console.x.ai.",
            "invalid-argument",
        )

    def rate_limited(self, retry_after: float) -> Answer:
        answer = self.error(
            429,
            f"Too many requests for team {TEAM} and model {MODEL}. Your team's rate limit is "
            "- Requests per Second (actual/limit): 2/1.",
            "resource-exhausted",
        )
        answer.headers["Retry-After"] = f"{retry_after:g}"
        return answer

    def insufficient(
        self, required: float, available: float, chance: Callable[[float], bool]
    ) -> Answer:
        return self.error(429 if chance(0.5) else 403, NO_CREDITS, "")

    def not_found(self, job_id: str) -> Answer:
        return self.error(404, f"No video generation request with id {job_id}", "not-found")

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
        if "image" in body and not (isinstance(image, dict) and check_url(image.get("url"))):
            problems.append("image must be {url: an http(s) URL}")
        refs = body.get("reference_images")
        if "reference_images" in body:
            if (
                not isinstance(refs, list)
                or not 1 <= len(refs) <= 7
                or not all(isinstance(r, dict) and check_url(r.get("url")) for r in refs)
            ):
                problems.append("reference_images must be 1 to 7 {url: ...} objects")
            if not body.get("prompt"):
                problems.append("reference_images need a prompt")
            duration = body.get("duration", 8)
            if isinstance(duration, int) and duration > 10:
                problems.append("duration must be at most 10 with reference_images")
        check_prompt(body, problems, required=image is None, most=None)
        duration = body.get("duration", 8)
        seconds = duration if isinstance(duration, int) else 0
        resolution = body.get("resolution", "480p")
        usd = USD_PER_SECOND.get(resolution, 0.0) * seconds
        return problems, Spec(
            price=round(usd, 10),
            duration=seconds,
            resolution=resolution,
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            model=MODEL,
        )

    def accepted(self, job: EmuJob, base: str) -> Answer:
        return Answer(200, {"request_id": job.id})

    def polled(self, job: EmuJob, view: View) -> Answer:
        if view.phase != "final":
            if view.chance(view.config.xai_empty_202_rate):
                return Answer(202, None)
            return Answer(202, {"status": "pending", "progress": min(int(view.progress), 99)})
        if job.outcome == "failed":
            error = {"code": "generation_failed", "message": self.failure_message(job)}
            return Answer(200, {"status": "failed", "error": error})
        if view.expired:
            return Answer(200, {"status": "expired", "model": MODEL})
        video: dict[str, Any] = {"duration": job.details.get("duration")}
        if job.outcome == "moderated":
            video["respect_moderation"] = False
        else:
            video |= {"url": view.url, "respect_moderation": True}
        ticks = round(job.price * TICKS_PER_USD)  # moderated clips are billed too
        return Answer(
            200,
            {
                "status": "done",
                "video": video,
                "model": MODEL,
                "progress": 100,
                "usage": {"cost_in_usd_ticks": ticks},
            },
        )


PROVIDER = Xai()
