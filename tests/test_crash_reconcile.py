"""Lost submits settled: killed and faulted runs end with nothing ambiguous where the provider
lets grokbatch look a submit up, and with exactly the cut submits ambiguous where it does not.

Checked against the emulator's own counts of what it was sent, charged and told.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from grokbatch import providers
from grokbatch.download import verify
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.state import open_store
from grokbatch.state.base import JobState

from .conftest import Batch
from .kill_kit import emulator_env, kill_repeatedly

# The emulator shares this machine's clock and makes a job before it answers, so no skew
# margin is needed; a clip takes 0.3 s and is logged 0.1 s later, so 1.5 s settles a loss.
TUNING = {
    "poll_initial": 0.05,
    "poll_max": 0.3,
    "backoff_base": 0.02,
    "backoff_cap": 0.3,
    "retries": 20,
    "settle_window": 1.5,
    "clock_skew": 0.0,
}
WORKER = f"""
import json, sys
from grokbatch import api
from grokbatch.progress import Reporter
summary = api.run(
    sys.argv[1], db=sys.argv[2], output_dir=sys.argv[3], sandbox=False, reporter=Reporter(),
    tuning={TUNING!r},
)
print(json.dumps(summary.to_json()))
sys.exit(summary.exit_code)
"""

# Vydra lists no request content: lost submits are told apart by time, so its submits go
# one at a time (`provider_concurrency`), as the README advises.
MANIFEST = """
name: settle
prompts:
  - {id: lamp, template: "The {{ n }}th lamp, {{ style }}"}
matrix:
  provider: [aimlapi, vydra, apiframe]
  style: [noir, pastel, neon]
  n: [1, 2, 3, 4]
defaults: {duration: 6}
output: {path: "{{ provider }}/{{ style }}-{{ n }}.{{ ext }}"}
limits: {concurrency: 12, provider_concurrency: {vydra: 1}}
"""
LOOKED_UP = ("aimlapi", "vydra", "apiframe")


@pytest.mark.slow
def test_ten_sigkills_in_a_faulted_run_leave_nothing_ambiguous_and_nothing_paid_twice(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "settle.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    db, out = tmp_path / "state.db", tmp_path / "out"
    rng = random.Random(2027)
    config = EmulatorConfig(
        latency=0.3,
        log_delay=0.1,
        seed=13,
        rate_limit_rate=0.03,
        server_error_rate=0.05,
        lost_response_rate=0.08,
        retry_after=0.05,
    )
    with Emulator(config) as emu:
        env = emulator_env(emu)
        argv = [sys.executable, "-c", WORKER, str(manifest), str(db), str(out)]
        kills = kill_repeatedly(argv, env, rng, between=(0.6, 1.6))
        final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        stats = emu.stats()["providers"]
    assert kills >= 5, "the runs finished too fast to be interrupted"
    summary = json.loads(final.stdout)
    with open_store(db) as store:
        rows = list(store.jobs("settle"))
        kinds = [e["kind"] for e in store.events("settle")]
    assert len(rows) == 36
    assert {r.state for r in rows} == {JobState.DONE}, summary
    assert summary["exit_code"] == 0 and summary["ambiguous"] == []
    for row in rows:
        assert verify(out / row.output_path, size=row.size or 0, sha256=row.sha256 or "")
    for name in LOOKED_UP:
        assert stats[name]["duplicates"] == 0, (name, stats[name])
        assert stats[name]["paid"] == 12, (name, stats[name])  # each clip paid once
    # The faults did cut submits, and grokbatch settled them by looking them up.
    cut = sum(stats[n]["lost_responses"] + stats[n]["submit_server_errors"] for n in LOOKED_UP)
    settled = [k for k in kinds if k in ("attached", "not_created")]
    assert cut > 0 and settled, (cut, sorted(set(kinds)))


NO_LOOKUP = ("aivideoapi", "pixeldojo", "xai")


@pytest.mark.emulator(latency=0.1, seed=5, lost_response_rate=0.15, server_error_rate=0.1)
def test_without_a_lookup_the_ambiguous_jobs_are_exactly_the_cut_submits(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(
        "name: cut\nprompts:\n  - {id: lamp, template: 'The {{ n }}th lamp'}\n"
        "matrix: {provider: [aivideoapi, pixeldojo, xai], n: [1, 2, 3, 4, 5, 6, 7, 8]}\n"
        "defaults: {duration: 6, resolution: 480p}\n"
        "output: {path: '{{ provider }}/{{ n }}.{{ ext }}'}\n"
        "limits: {concurrency: 12, requests_per_minute: {xai: 6000}}\n"
    )
    summary = b.run(tuning={"retries": 20})
    rows = b.rows()
    ambiguous = {r.key: r for r in rows if r.state is JobState.AMBIGUOUS}
    assert {r.state for r in rows} <= {JobState.DONE, JobState.AMBIGUOUS}
    # Every cut submit, and nothing else: each made one job grokbatch never learnt the id
    # of (a lost answer; a 5xx that made it), or a 5xx that made none.
    recorded = {r.remote_id for r in rows}
    for name in NO_LOOKUP:
        entry = b.stats(name)
        cut = entry["lost_responses"] + entry["submit_server_errors"]
        mine = [r for r in ambiguous.values() if r.provider == name]
        assert len(mine) == cut, (name, entry)
        unknown = [j for j in b.emu.backend.ledger.of(name) if j.id not in recorded]
        assert len(unknown) == entry["lost_responses"] + entry["server_errors_created"]
        assert entry["duplicates"] == 0
    assert ambiguous, "no submit was cut"
    # Each says why, and how a person settles it.
    told = {key: detail for kind, key, detail in b.reporter.events if kind == "ambiguous"}
    assert {a["key"] for a in summary.ambiguous} == set(ambiguous)
    for key, row in ambiguous.items():
        assert row.error_kind == "AmbiguousSubmitError" and "submit sent, answer lost" in (
            row.error or ""
        )
        title = providers.get(row.provider).title
        assert f"{title} offers no way to look up a submit" in told[key]
        assert f"grokbatch attach {b.path} --job {key[:12]} --remote-id ID" in told[key]
        assert f"grokbatch not-created {b.path} --job {key[:12]}" in told[key]
