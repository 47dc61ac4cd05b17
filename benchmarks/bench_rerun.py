"""A rerun of a finished batch: time, peak memory and requests, at 1,000 and 100,000 jobs.

    python benchmarks/bench_rerun.py                 # 1,000 × 4 MB clips, 100,000 × 1 KB
    python benchmarks/bench_rerun.py 1000:4000000    # JOBS:BYTES pairs of your own

The finished batch is laid down directly, as a run leaves it: every job done, its file in
place, its size, SHA-256, mtime and inode recorded, its report.html written. Then `api.run`
(what `grokbatch run` calls, report included) reruns it in a fresh process, against an
emulator process that counts the requests. `run --verify` (every file hashed again: what
every rerun cost before m002_output_stat) is timed beside it at 1,000 jobs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import EmulatorProcess, requests_of, run_child

from grokbatch.books import record_for
from grokbatch.manifest import load
from grokbatch.state import open_store
from grokbatch.workspace import JobSet

MANIFEST = """name: rerun
provider: aivideoapi
prompts: [{{id: p, template: "Lamp {{{{ a }}}} {{{{ b }}}} {{{{ c }}}}"}}]
matrix: {{a: {a}, b: {b}, c: {c}}}
defaults: {{duration: 6}}
output: {{path: "{{{{ a }}}}/{{{{ b }}}}-{{{{ c }}}}.mp4"}}
"""

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from grokbatch import api
from grokbatch.progress import Reporter
imported = time.perf_counter() - t0
manifest, db, out, verify = sys.argv[1:5]
start = time.perf_counter()
s = api.run(manifest, db=db, output_dir=out, sandbox=False, reporter=Reporter(),
            verify=verify == "1", tuning={"handle_signals": False})
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "imports": imported, "exit": s.exit_code,
                  "counts": s.counts, "submitted": s.submitted,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def grid(jobs: int) -> dict[str, list[int]]:
    """a × b × c = jobs (jobs a multiple of 10)."""
    c = 10
    b = min(100, jobs // c)
    return {"a": list(range(jobs // (b * c))), "b": list(range(b)), "c": list(range(c))}


def lay_down(root: Path, jobs: int, size: int) -> tuple[Path, Path, Path]:
    """A finished batch of `jobs` clips of `size` bytes; (manifest, state db, outputs)."""
    manifest = root / "rerun.yaml"
    manifest.write_text(MANIFEST.format(**grid(jobs)), encoding="utf-8")
    batch = JobSet(load(manifest), keep=True)
    assert batch.jobs is not None and len(batch.jobs) == jobs
    db, out = root / "state.db", root / "out"
    data = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (size - 12)
    digest = hashlib.sha256(data).hexdigest()
    rows = []
    for job in batch.jobs:
        path = out / job.output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        st = path.stat()
        rows.append((job.key, st.st_mtime_ns, st.st_ino))
    with open_store(db) as store:
        store.add_jobs("rerun", (record_for(j) for j in batch.jobs), run_id=None)
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "UPDATE jobs SET state = 'done', remote_id = key, attempts = 1, size = ?, "
            "sha256 = ?, output_mtime_ns = ?, output_inode = ?, spent_credits = 14.4 "
            "WHERE manifest = 'rerun' AND key = ?",
            [(size, digest, mtime, inode, key) for key, mtime, inode in rows],
        )
    conn.close()
    (out / "report.html").write_text("<!-- the last run's report -->", encoding="utf-8")
    return manifest, db, out


def rerun(jobs: int, size: int, *, verify: bool = False) -> dict[str, Any]:
    """Lay a batch down, rerun it in a fresh process; its figures and the requests seen."""
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess("--latency", "0") as emu:
        manifest, db, out = lay_down(Path(tmp), jobs, size)
        args = [str(manifest), str(db), str(out), "1" if verify else "0"]
        result = run_child(CHILD, *args, env=emu.environ())
        seen = requests_of(emu.stats(), "aivideoapi")
    assert result["exit"] == 0 and result["counts"] == {"done": jobs}, result
    result["requests"] = sum(seen.values())
    result |= {"jobs": jobs, "bytes": size, "verify": verify}
    return result


def main(pairs: list[tuple[int, int]]) -> None:
    for jobs, size in pairs:
        for verify in (False, True) if jobs <= 10_000 else (False,):
            r = rerun(jobs, size, verify=verify)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    chosen = [tuple(int(x) for x in arg.split(":")) for arg in sys.argv[1:]]
    main([(j, b) for j, b in chosen] or [(1000, 4_000_000), (100_000, 1_000)])
