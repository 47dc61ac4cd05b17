"""Output URLs and the files behind them: signed, alive for `url_ttl` after the job ends.

A URL names the job and carries `expires` (when the output is purged) and an HMAC `sig`, so
a forged or altered URL answers 403 `AccessDenied`. The signing secret lives in the state
file, so URLs handed out before a restart still work after it. Once purged, a download
answers the provider's own expired status (`EmulatedProvider.expired_status`): 404 at
APIFrame (its OpenAPI file: "`result` URLs may 404" once `expired`), 410 Gone elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from .base import Answer, EmulatedProvider
from .jobs import EmuJob
from .ledger import Ledger
from .media import mp4_for, png_for

_XML = "application/xml"


def _error(status: int, code: str, message: str) -> Answer:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Answer(status, body, {}, _XML)


class Files:
    def __init__(self, ledger: Ledger, providers: dict[str, EmulatedProvider]) -> None:
        self.ledger = ledger
        self.providers = providers
        self.root = ""  # http://host:port, set once the socket is bound

    def url(self, job: EmuJob, *, poster: bool = False) -> str:
        ext = "png" if job.kind == "image" or poster else "mp4"
        name = f"{job.id}.poster.png" if poster else f"{job.id}.{ext}"
        path = f"/_files/{job.provider}/{name}"
        expires = f"{job.expires_at:.3f}"  # milliseconds: tests use sub-second lifetimes
        return f"{self.root}{path}?expires={expires}&sig={self._sign(path, expires)}"

    def _sign(self, path: str, expires: str) -> str:
        signed = hmac.new(self.ledger.secret, f"{path}:{expires}".encode(), hashlib.sha256)
        return signed.hexdigest()[:32]

    def serve(self, path: str, expires: str, sig: str) -> Answer:
        if not hmac.compare_digest(sig, self._sign(path, expires)):
            return _error(403, "AccessDenied", "Request signature does not match")
        parts = path.split("/")
        if len(parts) != 4:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        _, _, provider, name = parts
        job_id, _, ext = name.partition(".")
        job = self.ledger.get(job_id)
        if job is None or job.provider != provider or job.outcome != "ok" or job.cancelled:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        if time.time() >= job.expires_at:
            status = self.providers[provider].expired_status
            if status == 404:
                return _error(404, "NoSuchKey", "The specified key does not exist.")
            return _error(status, "Gone", "The output was deleted after its retention period")
        self.ledger.count(provider, "downloads")
        details = job.details
        if ext == "poster.png" or ext == "png":
            return Answer(
                200, png_for(job.id, details.get("aspect_ratio", "16:9")), {}, "image/png"
            )
        clip = mp4_for(
            job.id,
            resolution=details.get("resolution") or "720p",
            aspect_ratio=details.get("aspect_ratio") or "16:9",
            seconds=int(details.get("duration") or 6),
        )
        return Answer(200, clip, {}, "video/mp4")
