"""A 1,000-job run at concurrency 50 against the emulator with faults turned on.

Prints the wall time, throughput, and the emulator's own counters: every job must be done
once, no paid submission duplicated, and the budget never passed.

    python benchmarks/bench_runner.py [JOBS] [CONCURRENCY]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from grokbatch import api, providers
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.progress import Reporter
from grokbatch.state import open_store
from grokbatch.state.base import JobState

MANIFEST = """
name: bench-run
prompts:
  - {{id: lamp, template: "Lamp number {{{{ n }}}}"}}
matrix:
  provider: [apiframe, aivideoapi]
  n: {numbers}
defaults: {{duration: 6}}
output: {{path: "{{{{ provider }}}}/{{{{ n }}}}.mp4"}}
limits:
  concurrency: {concurrency}
  max_credits: {{apiframe: {apiframe_budget}, aivideoapi: {aivideo_budget}}}
"""


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    per_provider = jobs // 2
    config = EmulatorConfig(
        latency=1.0, seed=3, rate_limit_rate=0.05, server_error_rate=0.02, failure_rate=0.0
    )
    with tempfile.TemporaryDirectory() as tmp, Emulator(config) as emu:
        root = Path(tmp)
        manifest = root / "bench.yaml"
        manifest.write_text(
            MANIFEST.format(
                numbers=json.dumps(list(range(per_provider))),
                concurrency=concurrency,
                apiframe_budget=10 * per_provider,
                aivideo_budget=15 * per_provider,
            ),
            encoding="utf-8",
        )
        env = {}
        for name in providers.NAMES:
            env[f"GROKBATCH_{name.upper()}_BASE_URL"] = emu.base_url(name)
            env[providers.get(name).key_env] = emu.api_key(name)
        start = time.perf_counter()
        summary = api.run(
            manifest,
            db=root / "state.db",
            output_dir=root / "out",
            environ=env,
            sandbox=False,
            reporter=Reporter(),
            tuning={"poll_initial": 0.5, "poll_max": 2.0, "retries": 20, "handle_signals": False},
        )
        elapsed = time.perf_counter() - start
        stats = emu.stats()["providers"]
        store = open_store(root / "state.db")
        rows = list(store.jobs("bench-run"))
        store.close()
    done = sum(1 for r in rows if r.state is JobState.DONE)
    print(f"jobs {len(rows)}  concurrency {concurrency}  exit {summary.exit_code}")
    print(f"wall {elapsed:.1f} s  throughput {len(rows) / elapsed:.1f} jobs/s  done {done}")
    print(f"ambiguous {len(summary.ambiguous)}  failed {len(summary.failed)}")
    for name in ("apiframe", "aivideoapi"):
        s = stats[name]
        spent = sum(r.spent_credits for r in rows if r.provider == name)
        print(
            f"{name:<11} submissions {s['submissions']:>5}  duplicates {s['duplicates']}  "
            f"downloads {s['downloads']:>5}  429s {s['rate_limited']:>4}  "
            f"5xx {s['server_errors']:>4}  charged {s['credits_charged']:.0f}  "
            f"recorded spent {spent:.0f}"
        )


if __name__ == "__main__":
    main()
