"""The emulator with its state file under thousands of jobs: requests per second, restart.

Submits JOBS videos to Vydra over THREADS connections, polls each once, lists them a page
at a time, then restarts the emulator on the same file and times the load. Prints the
rates and the stats a poll scheduler is measured by.

    python benchmarks/bench_emulator.py [JOBS] [THREADS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from grokbatch.emulator import Emulator, EmulatorConfig

BODY = {"model": "text-to-video", "duration": 6}


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "emulator.db")
        config = EmulatorConfig(latency=0.5, latency_jitter=0.4, seed=1, state_file=path)
        with (
            Emulator(config) as emu,
            httpx.Client(limits=httpx.Limits(max_connections=threads)) as http,
        ):
            base = emu.base_url("vydra")
            headers = {"Authorization": f"Bearer {emu.api_key('vydra')}"}

            def submit(i: int) -> str:
                body = BODY | {"prompt": f"Lamp {i}"}
                answer = http.post(f"{base}/api/v1/models/grok-imagine", json=body, headers=headers)
                return str(answer.json()["jobId"])

            def poll(job_id: str) -> None:
                http.get(f"{base}/api/v1/jobs/{job_id}", headers=headers).raise_for_status()

            with ThreadPoolExecutor(threads) as pool:
                start = time.perf_counter()
                ids = list(pool.map(submit, range(jobs)))
                submitted = time.perf_counter() - start
                time.sleep(1.0)  # every job has finished
                start = time.perf_counter()
                list(pool.map(poll, ids))
                polled = time.perf_counter() - start
            start = time.perf_counter()
            for offset in range(0, jobs, 100):
                http.get(f"{base}/api/v1/jobs?limit=100&offset={offset}", headers=headers)
            listed = time.perf_counter() - start
            stats = emu.stats()["providers"]["vydra"]
        start = time.perf_counter()
        with Emulator(EmulatorConfig(state_file=path)) as again:
            loaded = time.perf_counter() - start
            assert again.stats()["providers"]["vydra"]["submissions"] == jobs
        size = Path(path).stat().st_size
    print(f"jobs {jobs}  threads {threads}  state file {size / 1e6:.1f} MB")
    print(
        f"submit {jobs / submitted:.0f}/s  poll {jobs / polled:.0f}/s  "
        f"list page (100 rows) {listed / (jobs / 100) * 1000:.1f} ms  restart {loaded:.2f} s"
    )
    print(
        f"polls per job {stats['polls_per_job']}  list requests {stats['list_requests']}  "
        f"detection delay mean {stats['detection_delay_mean']} s "
        f"max {stats['detection_delay_max']} s"
    )


if __name__ == "__main__":
    main()
