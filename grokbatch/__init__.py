"""grokbatch: Grok Imagine generations in bulk, within a budget, resumably."""

from __future__ import annotations

__version__ = "0.1.0"
