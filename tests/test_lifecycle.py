"""One job's walk, scripted: a mock transport plays the provider, the store is in memory.

No socket and no sleep of any length: each test scripts PixelDojo's answers (or APIFrame's,
for its idempotency key) and checks the state the job ends in and what the books say.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from grokbatch import providers
from grokbatch.books import Books, record_for
from grokbatch.budget import BudgetPolicy
from grokbatch.control import Control, Stop
from grokbatch.expand import Expander
from grokbatch.lifecycle import JobSettings, Lifecycle
from grokbatch.manifest import loads
from grokbatch.providers.client import ProviderClient
from grokbatch.resume import Action
from grokbatch.retry import Backoff
from grokbatch.scheduler import Scheduler
from grokbatch.state import SQLiteStore
from grokbatch.state.base import JobState
from grokbatch.timing import PollSettings

from .conftest import Recorder
from .media import mp4_bytes  # MP4 headers, written box by box

Handler = Callable[[httpx.Request], httpx.Response]
MANIFEST = """
name: walk
provider: {provider}
prompts: [{{id: p, template: "A lamp"}}]
output: {{path: "p.mp4"}}
"""


class Script:
    """The provider's answers, in order, per kind of request; every request is recorded."""

    def __init__(self, **answers: list[httpx.Response]) -> None:
        self.answers = answers
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = "file" if request.url.path.endswith(".mp4") else (
            "submit" if request.method == "POST" else "poll"
        )  # fmt: skip
        self.seen.append(kind)
        queue = self.answers[kind]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def ok(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def clip() -> httpx.Response:
    return httpx.Response(200, content=mp4_bytes(), headers={"content-type": "video/mp4"})


FILE = "https://cdn.example/out/job.mp4"
DONE = ok({"jobId": "r1", "status": "completed", "output": {"video": FILE}, "creditCost": 10})
RUNNING = ok({"jobId": "r1", "status": "processing"})
ACCEPTED = ok({"jobId": "r1", "status": "pending", "creditCost": 10}, 202)


class Walk:
    """A Lifecycle for one job over a scripted transport and an in-memory store."""

    def __init__(self, tmp_path: Path, script: Handler, provider: str = "pixeldojo") -> None:
        manifest = loads(MANIFEST.format(provider=provider), path=tmp_path / "m.yaml")
        [self.job] = list(Expander(manifest).jobs())
        self.store = SQLiteStore(":memory:")
        self.run_id = self.store.start_run(manifest="walk", manifest_path="m", options={})
        self.store.add_jobs("walk", [record_for(self.job)], run_id=self.run_id)
        self.reporter = Recorder()
        self.books = Books(
            self.store,
            manifest="walk",
            run_id=self.run_id,
            policy=BudgetPolicy(),
            units={},
            reporter=self.reporter,
        )
        self.control = Control(concurrency=1)
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(script))
        client = ProviderClient(
            providers.get(provider),
            http=self.http,
            base_url="https://provider.example",
            api_key="k",
            traced=False,  # a mock transport reports no trace events
        )
        backoff = Backoff(base=0.001, cap=0.001, rng=random.Random(1))
        self.scheduler = Scheduler(
            clients={provider: client},
            control=self.control,
            books=self.books,
            settings=PollSettings(first=0.001, min_gap=0.001, max_gap=0.001, retries=3),
            backoff=backoff,
        )
        self.lifecycle = Lifecycle(
            books=self.books,
            control=self.control,
            clients={provider: client},
            files=self.http,
            scheduler=self.scheduler,
            settings=JobSettings(output_dir=tmp_path / "out", retries=3),
            backoff=backoff,
        )

    async def run(self, action: Action = Action.SUBMIT) -> Any:
        row = self.store.get("walk", self.job.key)
        async with self.scheduler:
            await self.lifecycle.run(self.job, action, row)
        await self.http.aclose()
        return self.store.get("walk", self.job.key)


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Callable[..., Walk]]:
    walks: list[Walk] = []

    def make(script: Handler, provider: str = "pixeldojo") -> Walk:
        walks.append(Walk(tmp_path, script, provider))
        return walks[-1]

    yield make
    for w in walks:
        w.store.close()


@pytest.mark.anyio
async def test_a_job_walks_submit_poll_download_to_done(walk: Callable[..., Walk]) -> None:
    script = Script(submit=[ACCEPTED], poll=[RUNNING, RUNNING, DONE], file=[clip()])
    w = walk(script)
    row = await w.run()
    assert row.state is JobState.DONE and row.remote_id == "r1" and row.spent_credits == 10
    assert script.seen == ["submit", "poll", "poll", "poll", "file"]
    assert [e["kind"] for e in w.store.events("walk", key=w.job.key)] == [
        "reserved", "submitted", "status", "status", "ready", "done"
    ]  # fmt: skip
    assert w.books.counts() == {"done": 1}  # the live count comes from the returned rows


