"""--max-failures: when a run stops submitting because its jobs keep failing.

Like GNU parallel's `--halt soon,fail=N`: once N jobs of this run have failed, nothing new
is submitted, the jobs already at the provider are polled and downloaded, and the run
exits 1 saying why. It saves the credits of a batch that a provider fails job after job
with the same error. A share (`10%`) is of the run's jobs (after --only and --limit),
rounded up: `10%` of 31 jobs stops at the 4th failure. Jobs that failed in earlier runs do
not count; ambiguous jobs are not failures (they may have been made).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class FailureLimit:
    """N failed jobs, or a share of the run's jobs."""

    count: int | None = None
    share: float | None = None  # 0 < share <= 1

    @classmethod
    def parse(cls, value: int | str) -> FailureLimit:
        """`3` or `"3"`: three failures; `"10%"`: a tenth of the run's jobs. InputError if bad."""
        text = str(value).strip()
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                if not 0 < percent <= 100:
                    raise ValueError
                return cls(share=percent / 100)
            count = int(text)
            if count < 1:
                raise ValueError
            return cls(count=count)
        except ValueError:
            raise InputError(
                f"--max-failures {text!r}: expected a number of failed jobs (at least 1, "
                "e.g. 3) or a share of the run's jobs (e.g. 10%)"
            ) from None

    def of(self, total: int) -> int:
        """How many failed jobs stop a run of `total` jobs (at least one)."""
        if self.count is not None:
            return self.count
        assert self.share is not None
        return max(1, math.ceil(round(self.share * total, 9)))

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{(self.share or 0) * 100:g}%"
