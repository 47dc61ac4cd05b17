"""Several runners on one batch: 1, 2 and 4 `grokbatch run` processes drain one batch.

Each runner is a real process with its own job slots (`--concurrency`), all on one state
database and one emulator (APIFrame, 1 s from submit to done). Prints, per backend and
number of runners, the wall time, the throughput, the speed-up over one runner, and the
emulator's own count of what was paid (every job once, none twice).

    python benchmarks/bench_runners.py [JOBS] [CONCURRENCY] [--postgres URL]

PostgreSQL rows need a server: `--postgres URL`, or GROKBATCH_TEST_POSTGRES (as the tests;
`eval "$(bash .ci/postgres start /tmp/pg)"` starts one). Each measurement gets a schema of
its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from grokbatch import providers
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.state import open_store

WORKER = """
import json, sys
from grokbatch import api
from grokbatch.progress import Reporter
summary = api.run(sys.argv[1], output_dir=sys.argv[2], sandbox=False, reporter=Reporter(),
                  tuning={"poll_initial": 0.5, "poll_max": 1.0, "handle_signals": False},
                  write_report=False)
print(json.dumps({"exit": summary.exit_code, "submitted": summary.submitted}))
"""

MANIFEST = """
name: bench-runners
prompts:
  - {{id: lamp, template: "Lamp number {{{{ n }}}}"}}
provider: apiframe
matrix:
  n: {numbers}
defaults: {{duration: 6}}
output: {{path: "{{{{ n }}}}.mp4"}}
limits: {{concurrency: {concurrency}}}
"""


def measure(db: str, root: Path, *, jobs: int, concurrency: int, runners: int) -> dict[str, float]:
    manifest = root / "bench.yaml"
    manifest.write_text(
        MANIFEST.format(numbers=json.dumps(list(range(jobs))), concurrency=concurrency),
        encoding="utf-8",
    )
    with Emulator(EmulatorConfig(latency=1.0, seed=1)) as emu:
        env = dict(os.environ) | {"GROKBATCH_DB": db}
        for name in providers.NAMES:
            env[f"GROKBATCH_{name.upper()}_BASE_URL"] = emu.base_url(name)
            env[providers.get(name).key_env] = "bench-key"
        argv = [sys.executable, "-c", WORKER, str(manifest), str(root / "out")]
        start = time.perf_counter()
        procs = [
            subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(runners)
        ]
        outs = [json.loads(p.communicate()[0]) for p in procs]
        wall = time.perf_counter() - start
        stats = emu.stats()["providers"]["apiframe"]
    with open_store(db) as store:
        done = store.counts("bench-runners")
    assert all(o["exit"] == 0 for o in outs), outs
    assert sum(o["submitted"] for o in outs) == jobs
    return {
        "wall": wall,
        "done": sum(n for state, n in done.items() if state.value == "done"),
        "paid": stats["paid"],
        "twice": stats["duplicates"],
    }


def schema_url(url: str, schema: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", type=int, nargs="?", default=2000)
    parser.add_argument("concurrency", type=int, nargs="?", default=20)
    parser.add_argument("--postgres", default=os.environ.get("GROKBATCH_TEST_POSTGRES"))
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    print(f"{args.jobs} jobs, concurrency {args.concurrency} per runner, emulator latency 1 s")
    print("| backend | runners | wall | throughput | speed-up | done | paid | paid twice |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in backends:
        base = None
        for runners in (1, 2, 4):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                if backend == "sqlite":
                    got = measure(
                        str(root / "state.db"),
                        root,
                        jobs=args.jobs,
                        concurrency=args.concurrency,
                        runners=runners,
                    )
                else:
                    got = _on_postgres(args, root, runners)
            base = base or got["wall"]
            print(
                f"| {backend} | {runners} | {got['wall']:.1f} s | "
                f"{args.jobs / got['wall']:.1f} jobs/s | {base / got['wall']:.2f}x | "
                f"{got['done']:,} | {got['paid']:,} | {got['twice']} |",
                flush=True,
            )
    if not args.postgres:
        print("(no PostgreSQL rows: pass --postgres URL or set GROKBATCH_TEST_POSTGRES)")


def _on_postgres(args: argparse.Namespace, root: Path, runners: int) -> dict[str, float]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            return measure(
                schema_url(args.postgres, schema),
                root,
                jobs=args.jobs,
                concurrency=args.concurrency,
                runners=runners,
            )
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
