"""grokbatch: Grok Imagine generations in bulk, within a budget, resumably.

    import grokbatch
    summary = grokbatch.run("pipelines/campaign.yaml", sandbox=True)

The library behind the CLI lives in `grokbatch.api`; `run` and `run_async` are re-exported
here, imported on first use so that `import grokbatch` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["run", "run_async"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'grokbatch' has no attribute {name!r}")
