"""How many full job lifecycles per second the SQLite store sustains on a file.

Run: /work/venv/bin/python benchmarks/bench_state.py [N]
Each cycle is reserve + mark_submitted + mark_ready + mark_done: four durable
(synchronous=FULL) transactions.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from grokbatch.state import JobRecord, Limits, open_store


def main(n: int = 2000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "state.db")
        try:
            run = store.start_run(manifest="bench", manifest_path="bench.yaml", options={})
            records = (
                JobRecord(
                    key=f"job{i}",
                    provider="p",
                    model=None,
                    prompt_id="bench",
                    coords={"i": i},
                    request={"provider": "p", "prompt": "bench"},
                    output_path=f"out/{i}.mp4",
                    estimated_credits=2.4,
                    estimated_usd=0.02,
                    price_basis="published",
                )
                for i in range(n)
            )
            t0 = time.perf_counter()
            store.add_jobs("bench", records, run_id=run)
            added = time.perf_counter() - t0
            limits = Limits(max_credits=1e12, max_usd=1e12)
            t0 = time.perf_counter()
            for i in range(n):
                key = f"job{i}"
                store.reserve("bench", key, run_id=run, credits=2.4, usd=0.02, limits=limits)
                store.mark_submitted("bench", key, run_id=run, remote_id=f"r{i}", charged=None)
                store.mark_ready("bench", key, run_id=run, charged_credits=2.4, charged_usd=None)
                store.mark_done(
                    "bench", key, run_id=run, output_path=f"out/{i}.mp4", size=1, sha256="0"
                )
            elapsed = time.perf_counter() - t0
        finally:
            store.close()
    print(f"add_jobs: {n} jobs in {added:.3f} s ({n / added:,.0f} jobs/s)")
    print(
        f"lifecycles: {n} in {elapsed:.3f} s = {n / elapsed:,.0f} cycles/s "
        f"({4 * n / elapsed:,.0f} transactions/s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