@pytest.mark.anyio
async def test_a_lost_answer_is_ambiguous_and_never_resent(walk: Callable[..., Walk]) -> None:
    sends = 0

    def lost(request: httpx.Request) -> httpx.Response:
        nonlocal sends
        sends += 1
        raise httpx.ReadTimeout("no answer", request=request)

    row = await walk(lost).run()
    assert row.state is JobState.AMBIGUOUS and row.reserved_credits == 10  # maybe paid
    assert row.error_kind == "AmbiguousSubmitError" and sends == 1


@pytest.mark.anyio
async def test_a_5xx_is_ambiguous_except_where_documented(walk: Callable[..., Walk]) -> None:
    unavailable = ok({"error": "try later"}, 503)
    row = await walk(Script(submit=[unavailable])).run()
    assert row.state is JobState.AMBIGUOUS  # PixelDojo documents nothing: maybe created
    frame = walk(
        Script(
            submit=[unavailable, ok({"jobId": "f1", "status": "QUEUED"}, 202)],
            poll=[ok({"id": "f1", "status": "COMPLETED", "result": FILE, "creditCost": 10})],
            file=[clip()],
        ),
        provider="apiframe",
    )
    row = await frame.run()
    assert row.state is JobState.DONE  # APIFrame: its 503 created nothing


@pytest.mark.anyio
async def test_a_429_releases_the_claim_then_claims_and_sends_again(
    walk: Callable[..., Walk],
) -> None:
    slow_down = httpx.Response(429, json={"error": "slow"}, headers={"Retry-After": "0"})
    script = Script(submit=[slow_down, ACCEPTED], poll=[DONE], file=[clip()])
    w = walk(script)
    row = await w.run()
    assert row.state is JobState.DONE and row.attempts == 2
    kinds = [e["kind"] for e in w.store.events("walk", key=w.job.key)]
    assert kinds[:4] == ["reserved", "released", "reserved", "submitted"]
    assert "retry" in w.reporter.kinds()


@pytest.mark.anyio
async def test_a_refused_request_fails_with_nothing_spent(walk: Callable[..., Walk]) -> None:
    bad = ok({"error": {"code": "invalid", "message": "duration must be 1-15"}}, 400)
    w = walk(Script(submit=[bad]))
    row = await w.run()
    assert row.state is JobState.FAILED and row.spent_credits == 0 and row.reserved_credits == 0
    assert row.error_kind == "InvalidRequestError" and "duration" in (row.error or "")


@pytest.mark.anyio
async def test_out_of_credits_releases_the_job_and_closes_submissions(
    walk: Callable[..., Walk],
) -> None:
    empty = ok({"error": {"code": "insufficient_credits", "message": "no credits"}}, 402)
    w = walk(Script(submit=[empty]))
    row = await w.run()
    assert row.state is JobState.PENDING and row.reserved_credits == 0  # not failed
    assert w.control.stopped(Stop.CREDITS) and "out_of_credits" in w.reporter.kinds()


@pytest.mark.anyio
async def test_moderation_is_recorded_as_a_moderation_error(walk: Callable[..., Walk]) -> None:
    refused = ok({"jobId": "r1", "status": "failed", "error": "blocked by content moderation"}, 200)
    row = await walk(Script(submit=[ACCEPTED], poll=[refused])).run()
    assert row.state is JobState.FAILED and row.error_kind == "ModerationError"


@pytest.mark.anyio
async def test_a_hostile_answer_ends_the_job_not_the_batch(walk: Callable[..., Walk]) -> None:
    """An answer that breaks grokbatch itself: the job ends with the reason, recorded."""
    w = walk(Script(submit=[ACCEPTED], poll=[DONE], file=[clip()]))

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("something nobody foresaw")

    w.lifecycle.fetch = explode  # type: ignore[method-assign]
    row = await w.run()
    assert row.state is JobState.FAILED and row.error_kind == "InternalError"
    assert "KeyError" in (row.error or "")


@pytest.mark.anyio
async def test_an_expired_output_asks_once_for_a_fresh_url(walk: Callable[..., Walk]) -> None:
    gone = httpx.Response(410, text="gone")
    script = Script(submit=[ACCEPTED], poll=[DONE], file=[gone, clip()])
    w = walk(script)
    row = await w.run()
    assert row.state is JobState.DONE
    assert script.seen == ["submit", "poll", "file", "poll", "file"]


@pytest.mark.anyio
async def test_a_second_stop_while_sending_leaves_the_claim_for_the_next_run(
    walk: Callable[..., Walk],
) -> None:
    """Cancelled on the wire (a mock cannot tell): the job stays SUBMITTING, maybe paid."""
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep(30)
        raise AssertionError("unreachable")

    w = walk(Script(submit=[ACCEPTED]))
    w.http = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    w.lifecycle.clients["pixeldojo"].http = w.http
    async with anyio.create_task_group() as tg:
        w.control.bind(tg.cancel_scope)
        tg.start_soon(w.run)
        await started.wait()
        w.control.stop()
        w.control.stop()
    row = w.store.get("walk", w.job.key)
    assert row is not None and row.state is JobState.SUBMITTING and row.reserved_credits == 10
    assert json.dumps(row.request)  # the stored request is plain data, with no key
