"""The scheduler in a real run: lists instead of polls, what it learns, a rerun at a stat.

End to end against the emulator, with its own counters as the judge of what was sent.
The scheduler's timing decisions themselves are tested on a fake clock in test_agenda.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import anyio
import pytest

from grokbatch import download as download_module
from grokbatch.errors import RateLimitedError
from grokbatch.providers.wire import Polled
from grokbatch.state import open_store
from grokbatch.state.base import JobState
from grokbatch.timing import Learned, origin

from .conftest import Batch, environ_for

JOBS = 12


def manifest(provider: str, n: int = JOBS) -> str:
    return (
        f"name: sched-{provider}\nprovider: {provider}\n"
        "prompts: [{id: p, template: 'Lamp {{ n }}'}]\n"
        f"matrix: {{n: {list(range(n))}}}\n"
        "output: {path: '{{ n }}.mp4'}\n"
        f"limits: {{concurrency: {n}, provider_concurrency: {{{provider}: {n}}}}}\n"
    )


# Nothing tuned but the longest gap: first checks at the low end of what is known (at the
# emulator's base URL: nothing, so early), gaps from the default 0.25 s.
UNTUNED = {"poll_initial": None, "poll_max": 1.0}


# Lists are paced by time, not by jobs: with 24 jobs a loaded machine, whose slow list
# answers leave a few jobs to be polled, still shows the saving.
LISTED = 24


@pytest.mark.slow
@pytest.mark.emulator(latency=1.2, latency_jitter=0.2)
@pytest.mark.parametrize("provider", ["vydra", "apiframe"])
def test_one_list_request_tells_which_of_many_jobs_finished(
    batch: Callable[[str], Batch], provider: str
) -> None:
    b = batch(manifest(provider, LISTED))
    # As a first run at this emulator would have left them: its jobs take 1.0 to 1.4 s.
    where = origin(provider, b.emu.base_url(provider))
    with open_store(b.db) as store:
        store.save_completion_times({(where.label, "video"): [1.0, 1.1, 1.2, 1.3, 1.4]})
    summary = b.run(tuning=UNTUNED)  # the adapter's own list of jobs is the lister
    assert summary.exit_code == 0 and {r.state for r in b.rows()} == {JobState.DONE}
    stats = b.stats(provider)
    assert stats["list_requests"] > 0
    assert stats["polls"] + stats["list_requests"] < LISTED, stats  # fewer than jobs
    assert stats["detected"] == LISTED and stats["duplicates"] == 0


class Refusing:
    """A lister whose every request is refused."""

    def __init__(self) -> None:
        self.calls = 0

    async def recent_jobs(self) -> Mapping[str, Polled]:
        self.calls += 1
        raise RateLimitedError("slow down", provider="vydra", status_code=429, retry_after=0.1)


@pytest.mark.slow
@pytest.mark.emulator(latency=1.2, latency_jitter=0.2)
def test_a_failing_list_falls_back_to_polling_each_job(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("vydra"))
    lister = Refusing()
    summary = b.run(tuning=UNTUNED, listers={"vydra": lister})
    assert summary.exit_code == 0 and {r.state for r in b.rows()} == {JobState.DONE}
    assert lister.calls == 1  # then the provider's lists pause and its jobs are polled
    assert b.reporter.kinds().count("list_failed") == 1
    assert b.stats("vydra")["polls"] >= JOBS


def test_completion_times_are_learned_and_kept_for_the_next_run(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("aivideoapi", n=4))
    assert b.run().exit_code == 0
    where = origin("aivideoapi", b.emu.base_url("aivideoapi"), "https://api.aivideoapi.ai")
    with open_store(b.db) as store:
        seen = store.completion_times()
    [(label, kind)] = seen
    assert label == where.label != "aivideoapi"  # never taken for the real provider's times
    assert kind.startswith("video 6s 480p") and len(seen[(label, kind)]) == 4
    estimate = Learned(seen).estimate(where, kind)
    assert estimate.basis == "learned" and 0 < estimate.low <= estimate.high < 2.0


# --- a rerun at the cost of a stat ---------------------------------------------------------


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files a run reads to hash them."""
    seen: list[Path] = []
    real = download_module.sha256_file

    def counting(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(download_module, "sha256_file", counting)
    return seen


def test_a_rerun_trusts_a_file_whose_stat_matches_and_rehashes_one_that_moved(
    batch: Callable[[str], Batch], hashed: list[Path]
) -> None:
    b = batch(manifest("aivideoapi", n=3))
    assert b.run().exit_code == 0
    before = b.stats("aivideoapi")
    page = b.out / "report.html"
    written = page.stat().st_mtime_ns
    again = b.run()
    assert again.exit_code == 0 and again.counts == {"done": 3} and hashed == []
    assert b.stats("aivideoapi")["polls"] == before["polls"]  # not a request
    assert again.report == str(page) and page.stat().st_mtime_ns == written  # nothing new
    # Restored from a backup: new mtime and inode, same bytes. Hashed once, then trusted.
    [first, *_] = b.rows()
    path = b.out / first.output_path
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    assert b.run().exit_code == 0 and hashed == [path]
    row = next(r for r in b.rows() if r.key == first.key)
    assert (row.output_mtime_ns, row.output_inode) == (path.stat().st_mtime_ns, path.stat().st_ino)
    assert b.run().exit_code == 0 and hashed == [path]  # its new stat is trusted
    assert b.stats("aivideoapi")["downloads"] == before["downloads"]


def test_a_changed_file_is_fetched_again_and_verify_rehashes_everything(
    batch: Callable[[str], Batch], hashed: list[Path]
) -> None:
    b = batch(manifest("aivideoapi", n=3))
    assert b.run().exit_code == 0
    [first, *_] = b.rows()
    path = b.out / first.output_path
    stat = path.stat()
    path.write_bytes(b"\x00" * stat.st_size)  # the same size, other bytes
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    page = b.out / "report.html"
    page.write_text("stale")
    assert b.run().exit_code == 0
    assert b.stats("aivideoapi")["downloads"] == 4 and b.stats("aivideoapi")["submissions"] == 3
    assert page.read_text() != "stale"  # a job changed: the report is written again
    assert path.read_bytes()[4:8] == b"ftyp"
    hashed.clear()
    assert b.run(verify=True).exit_code == 0
    assert sorted(hashed) == sorted(b.out / r.output_path for r in b.rows())
    assert b.stats("aivideoapi")["downloads"] == 4


def test_the_emulator_environment_is_the_batch_fixtures(batch: Callable[[str], Batch]) -> None:
    b = batch(manifest("vydra", n=1))
    assert environ_for(b.emu)["GROKBATCH_VYDRA_BASE_URL"] == b.emu.base_url("vydra")


def test_a_rerun_writes_no_job_again_unless_its_coordinates_or_path_changed(
    batch: Callable[[str], Batch],
) -> None:
    b = batch(manifest("aivideoapi", n=3))
    assert b.run().exit_code == 0
    assert b.run().exit_code == 0

    def recorded() -> dict[str, int]:
        with open_store(b.db) as store:
            added = [e for e in store.events("sched-aivideoapi") if e["kind"] == "jobs_added"]
        detail: dict[str, int] = added[-1]["detail"]
        return detail

    assert recorded() == {"new": 0, "updated": 0}
    # The same prompts under another axis name: the same jobs, new coordinates.
    b.path.write_text(b.path.read_text().replace("{{ n }}", "{{ k }}").replace("{n:", "{k:"))
    again = b.run()
    assert again.exit_code == 0 and again.submitted == 0
    assert recorded() == {"new": 0, "updated": 3}
    assert {tuple(r.coords) for r in b.rows()} == {("prompt", "k")}


@pytest.mark.anyio
async def test_a_first_stop_wakes_every_job_waiting_for_its_check(tmp_path: Path) -> None:
    """Jobs whose next check is a minute away end at once when the run stops."""
    import httpx

    from grokbatch import providers
    from grokbatch.books import Books, record_for
    from grokbatch.budget import BudgetPolicy
    from grokbatch.control import Control
    from grokbatch.expand import Expander
    from grokbatch.manifest import loads
    from grokbatch.providers.client import ProviderClient
    from grokbatch.retry import Backoff
    from grokbatch.scheduler import Scheduler
    from grokbatch.state import Limits, SQLiteStore
    from grokbatch.timing import PollSettings

    from .conftest import Recorder

    polls = 0

    def running(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        polls += 1
        return httpx.Response(200, json={"jobId": "r", "status": "processing"})

    jobs = list(Expander(loads(manifest("pixeldojo", n=3), path=tmp_path / "m.yaml")).jobs())
    with SQLiteStore(":memory:") as store:
        run_id = store.start_run(manifest="sched-pixeldojo", manifest_path="m", options={})
        store.add_jobs("sched-pixeldojo", (record_for(j) for j in jobs), run_id=run_id)
        for n, job in enumerate(jobs):  # running at the provider
            store.reserve("sched-pixeldojo", job.key, run_id=run_id, credits=10, usd=None,
                          limits=Limits())  # fmt: skip
            store.mark_submitted("sched-pixeldojo", job.key, run_id=run_id, remote_id=f"r{n}",
                                 charged=None)  # fmt: skip
        books = Books(store, manifest="sched-pixeldojo", run_id=run_id, policy=BudgetPolicy(),
                      units={}, reporter=Recorder())  # fmt: skip
        control = Control(concurrency=3)
        async with httpx.AsyncClient(transport=httpx.MockTransport(running)) as http:
            client = ProviderClient(providers.get("pixeldojo"), http=http,
                                    base_url="https://pixeldojo.example", api_key="k",
                                    traced=False)  # fmt: skip
            scheduler = Scheduler(
                clients={"pixeldojo": client}, control=control, books=books,
                settings=PollSettings(first=0.01, min_gap=60.0), backoff=Backoff(),
            )  # fmt: skip
            ended: list[object] = []

            async def follow(n: int) -> None:
                ended.append(await scheduler.until_finished(jobs[n], f"r{n}"))

            with anyio.fail_after(5):
                async with scheduler, anyio.create_task_group() as tg:
                    for n in range(3):
                        tg.start_soon(follow, n)
                    while polls < 3:  # each checked once, the next check a minute away
                        await anyio.sleep(0.01)
                    control.stop()
    assert ended == [None, None, None] and polls == 3
