"""Kill the runner with SIGKILL at random moments, ten times, then let it finish.

The promise: every job ends done exactly once, nothing is paid twice, and every submit that
was cut off between sending and recording its answer is reported as ambiguous — checked
against the emulator's own count of what it was sent and charged.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from grokbatch.download import verify
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.state import open_store
from grokbatch.state.base import JobState

from .kill_kit import emulator_env, kill_repeatedly

WORKER = """
import json, sys
from grokbatch import api
from grokbatch.progress import Reporter
summary = api.run(
    sys.argv[1], db=sys.argv[2], output_dir=sys.argv[3], sandbox=False, reporter=Reporter(),
    tuning={"poll_initial": 0.05, "poll_max": 0.3, "backoff_base": 0.02, "backoff_cap": 0.3,
            "retries": 20},
)
print(json.dumps(summary.to_json()))
sys.exit(summary.exit_code)
"""

MANIFEST = """
name: crash
prompts:
  - {{id: lamp, template: "The {{{{ n }}}}th lamp, {{{{ style }}}}"}}
matrix:
  provider: [apiframe, aivideoapi, xai]
  style: [noir, pastel, neon, sepia, chalk]
  n: {numbers}
defaults: {{duration: 6}}
output: {{path: "{{{{ provider }}}}/{{{{ style }}}}-{{{{ n }}}}.mp4"}}
limits: {{concurrency: 50, requests_per_minute: 60000}}
"""


@pytest.mark.slow
def test_sigkill_ten_times_then_resume_pays_nothing_twice(tmp_path: Path) -> None:
    manifest = tmp_path / "crash.yaml"
    # 3 providers × 5 styles × 67 = 1,005 jobs at concurrency 50: the acceptance run.
    manifest.write_text(MANIFEST.format(numbers=list(range(67))), encoding="utf-8")
    db, out = tmp_path / "state.db", tmp_path / "out"
    rng = random.Random(2026)
    config = EmulatorConfig(
        latency=0.5, seed=11, rate_limit_rate=0.05, server_error_rate=0.03, lost_response_rate=0.02
    )
    with Emulator(config) as emu:
        env = emulator_env(emu)
        argv = [sys.executable, "-c", WORKER, str(manifest), str(db), str(out)]
        kills = kill_repeatedly(argv, env, rng)
        final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        stats = emu.stats()["providers"]
    assert kills >= 5, "the runs finished too fast to be interrupted"
    summary = json.loads(final.stdout)
    store = open_store(db)
    try:
        rows = list(store.jobs("crash"))
    finally:
        store.close()
    assert len(rows) == 1005
    states = {r.key: r.state for r in rows}
    assert set(states.values()) <= {JobState.DONE, JobState.AMBIGUOUS}, summary
    ambiguous = {r.key for r in rows if r.state is JobState.AMBIGUOUS}
    assert {a["key"] for a in summary["ambiguous"]} == ambiguous  # each one reported
    for row in rows:
        if row.state is JobState.DONE:
            assert verify(out / row.output_path, size=row.size or 0, sha256=row.sha256 or "")
    for name in ("apiframe", "aivideoapi", "xai"):
        assert stats[name]["duplicates"] == 0, (name, stats[name])
        done = sum(1 for r in rows if r.provider == name and r.state is JobState.DONE)
        unsure = sum(1 for r in rows if r.provider == name and r.state is JobState.AMBIGUOUS)
        # Every done job was paid once; an ambiguous one at most once.
        assert done <= stats[name]["paid"] <= done + unsure, (name, stats[name])
    # APIFrame's idempotency keys make every cut-off submit safe to resend.
    assert not any(r.provider == "apiframe" for r in rows if r.state is JobState.AMBIGUOUS)
