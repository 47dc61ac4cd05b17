"""Where a manifest's batch lives: its state database, its outputs, its jobs, its providers.

The state does not depend on where you stand. A manifest's state database is
`.grokbatch/state.db` beside the manifest (`sandbox.db` for the sandbox), and relative
output directories resolve against the manifest's directory, so `grokbatch run
pipelines/campaign.yaml` finds the same state, budget and files from any directory.
`--db` / `GROKBATCH_DB` and `--output-dir` override them (relative to where you stand, as
any command-line path is). `--db` may also be a PostgreSQL URL (postgresql://...), the
database several runners on several machines share; its password is never shown.
`GROKBATCH_DB` is ignored in the sandbox (an emulated clip must never land in the real
state), where only `--db` picks another database.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import providers
from .errors import InputError
from .expand import Expander
from .jobs import Job
from .manifest import Manifest, load
from .state import DatabaseURL, StateStore, is_database_url, open_existing, open_store

STATE_DIR = ".grokbatch"
SANDBOX_ENV = "GROKBATCH_SANDBOX"
DB_ENV = "GROKBATCH_DB"
SANDBOX_OUTPUTS = "sandbox"  # the sandbox's outputs: <manifest dir>/sandbox/<output.dir>
_SQLITE_MAGIC = b"SQLite format 3\x00"


def sandbox_requested(flag: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """--sandbox, or GROKBATCH_SANDBOX=1 in the environment."""
    if flag is not None:
        return flag
    env = os.environ if environ is None else environ
    return env.get(SANDBOX_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Workspace:
    """A loaded manifest and where its state and outputs are."""

    manifest: Manifest
    sandbox: bool
    db: Path | DatabaseURL  # an SQLite file, or a PostgreSQL server
    output_dir: Path

    @property
    def name(self) -> str:
        return self.manifest.name

    def open_store(self) -> StateStore:
        """The state database, created if need be."""
        return open_store(self.db)

    def existing_store(self) -> StateStore | None:
        """The state database if a run ever made it, else None (nothing is created)."""
        return open_existing(self.db)

    def units(self) -> dict[str, str]:
        return {n: providers.get(n).credit_unit for n in self.manifest.provider_names()}


def open_workspace(
    manifest: str | Path,
    *,
    db: str | Path | None = None,
    output_dir: str | Path | None = None,
    sandbox: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workspace:
    """Load the manifest and resolve where its state and outputs are; nothing is created."""
    loaded = load(manifest)
    use_sandbox = sandbox_requested(sandbox, environ)
    home = Path(manifest).parent
    if db is None and not use_sandbox:
        db = (os.environ if environ is None else environ).get(DB_ENV) or None
    return Workspace(
        manifest=loaded,
        sandbox=use_sandbox,
        db=_state_path(db, home, sandbox=use_sandbox),
        output_dir=_output_dir(loaded, output_dir, home, sandbox=use_sandbox),
    )


def _state_path(db: str | Path | None, home: Path, *, sandbox: bool) -> Path | DatabaseURL:
    if db is None:
        return home / STATE_DIR / ("sandbox.db" if sandbox else "state.db")
    if str(db).strip() == "":
        raise InputError(
            "--db is empty: name the state database file (or leave --db out to use "
            f"{STATE_DIR}/state.db beside the manifest)"
        )
    if is_database_url(db):
        return DatabaseURL(str(db).strip())
    path = Path(db)
    if path.is_dir():
        raise InputError(f"--db {db}: is a directory; name a file, e.g. {path / 'state.db'}")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise InputError(
                f"--db {db}: is not a grokbatch state database (not an SQLite file); "
                "name a new file or an existing state database"
            )
    return path


def _output_dir(
    manifest: Manifest, override: str | Path | None, home: Path, *, sandbox: bool
) -> Path:
    if override is not None:
        return Path(override)
    base = Path(manifest.output_dir)
    if base.is_absolute():
        return base
    return home / SANDBOX_OUTPUTS / base if sandbox else home / base


class JobSet:
    """The jobs of a validated manifest, expanded once.

    With `output_dir`, every output path is checked against that directory first. With
    `keep` (what `run` asks) the jobs are kept as they come, about 0.9 KB each (90 MB at
    100,000 jobs), so the run records, decides and feeds them without expanding again.
    Without, iterating expands the manifest again and nothing is held.
    """

    def __init__(
        self, manifest: Manifest, *, output_dir: Path | None = None, keep: bool = False
    ) -> None:
        self.manifest = manifest
        expander = Expander(manifest, output_dir=output_dir)
        kept: list[Job] = []
        count = 0
        missing: set[str] = set()
        with collector_paused():
            for job in expander.jobs():
                count += 1
                if job.usd is None:
                    missing.add(job.provider)
                if keep:
                    kept.append(job)
        expander.raise_problems()
        self.warnings = expander.warnings  # e.g. an exclude that removes nothing
        self.count = count
        self.usd_missing = frozenset(missing)  # providers with no price in USD
        self.jobs: Sequence[Job] | None = kept if keep else None

    def __iter__(self) -> Iterator[Job]:
        if self.jobs is not None:
            return iter(self.jobs)
        return Expander(self.manifest).jobs(explain_clashes=False)

    def __len__(self) -> int:
        return self.count

    def check_max_usd(self, max_usd: float | None) -> None:
        """A USD budget is a finite, non-negative number, and needs a USD price for every
        provider."""
        if max_usd is not None and not math.isfinite(max_usd):
            raise InputError(f"--max-usd {max_usd}: a budget must be a finite number")
        if max_usd is not None and max_usd < 0:
            raise InputError(f"--max-usd {max_usd:g}: a budget cannot be negative")
        if max_usd is not None and self.usd_missing:
            names = ", ".join(sorted(self.usd_missing))
            raise InputError(
                f"--max-usd {max_usd:g}: {names} has no price in USD, so a USD budget cannot "
                f"be kept; declare prices.<provider>.usd_per_credit in the manifest, or use "
                "--max-credits"
            )


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a batch is built: 100,000 jobs made at once, all of them
    kept, would only be scanned again and again (a quarter of the expansion's time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def held(jobs: Sequence[Job]) -> Iterator[None]:
    """While a run holds its jobs (for all of it), the collector leaves them out of every
    scan; afterwards they are collectable again."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
