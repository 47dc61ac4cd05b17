"""The yardstick: submit, poll and download with anyio + httpx and nothing else.

No state, no budget, no retries, no checks: what the emulator and the loopback allow.
AI Video API's shapes, as the emulator answers them.

    python benchmarks/plain_client.py BASE_URL KEY JOBS CONCURRENCY OUT_DIR

Prints one JSON line: {"jobs": ..., "seconds": ..., "jobs_per_second": ...}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import anyio
import httpx


async def one(http: httpx.AsyncClient, base: str, key: str, n: int, out: Path) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    body = {"model": "grok-imagine-text-to-video", "input": {"prompt": f"Lamp {n}", "duration": 6}}
    answer = await http.post(f"{base}/v1/videos/generations", json=body, headers=auth)
    task = answer.json()["data"]["taskId"]
    while True:
        polled = (await http.get(f"{base}/v1/tasks/{task}", headers=auth)).json()
        if polled["status"] == "completed":
            break
        if polled["status"] == "failed":
            raise RuntimeError(polled)
        await anyio.sleep(0.05)
    async with http.stream("GET", polled["output"]["urls"][0]) as response:
        with (out / f"{n}.mp4").open("wb") as fh:
            async for chunk in response.aiter_bytes():
                fh.write(chunk)


async def main(base: str, key: str, jobs: int, concurrency: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    limit = anyio.Semaphore(concurrency)
    pool = httpx.Limits(max_connections=concurrency * 2 + 8)
    started = time.perf_counter()
    cpu_started = time.process_time()
    async with httpx.AsyncClient(timeout=60.0, limits=pool) as http:

        async def bounded(n: int) -> None:
            async with limit:
                await one(http, base, key, n, out)

        async with anyio.create_task_group() as tg:
            for n in range(jobs):
                tg.start_soon(bounded, n)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(json.dumps({"jobs": jobs, "seconds": seconds, "jobs_per_second": jobs / seconds,
                      "cpu_ms_per_job": 1000 * cpu / jobs}))  # fmt: skip


if __name__ == "__main__":
    base_url, api_key, n_jobs, width, out_dir = sys.argv[1:6]
    anyio.run(main, base_url, api_key, int(n_jobs), int(width), Path(out_dir))
