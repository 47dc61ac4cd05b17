"""Contract tests: every adapter against the emulator over loopback HTTP.

The adapters are written from providers.md and the emulator separately from it too; here
each checks the other, provider by provider: every status on the way, every error kind,
and the emulator's answers against the OpenAPI files where the providers publish them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from grokbatch import providers
from grokbatch.download import download
from grokbatch.emulator import Emulator, EmulatorConfig
from grokbatch.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from grokbatch.expand import expand
from grokbatch.jobs import Job
from grokbatch.manifest import loads
from grokbatch.providers.client import ProviderClient
from grokbatch.providers.wire import HttpRequest, HttpResponse, Polled, RemoteState

from .openapi import AIML_FETCH_FILE, AIML_FILE, AIML_POLL, AIML_SUBMIT, openapi_schema

pytestmark = pytest.mark.anyio
PARAMS = {
    "pixeldojo": "",
    "aimlapi": "defaults: {duration: 3, resolution: 480p}\n",
    "aivideoapi": "",
    "apiframe": "",
    "vydra": "",
    "xai": "defaults: {duration: 3, resolution: 480p}\n",
}
# A body each provider's real API rejects (sent raw, past grokbatch's own validation).
BAD_BODIES = {
    "pixeldojo": {"prompt": "x", "duration": 99},
    "aimlapi": {"model": "x-ai/grok-imagine-video", "image_url": "https://e/a.png",
                "reference_images": ["https://e/b.png"]},
    "aivideoapi": {"model": "grok-imagine-image-to-video", "input": {"prompt": "x", "mode": "spicy",
                   "image_urls": ["https://e/a.png"]}},
    "apiframe": {"model": "grok-imagine-video", "prompt": "x", "resolution": "720p"},
    "vydra": {"prompt": "x", "model": "image-to-video"},
    "xai": {"model": "grok-imagine-video", "prompt": "x", "duration": 12,
            "reference_images": [{"url": "https://e/a.png"}]},
}  # fmt: skip


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.0, seed=5, retry_after=0.1)) as e:
        yield e


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def job_for(provider: str, prompt: str = "A lamp on a desk") -> Job:
    [job] = expand(
        loads(
            f"name: c\nprovider: {provider}\nprompts: [{{id: a, template: '{prompt}'}}]\n"
            + PARAMS[provider]
        )
    )
    return job


def client_for(
    emu: Emulator, http: httpx.AsyncClient, provider: str, key: str | None = None
) -> ProviderClient:
    return ProviderClient(
        providers.get(provider),
        http=http,
        base_url=emu.base_url(provider),
        api_key=emu.api_key(provider) if key is None else key,
    )


async def poll_to_end(client: ProviderClient, remote_id: str) -> tuple[list[str], Polled]:
    seen: list[str] = []
    for _ in range(200):
        polled = await client.poll(remote_id)
        assert polled.recognised, polled.status
        seen.append(polled.state.value)
        if polled.state.finished:
            return seen, polled
        await anyio.sleep(0.03)
    raise AssertionError(f"never finished: {seen}")


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_a_job_walks_every_status_to_a_downloadable_output(
    emu: Emulator, http: httpx.AsyncClient, provider: str, tmp_path: Path
) -> None:
    emu.configure(latency=0.4)
    client = client_for(emu, http, provider)
    job = job_for(provider)
    submitted = await client.submit(job)
    assert submitted.remote_id
    seen, polled = await poll_to_end(client, submitted.remote_id)
    assert seen[0] == "queued" and seen[-1] == "succeeded", seen
    # xAI names only pending → done, but its 202 "still in progress" (often with an empty
    # body) reads as running; every other provider walks through a running status of its own.
    assert provider == "xai" or "running" in seen, seen
    got = await download(http, polled.output_urls[0], tmp_path / "clip.mp4", kind="video")
    assert got.size > 1000 and (tmp_path / "clip.mp4").read_bytes()[4:8] == b"ftyp"
    stats = emu.stats()["providers"][provider]
    assert (stats["submissions"], stats["duplicates"]) == (1, 0)
    charged = submitted.charged if submitted.charged is not None else polled.charged
    if charged is None:  # AI Video API reports no cost: it charges the published price
        charged = job.credits
    assert charged == pytest.approx(stats["credits_charged"])


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_a_wrong_key_is_an_authentication_error(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    emu.configure(api_key="right")
    secret = "sk-wrong-9876543210"
    with pytest.raises(AuthenticationError) as caught:
        await client_for(emu, http, provider, key=secret).submit(job_for(provider))
    assert caught.value.status_code == (400 if provider == "xai" else 401)
    assert secret not in str(caught.value)


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_an_empty_balance_is_insufficient_credits(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    emu.set_credits(provider, 0)
    client = client_for(emu, http, provider)
    # xAI answers 403 or 429 (a coin per answer): try both.
    for _ in range(8 if provider == "xai" else 1):
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.submit(job_for(provider))
        expected = {"aimlapi": {403}, "xai": {403, 429}}.get(provider, {402})
        assert caught.value.status_code in expected
    assert emu.stats()["providers"][provider]["submissions"] == 0


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_a_body_the_api_rejects_is_an_invalid_request(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    client = client_for(emu, http, provider)
    path = providers.get(provider).submit_request(job_for(provider)).path
    with pytest.raises(InvalidRequestError):
        await client.send(HttpRequest("POST", path, json=BAD_BODIES[provider]))


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_an_unknown_job_is_not_found(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    # APIFrame ids are UUIDs (it answers 400 to anything else); the rest are opaque.
    unknown = "3f1c9d2e-8a4b-4c6d-9e0f-123456789abc" if provider == "apiframe" else "no-such-job"
    with pytest.raises(NotFoundError):
        await client_for(emu, http, provider).poll(unknown)


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_429_and_5xx_are_transient(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    client = client_for(emu, http, provider)
    emu.configure(rate_limit_rate=1.0)
    with pytest.raises(RateLimitedError) as limited:
        await client.submit(job_for(provider))
    sends = provider in ("pixeldojo", "apiframe", "vydra", "xai")
    assert (limited.value.retry_after is not None) == sends
    emu.configure(rate_limit_rate=0.0, server_error_rate=1.0)
    with pytest.raises(TransientError) as failed:
        await client.submit(job_for(provider))
    assert failed.value.status_code in (500, 502, 503)
    # Only APIFrame documents its 503 as "nothing created"; elsewhere a 5xx is ambiguous.
    assert failed.value.not_created == (provider == "apiframe" and failed.value.status_code == 503)
    assert limited.value.not_created  # a 429 is a refusal
    # A 5xx on a submit may have created the job (except APIFrame's 503): never resent blindly.
    stats = emu.stats()["providers"][provider]
    assert stats["submissions"] == stats["server_errors_created"]


@pytest.mark.parametrize("provider", providers.NAMES)
async def test_failed_and_moderated_jobs(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    client = client_for(emu, http, provider)
    emu.configure(failure_rate=1.0)
    job = job_for(provider)
    submitted = await client.submit(job)
    polled = submitted.result or (await poll_to_end(client, submitted.remote_id))[1]
    assert polled.state is RemoteState.FAILED and polled.error and not polled.moderated
    refunds = provider in ("aivideoapi", "apiframe", "vydra", "aimlapi", "xai")
    assert polled.refunded == refunds
    emu.configure(failure_rate=0.0, moderation_rate=1.0)
    submitted = await client.submit(job_for(provider, "Another lamp"))
    polled = submitted.result or (await poll_to_end(client, submitted.remote_id))[1]
    assert polled.state is RemoteState.FAILED and polled.moderated


async def test_vydra_text_to_image_is_answered_synchronously(
    emu: Emulator, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    [job] = expand(
        loads(
            "name: c\nprovider: vydra\nprompts: [{id: a, template: x}]\ndefaults: {type: image}\n"
        )
    )
    submitted = await client_for(emu, http, "vydra").submit(job)
    assert submitted.result is not None and submitted.result.state is RemoteState.SUCCEEDED
    got = await download(http, submitted.result.output_urls[0], tmp_path / "a.png", kind="image")
    assert got.content_type == "image/png" and submitted.charged == 8


async def test_a_lost_answer_may_have_created_a_job(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.configure(lost_response_rate=1.0)
    with pytest.raises(TransientError) as caught:
        await client_for(emu, http, "aivideoapi").submit(job_for("aivideoapi"))
    assert caught.value.request_sent  # so the runner must not resend it blindly
    assert not caught.value.not_created
    assert emu.stats()["providers"]["aivideoapi"]["submissions"] == 1


async def test_a_refused_connection_certainly_created_nothing(http: httpx.AsyncClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the connection is refused
        client = ProviderClient(
            providers.get("pixeldojo"), http=http, base_url=f"http://127.0.0.1:{port}",
            api_key="k",
        )  # fmt: skip
        with pytest.raises(TransientError) as caught:
            await client.submit(job_for("pixeldojo"))
    assert not caught.value.request_sent and caught.value.not_created


async def test_apiframe_replays_a_resent_key_and_refuses_it_for_another_body(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    client = client_for(emu, http, "apiframe")
    job = job_for("apiframe")
    first = await client.submit(job)
    again = await client.submit(job)
    assert again.remote_id == first.remote_id
    stats = emu.stats()["providers"]["apiframe"]
    assert (stats["submissions"], stats["replays"], stats["duplicates"]) == (1, 1, 0)
    other = job_for("apiframe", "Something else")
    request = providers.get("apiframe").submit_request(other)
    with pytest.raises(Exception, match="409"):
        await client.send(
            HttpRequest("POST", request.path, json=request.json,
                        headers={"Idempotency-Key": job.key})
        )  # fmt: skip


async def test_an_expired_output_is_refused_and_the_poll_says_so(
    emu: Emulator, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    from grokbatch.errors import OutputExpiredError

    client = client_for(emu, http, "apiframe")
    emu.configure(url_ttl=0.2)
    submitted = await client.submit(job_for("apiframe"))
    _, done = await poll_to_end(client, submitted.remote_id)
    assert done.state is RemoteState.SUCCEEDED
    await anyio.sleep(0.25)
    with pytest.raises(OutputExpiredError):
        await download(http, done.output_urls[0], tmp_path / "a.mp4", kind="video")
    _, purged = await poll_to_end(client, submitted.remote_id)
    assert purged.state is RemoteState.FAILED  # APIFrame: COMPLETED but `expired: true`


async def test_the_same_body_paid_twice_is_counted_as_a_duplicate(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    client = client_for(emu, http, "vydra")
    job = job_for("vydra")
    await client.submit(job)
    await client.submit(job)
    assert emu.stats()["providers"]["vydra"]["duplicates"] == 1


# --- the emulator's answers against the providers' own OpenAPI files ------------------------


async def test_aimlapi_answers_match_its_openapi(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.configure(latency=0.2)
    headers = {"Authorization": f"Bearer {emu.api_key('aimlapi')}"}
    base = emu.base_url("aimlapi")
    body = providers.get("aimlapi").submit_request(job_for("aimlapi")).json
    submitted = (await http.post(f"{base}/v2/video/generations", json=body, headers=headers)).json()
    openapi_schema(AIML_FILE, AIML_SUBMIT).validate(submitted)
    poll = openapi_schema(AIML_FETCH_FILE, AIML_POLL)
    statuses = set()
    for _ in range(100):
        answer = (
            await http.get(
                f"{base}/v2/video/generations",
                params={"generation_id": submitted["id"]},
                headers=headers,
            )
        ).json()
        poll.validate(answer)
        statuses.add(answer["status"])
        if answer["status"] == "completed":
            break
        await anyio.sleep(0.03)
    assert statuses >= {"queued", "generating", "completed"}


async def test_apiframe_answers_match_its_openapi(emu: Emulator, http: httpx.AsyncClient) -> None:
    headers = {"X-API-Key": emu.api_key("apiframe")}
    base = emu.base_url("apiframe")
    spec = "apiframe-openapi.json"
    request = providers.get("apiframe").submit_request(job_for("apiframe"))
    answer = await http.post(f"{base}{request.path}", json=request.json, headers=headers)
    assert answer.status_code == 202
    openapi_schema(spec, "/components/schemas/JobAccepted").validate(answer.json())
    job = await http.get(f"{base}/v2/jobs/{answer.json()['jobId']}", headers=headers)
    openapi_schema(spec, "/components/schemas/Job").validate(job.json())
    bad = await http.post(f"{base}{request.path}", json={"model": "x"}, headers=headers)
    assert bad.status_code == 400
    openapi_schema(spec, "/components/schemas/ValidationError").validate(bad.json())
    emu.set_credits("apiframe", 1)
    poor = await http.post(f"{base}{request.path}", json=request.json | {"prompt": "y"},
                           headers=headers)  # fmt: skip
    assert poor.status_code == 402
    openapi_schema(spec, "/components/schemas/InsufficientCredits").validate(poor.json())


async def test_emulator_rejects_what_the_openapi_files_reject(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    aiml = openapi_schema(
        "aimlapi-grok-imagine-video.json",
        "/paths/~1v2~1video~1generations/post/requestBody/content/application~1json/schema",
    )
    frame = openapi_schema("apiframe-openapi.json", "/components/schemas/GenerateVideoRequest")
    cases = [
        ("aimlapi", "/v2/video/generations", aiml,
         {"model": "x-ai/grok-imagine-video", "duration": 30}),
        ("aimlapi", "/v2/video/generations", aiml, {"model": "other"}),
        ("apiframe", "/v2/videos/generate", frame, {"model": "grok-imagine-video", "prompt": ""}),
        ("apiframe", "/v2/videos/generate", frame,
         {"model": "grok-imagine-video", "prompt": "x", "grokImagineVideoParams": {"duration": 7}}),
    ]  # fmt: skip
    for provider, path, schema, body in cases:
        assert not schema.is_valid(body)
        answer = await http.post(
            emu.base_url(provider) + path,
            json=body,
            headers={
                "Authorization": f"Bearer {emu.api_key(provider)}",
                "X-API-Key": emu.api_key(provider),
            },
        )
        assert answer.status_code == 400, (provider, body, answer.text)


async def test_a_redirecting_base_url_is_refused_before_the_key_can_be_dropped(
    http: httpx.AsyncClient,
) -> None:
    """Vydra's bare host redirects to www.: following it would drop the key and look like a
    bad key; grokbatch stops and names the URL to use instead."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(301)
            self.send_header("Location", "https://www.vydra.ai" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = ProviderClient(
            providers.get("vydra"), http=http,
            base_url=f"http://127.0.0.1:{server.server_address[1]}", api_key="sk-secret-1234",
        )  # fmt: skip
        with pytest.raises(Exception, match=r"www\.vydra\.ai") as caught:
            await client.submit(job_for("vydra"))
        assert "sk-secret-1234" not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_aivideoapi_posts_the_result_to_its_callback_url(emu: Emulator) -> None:
    """The task's final poll body arrives at callback_url with X-Event and X-Task-Id."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[dict[str, str], dict[str, Any]]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hook = f"http://127.0.0.1:{server.server_address[1]}/done"
        [job] = expand(
            loads(
                "name: c\nprovider: aivideoapi\nprompts: [{id: a, template: x}]\n"
                f"defaults: {{extra: {{callback_url: '{hook}'}}}}\n"
            )
        )
        emu.configure(latency=0.1)
        async with httpx.AsyncClient() as http:
            submitted = await client_for(emu, http, "aivideoapi").submit(job)
        assert await anyio.to_thread.run_sync(arrived.wait, 5.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    [(headers, body)] = received
    assert headers["x-event"] == "task.completed" and headers["x-task-id"] == submitted.remote_id
    assert body["status"] == "completed" and body["output"]["urls"]
    assert (
        providers.get("aivideoapi").parse_poll(HttpResponse(200, body)).state
        is RemoteState.SUCCEEDED
    )


# --- lists, lookups and cancels ---------------------------------------------------------------


LISTERS = ["aimlapi", "apiframe", "vydra"]


@pytest.mark.parametrize("provider", LISTERS)
async def test_a_list_finds_every_finished_job_with_its_id_state_and_time(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    client = client_for(emu, http, provider)
    emu.configure(latency=0.0)
    made = [await client.submit(job_for(provider, f"Lamp number {n}")) for n in range(5)]
    for submitted in made:
        await poll_to_end(client, submitted.remote_id)
    seen: dict[str, Any] = {}
    page: str | None = None
    while True:  # two rows a page: the paging is followed to the end
        listing = await client.list(state=RemoteState.SUCCEEDED, page=page, limit=2)
        assert listing is not None
        seen |= {item.remote_id: item for item in listing.items}
        if listing.next_page is None:
            break
        page = listing.next_page
    assert set(seen) == {s.remote_id for s in made}
    for item in seen.values():
        assert item.polled.state is RemoteState.SUCCEEDED and item.created_at
    if provider == "aimlapi":  # the id each submit carried, to find a lost one again
        ids = {job_for(provider, f"Lamp number {n}").key + ".1" for n in range(5)}
        assert {item.client_request_id for item in seen.values()} == ids


async def test_aimlapi_logs_show_a_generation_only_once_it_has_completed(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    client = client_for(emu, http, "aimlapi")
    emu.configure(latency=30.0)
    await client.submit(job_for("aimlapi"))
    listing = await client.list()
    assert listing is not None and listing.items == ()
    assert await client.list(state=RemoteState.RUNNING) is None  # not what the logs hold


@pytest.mark.parametrize("provider", ["pixeldojo", "aivideoapi", "xai"])
async def test_providers_without_a_list_say_so(
    emu: Emulator, http: httpx.AsyncClient, provider: str
) -> None:
    client = client_for(emu, http, provider)
    assert await client.list() is None
    assert await client.cancel("any") is None


async def test_vydra_cancels_a_running_job(emu: Emulator, http: httpx.AsyncClient) -> None:
    client = client_for(emu, http, "vydra")
    emu.configure(latency=30.0)
    submitted = await client.submit(job_for("vydra"))
    cancelled = await client.cancel(submitted.remote_id)
    assert cancelled is not None and cancelled.state is RemoteState.FAILED
    polled = await client.poll(submitted.remote_id)
    assert polled.state is RemoteState.FAILED and polled.status == "cancelled"
    assert not polled.refunded  # Vydra does not say it refunds a cancel
