"""Tests expected to fail until the adapters catch up with what the emulator now answers.

The emulator answers as providers.md says the live APIs do; the adapters are being updated
to match, separately. Each mark names what is pending; remove it once that work is merged.
"""

from __future__ import annotations

from typing import Any

import pytest

from grokbatch import providers


def _pending(what: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(reason=f"adapter update pending: {what}", strict=False)


XAI_202 = _pending("xAI answers HTTP 202, often with an empty body, while a job runs")
XAI_BAD_KEY = _pending("xAI answers a wrong key with 400 'Incorrect API key provided'")
XAI_NO_CREDITS = _pending("xAI's out of credits may be a 429 naming the team's credits")
FRAME_POSTER = _pending("APIFrame's result may list a poster image beside the video")
SUBMIT_5XX = _pending("a 5xx on a submit may have created the job (not APIFrame's 503)")


def providers_but(**pending: pytest.MarkDecorator) -> list[Any]:
    """Every provider name, with the given ones marked as pending."""
    return [pytest.param(n, marks=pending[n]) if n in pending else n for n in providers.NAMES]
