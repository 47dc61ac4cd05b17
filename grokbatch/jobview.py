"""A stored job as the report and the export present it.

Invariants:

* Money figures equal the ledger (the state store's spent and reserved columns, which
  `grokbatch status` and the budget sum): a job's figures add up to the totals shown.
  A provider's reported charge is shown as it stands: a failed job the provider refunded
  was charged 0, whatever it reported before the refund.
* USD is shown only where the job's USD price is known; an unknown USD amount is None,
  never 0 (the ledger keeps 0.0 there because it has nothing to add).
* The delivered file is read only through `probe` (headers, bounded), and only for done jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .delivery import compare
from .probe import Probe, probe_file
from .state.base import JobRow, JobState


@dataclass(frozen=True)
class JobView:
    """What a person is shown about one job."""

    row: JobRow
    refunded: bool  # failed, and the provider gave back what it had charged
    charged_credits: float | None  # reported by the provider and kept: 0 when refunded
    charged_usd: float | None
    spent_usd: float | None  # None: the job's USD price is unknown
    reserved_usd: float | None
    image: str | None  # the source image of an image-to-video job
    reference_images: tuple[str, ...]
    probe: Probe | None  # the delivered file's headers (done jobs whose file is there)
    mismatches: tuple[str, ...]  # how the delivered file differs from the request

    @property
    def usd_known(self) -> bool:
        return self.row.estimated_usd is not None

    @property
    def params(self) -> Mapping[str, Any]:
        return _params(self.row)


class Viewer:
    """Builds JobViews, probing the outputs found in `output_dir`."""

    def __init__(self, *, output_dir: Path | None) -> None:
        self.output_dir = output_dir

    def view(self, row: JobRow) -> JobView:
        """The job as shown, its file probed when it is done and present."""
        refunded = self._refunded(row)
        usd_known = row.estimated_usd is not None
        params = _params(row)
        probe = self._probe(row)
        # A refund takes back the charge: what the provider reported stands at 0.
        return JobView(
            row=row,
            refunded=refunded,
            charged_credits=0.0 if refunded else row.charged_credits,
            charged_usd=0.0 if refunded and row.charged_usd is not None else row.charged_usd,
            spent_usd=row.spent_usd if usd_known else None,
            reserved_usd=row.reserved_usd if usd_known else None,
            image=params["image"] if isinstance(params.get("image"), str) else None,
            reference_images=_strings(params.get("reference_images")),
            probe=probe,
            mismatches=tuple(compare(params, probe)) if probe is not None else (),
        )

    def views(self, rows: Iterable[JobRow]) -> list[JobView]:
        return [self.view(row) for row in rows]

    def _probe(self, row: JobRow) -> Probe | None:
        if self.output_dir is None or row.state is not JobState.DONE:
            return None
        path = self.output_dir / row.output_path
        return probe_file(path) if path.is_file() else None

    def _refunded(self, row: JobRow) -> bool:
        # The ledger books a refunded attempt as charged 0 (state/transitions.settle).
        return row.state is JobState.FAILED and row.charged_credits == 0.0


def _params(row: JobRow) -> Mapping[str, Any]:
    params = row.request.get("params")
    return params if isinstance(params, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str))
    return ()
