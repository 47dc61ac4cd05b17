"""Vydra as providers.md and its docs describe it: three sub-models, synchronous images.

150 credits per video, 8 per image, charged at submit, refunded on failure. Errors
`{error, code, details?}`; 402 carries `creditsRequired` and `creditsRemaining`.

The jobs API (vydra.ai/docs/jobs): `GET /api/v1/jobs?limit=1..100&offset&status=pending|
running|completed|failed` → `{data: [{id, status, progress, workflowSlug, statusMessage,
creditsCharged, createdAt, completedAt, output}]}`, newest first; `DELETE /api/v1/jobs/{id}`
cancels. The docs name the cancel route but not its answer nor whether it refunds: the
emulator answers `{id, status: "cancelled"}` [guess], refunds nothing, and refuses a job
that has already ended with 409 [guess].
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from .base import ASPECTS, Answer, EmulatedProvider, Query, Spec, View, first, int_param, iso
from .checks import check_enum, check_int, check_prompt, check_url_field
from .config import EmulatorConfig
from .jobs import EmuJob

MODELS = ("text-to-video", "image-to-video", "text-to-image")
JOB = re.compile(r"^/api/v1/jobs/([^/]+)$")
STATUSES = ("pending", "running", "completed", "failed")
WORKFLOW = "grok-imagine-generate"
CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    404: "JOB_NOT_FOUND",
    409: "JOB_NOT_CANCELLABLE",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class Vydra(EmulatedProvider):
    name = "vydra"
    submit_path = "/api/v1/models/grok-imagine"
    poll_path = JOB
    list_path = "/api/v1/jobs"
    cancel_path = JOB

    def error(self, status: int, message: str, code: str, **extra: Any) -> Answer:
        return Answer(status, {"error": message, "code": CODES.get(status, code.upper()), **extra})

    def insufficient(
        self, required: float, available: float, chance: Callable[[float], bool]
    ) -> Answer:
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
        check_url_field(body, "image_url", problems)
        if model == "image-to-video" and "image_url" not in body:
            problems.append("image_url is required for image-to-video")
        image = model == "text-to-image"  # [guess] a duration sent with it is ignored
        check_int(body, "duration", 1, 15, problems)
        duration = body.get("duration", 6)
        return problems, Spec(
            price=8.0 if image else 150.0,
            kind="image" if image else "video",
            duration=0 if image or not isinstance(duration, int) else duration,
            resolution="480p",  # no resolution field: the upstream default
            aspect_ratio=body.get("aspect_ratio", "1:1" if image else "16:9"),
            model=model,
            synchronous=image,
        )

    def new_id(self, seq: int) -> str:
        return f"job_{seq}{uuid.uuid4().hex[:8]}"

    def accepted(self, job: EmuJob, base: str) -> Answer:
        if job.kind == "image":
            return self._image(job, base)
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

    def _image(self, job: EmuJob, base: str) -> Answer:
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
        url = job.details["url"]
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

    def _row(self, job: EmuJob, view: View) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job.id,
            "progress": int(view.progress),
            "creditsCharged": job.charged - job.refunded if view.phase == "final" else job.price,
            "workflowSlug": WORKFLOW,
            "createdAt": iso(job.created, millis=True),
            "completedAt": None,
            "output": None,
        }
        status = self._status(job, view.phase)
        if view.phase != "final":
            return body | {"status": status, "statusMessage": "Generating your video"}
        body["completedAt"] = iso(job.finished_at, millis=True)
        if status == "cancelled":
            return body | {"status": status, "statusMessage": self.failure_message(job)}
        if status == "failed":
            # [guess] the reason is in statusMessage; `error` repeats it, as image answers do
            message = self.failure_message(job)
            return body | {"status": "failed", "statusMessage": message, "error": message}
        output: dict[str, Any] = {
            "videoUrl": view.url,
            "resultUrls": [view.url],
            "duration": job.details.get("duration"),
        }
        if job.kind == "image":
            output = {"imageUrl": view.url, "resultUrls": [view.url]}
        return body | {"status": "completed", "output": output, "statusMessage": "Done"}

    def polled(self, job: EmuJob, view: View) -> Answer:
        return Answer(200, self._row(job, view))

    def listed(
        self,
        jobs: list[EmuJob],
        query: Query,
        view: Callable[[EmuJob], View],
        config: EmulatorConfig,
    ) -> tuple[Answer, list[EmuJob]]:
        limit = int_param(query, "limit", 20, 1, 100)
        offset = int_param(query, "offset", 0, 0, None)
        status = first(query, "status")
        problems = []
        if limit is None:
            problems.append("limit must be an integer from 1 to 100")
        if offset is None:
            problems.append("offset must be a whole number")
        if status is not None and status not in STATUSES:
            problems.append(f"status must be one of {', '.join(STATUSES)}")
        if problems or limit is None or offset is None:
            return self.invalid(problems), []
        if status is not None:  # newest first; only the page's rows are built
            now = time.time()
            jobs = [job for job in jobs if self._status(job, job.phase(now)[0]) == status]
        page = jobs[offset : offset + limit]
        return Answer(200, {"data": [self._row(job, view(job)) for job in page]}), page

    def _status(self, job: EmuJob, phase: str) -> str:
        if phase != "final":
            return "pending" if phase == "queued" else "running"
        if job.cancelled is not None:
            return "cancelled"
        return "completed" if job.outcome == "ok" else "failed"

    def cancelled(self, job: EmuJob, done: bool) -> Answer:
        if not done:
            return self.error(409, "The job has already finished and cannot be cancelled", "")
        return Answer(200, {"id": job.id, "status": "cancelled", "message": "Job cancelled"})


PROVIDER = Vydra()
