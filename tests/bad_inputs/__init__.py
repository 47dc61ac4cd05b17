"""A corpus of broken inputs: manifests, prompt files, output directories and flags.

Each case is the smallest input that shows one mistake, with the place the error message
must name (file:line, or the key or flag) and words its fix must contain. They are run by
tests/test_bad_inputs.py through the real CLI against the emulator. One module per class
of mistake; importing them fills CASES.
"""

from __future__ import annotations

from . import (  # noqa: F401 - imported for the cases they add
    file_cases,
    flags_cases,
    grid_cases,
    output_cases,
    provider_cases,
    schema_cases,
    template_cases,
    yaml_cases,
)
from .base import CASES, Case

__all__ = ["CASES", "Case"]
