"""The event log (`run --events FILE.jsonl`): one JSON line per event, as it happens.

A joblog in the spirit of GNU parallel's, for a CI step or another program to follow
(`tail -f`): every line is flushed when written. The first line of a run is `start`, the
last `end`; between them one line per event of a job (`submitted`, `attached`, `retry`,
`done`, `failed`, `ambiguous`, `refetch`, `budget`, `out_of_credits`, `auth_failed`,
`unfinished`, `unknown_status`) or of the run (`interrupted`, `max_failures`).

A job's line carries its key, coordinates, provider, remote id, state and credits as the
state database holds them right after the transition that made the event (`Books` hands
its row over), so they are the ledger's figures: `spent` is what the budget counts,
`charged` what the provider reported. An event that changes no state (a retry, a budget
stop) has no row: its remote id, state and ledger figures are null and only the estimate
is known. Times are ISO-8601 UTC. A file is appended to, so a resumed run continues the
log of the run before it; `run_id` tells runs apart. Nothing here ever holds a key: rows
never do, and error messages are redacted before they are stored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import providers
from .errors import InputError
from .jobs import Job
from .progress import Reporter
from .state.base import JobRow

if TYPE_CHECKING:
    from .summary import RunSummary

# Left out of the end line: the lists are in the summary (and `grokbatch status`), and the
# report is written after the run.
_NOT_AT_END = ("ambiguous", "failed", "manifest", "run_id", "report")


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. 2025-05-01T12:00:00.000Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog(Reporter):
    """Writes the events of a run as JSON lines to a file (appended) or a stream."""

    def __init__(self, target: str | Path | IO[str]) -> None:
        self._stream: IO[str] | None = None
        self._path: Path | None = None
        if isinstance(target, str | Path):
            self._path = _writable(Path(target))
        else:
            self._stream = target
        self.run_id: int | None = None
        self.manifest = ""

    def start(self, *, manifest: str, total: int, run_id: int | None = None) -> None:
        super().start(manifest=manifest, total=total, run_id=run_id)
        if self._path is not None:
            self._stream = self._path.open("a", encoding="utf-8")
        self._write({"event": "start", "jobs": total})

    def event(
        self, kind: str, job: Job | None, detail: str = "", *, row: JobRow | None = None
    ) -> None:
        line: dict[str, Any] = {"event": kind}
        if job is not None:
            line |= job_fields(job, row)
        line["detail"] = detail
        self._write(line)

    def finish(self, summary: RunSummary | None = None) -> None:
        if summary is None:
            end: dict[str, Any] = {"event": "end", "status": "broken off"}
        else:
            data = summary.to_json()
            end = {"event": "end", "status": summary.status}
            end |= {k: v for k, v in data.items() if k not in _NOT_AT_END}
        self._write(end)
        if self._path is not None and self._stream is not None:
            self._stream.close()
            self._stream = None

    def _write(self, line: Mapping[str, Any]) -> None:
        if self._stream is None:
            return
        head = {"event": line["event"], "time": utc_now(), "run_id": self.run_id}
        head["manifest"] = self.manifest
        text = json.dumps(head | dict(line), ensure_ascii=False, separators=(",", ":"))
        self._stream.write(text + "\n")
        self._stream.flush()


def job_fields(job: Job, row: JobRow | None) -> dict[str, Any]:
    """What a line says about a job: who it is and, from its row, where it stands."""
    credits: dict[str, Any] = {
        "unit": providers.get(job.provider).credit_unit,
        "estimated": job.credits,
        "reserved": None,
        "charged": None,
        "spent": None,
    }
    fields: dict[str, Any] = {
        "key": job.key,
        "coords": dict(job.coords),
        "provider": job.provider,
        "remote_id": None,
        "state": None,
        "credits": credits,
        "output": job.output,
        "error_kind": None,
        "error": None,
        "submitted_at": None,
        "finished_at": None,
    }
    if row is not None:
        credits |= {
            "estimated": row.estimated_credits,
            "reserved": row.reserved_credits,
            "charged": row.charged_credits,
            "spent": row.spent_credits,
        }
        fields |= {
            "remote_id": row.remote_id,
            "state": row.state.value,
            "error_kind": row.error_kind,
            "error": row.error,
            "submitted_at": row.submitted_at,
            "finished_at": row.finished_at,
        }
    return fields


def _writable(path: Path) -> Path:
    """The path, if a file can be appended there; InputError (before the run) if not."""
    if path.is_dir():
        problem = "is a directory"
    elif not path.parent.is_dir():
        problem = f"the folder {path.parent} does not exist"
    elif not os.access(path if path.exists() else path.parent, os.W_OK):
        problem = "cannot be written (permissions)"
    else:
        return path
    raise InputError(f"--events {path}: {problem}; name a file in a folder you can write to")
