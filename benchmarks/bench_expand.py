"""Expand and price big grids; print time and peak memory.

    python benchmarks/bench_expand.py            # 100,000 and 1,000,000 jobs
    python benchmarks/bench_expand.py 100000     # one size

Each size runs in a fresh process so that its peak resident memory is its own.
Targets: 100,000 jobs in under 3 s and 200 MB on one core; 1,000,000 jobs without holding
them all in memory (memory stays close to the 100,000-job figure).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

MANIFEST = """
name: bench
provider: aivideoapi
vars: {{product: the Aurora desk lamp}}
prompts:
  - {{id: hero, template: "A {{{{ style }}}} shot of {{{{ product }}}} at {{{{ time }}}}"}}
  - {{id: detail, template: "Close-up of {{{{ product }}}}, {{{{ style }}}} light, {{{{ time }}}}"}}
matrix:
  style: [{styles}]
  time: [{times}]
  aspect_ratio: ["16:9", "9:16", "1:1", "2:3", "3:2"]
  duration: [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
  resolution: ["480p", "720p"]
output:
  path: "{{{{ prompt.id }}}}/{{{{ style }}}}/{{{{ time }}}}-\
{{{{ aspect_ratio | replace(':', 'x') }}}}-{{{{ duration }}}}s-{{{{ resolution }}}}.mp4"
"""


def manifest_for(jobs: int) -> str:
    # 2 prompts × 5 ratios × 10 durations × 2 resolutions = 200 jobs per (style, time) pair.
    pairs = jobs // 200
    styles = 10 if pairs >= 10 else pairs
    times = max(1, pairs // styles)
    return MANIFEST.format(styles=", ".join(f"s{i}" for i in range(styles)),
                           times=", ".join(f"t{i}" for i in range(times)))


def measure(jobs: int) -> dict[str, float]:
    from grokbatch.manifest import loads
    from grokbatch.plan import make_plan

    manifest = loads(manifest_for(jobs))
    start = time.perf_counter()
    plan = make_plan(manifest)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"jobs": plan.jobs, "seconds": round(elapsed, 2),
            "jobs_per_second": round(plan.jobs / elapsed), "peak_rss_mb": round(peak_mb, 1),
            "credits": round(plan.totals["aivideoapi"].credits)}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    print(f"{'jobs':>10} {'seconds':>8} {'jobs/s':>9} {'peak RSS MB':>12}")
    for size in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size)], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"{r['jobs']:>10,} {r['seconds']:>8} {r['jobs_per_second']:>9,} "
              f"{r['peak_rss_mb']:>12}")


if __name__ == "__main__":
    main()
