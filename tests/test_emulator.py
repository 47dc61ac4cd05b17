"""The emulator on its own, with raw HTTP over loopback: every provider as providers.md has it.

The happy path, what each API refuses (keys, bodies, balances, unknown jobs), failed and
moderated jobs, the basic faults, the admin endpoints and `serve`. The other
`test_emulator_*.py` files cover the live API's awkward answers, lists, the state file,
the files served and the OpenAPI files.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from grokbatch.emulator import DEFAULT_KEYS, PROVIDERS, Emulator, EmulatorConfig, serve
from grokbatch.emulator.config import DEFAULT_CREDITS

from .emulator_kit import (
    APIS,
    NAMES,
    Json,
    assert_error_shape,
    boxes,
    png_pixels,
    poll,
    stats,
    submit,
    submitted_id,
)

pytestmark = pytest.mark.emulator(latency=0.0, seed=7, retry_after=0.5)  # done at the first poll

# --- the happy path, provider by provider ------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_job_walks_its_statuses_is_charged_and_downloads(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(latency=0.3)
    start = DEFAULT_CREDITS[name]
    job_id = submitted_id(emu, http, api)
    if api.charged_at_submit:
        assert stats(emu, name)["balance"] == pytest.approx(start - api.price)
    else:
        assert stats(emu, name)["balance"] == start
    seen: list[str] = []
    for _ in range(100):
        answer = poll(emu, http, api, job_id)
        if not seen or seen[-1] != answer["status"]:
            seen.append(answer["status"])
        if answer["status"] == api.walk[-1]:
            break
        time.sleep(0.02)
    assert tuple(seen) == api.walk
    entry = stats(emu, name)
    assert entry["balance"] == pytest.approx(start - api.price)
    assert entry["credits_charged"] == pytest.approx(api.price)
    assert (entry["submissions"], entry["paid"], entry["duplicates"]) == (1, 1, 0)
    assert entry["jobs"] == {"ok": 1} and entry["polls"] >= len(seen)
    got = http.get(api.url(answer))
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
    assert got.content[4:8] == b"ftyp" and {b"moov", b"mdat"} <= set(boxes(got.content))
    assert stats(emu, name)["downloads"] == 1


def test_each_provider_reports_its_cost_in_its_own_words(emu: Emulator, http: httpx.Client) -> None:
    def body_of(name: str) -> Json:
        body: Json = submit(emu, http, APIS[name]).json()
        return body

    assert body_of("pixeldojo")["creditCost"] == 12
    assert body_of("vydra")["creditsCharged"] == 150
    aiml = poll(emu, http, APIS["aimlapi"], body_of("aimlapi")["id"])
    assert aiml["meta"]["usage"] == {"credits_used": 300_000, "usd_spent": 0.15}
    xai = poll(emu, http, APIS["xai"], body_of("xai")["request_id"])
    assert xai["usage"]["cost_in_usd_ticks"] == 2_800_000_000
    assert xai["video"]["respect_moderation"] is True and xai["video"]["duration"] == 4
    frame = poll(emu, http, APIS["apiframe"], body_of("apiframe")["jobId"])
    assert frame["creditCost"] == 15
    # AI Video API: 2.4 credits/s at 480p (its default), rounded up.
    seven = {"model": "grok-imagine-text-to-video", "input": {"prompt": "x", "duration": 7}}
    submit(emu, http, APIS["aivideoapi"], seven)
    assert stats(emu, "aivideoapi")["credits_charged"] == math.ceil(2.4 * 7)


def test_pixeldojo_answers_its_seed_shapes(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["pixeldojo"]
    answer = submit(emu, http, api, {"prompt": "short", "duration": 3})
    body = answer.json()
    assert set(body) == {
        "jobId", "status", "statusUrl", "creditCost", "creditsRemaining", "expiresAt"
    }  # fmt: skip
    assert body["status"] == "pending" and body["creditCost"] == 10
    assert body["creditsRemaining"] == DEFAULT_CREDITS["pixeldojo"] - 10
    assert body["statusUrl"] == emu.base_url("pixeldojo") + f"/api/v1/jobs/{body['jobId']}"
    polled = http.get(body["statusUrl"], headers=api.headers()).json()
    assert {"jobId", "status", "output", "creditCost", "expiresAt"} <= set(polled)


def test_vydra_text_to_image_is_answered_at_once_with_a_png(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["vydra"]
    answer = submit(emu, http, api, {"prompt": "A red kite", "model": "text-to-image"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "completed" and body["resultUrls"] == [body["imageUrl"]]
    image = http.get(body["imageUrl"])
    assert image.headers["content-type"] == "image/png"
    width, height, pixels = png_pixels(image.content)
    assert width == height  # Vydra's images are square unless an aspect ratio is asked for
    other = submit(emu, http, api, {"prompt": "A blue kite", "model": "text-to-image"}).json()
    assert png_pixels(http.get(other["imageUrl"]).content)[2] != pixels  # unique per job
    assert stats(emu, "vydra")["credits_charged"] == 16
    assert poll(emu, http, api, body["jobId"])["status"] == "completed"


# --- keys: only the right one, only in the provider's own header ------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_only_the_emulators_key_is_accepted(emu: Emulator, http: httpx.Client, name: str) -> None:
    api = APIS[name]
    url = emu.base_url(name) + api.submit_path
    assert emu.api_key(name) == DEFAULT_KEYS[name]
    missing = http.post(url, json=api.body)
    wrong = submit(emu, http, api, headers=api.headers("sk-wrong-0123456789"))
    if name == "xai":  # no key: 401; a wrong key: 400 with xAI's own message
        assert missing.json() == {
            "code": "unauthenticated:no-credentials", "error": "No credentials presented."
        }  # fmt: skip
        assert missing.status_code == 401
        body = assert_error_shape(api, wrong, 400)
        assert body == {
            "code": "invalid-argument",
            "error": "Incorrect API key provided: sk***89. You can obtain an API key from "
            "https://console.x.ai.",
        }
    else:
        assert_error_shape(api, missing, 401)
        assert_error_shape(api, wrong, 401)
    assert submit(emu, http, api).status_code == api.submit_status
    emu.configure(api_key="the-one-key")
    assert emu.api_key(name) == "the-one-key"
    assert submit(emu, http, api).status_code in (400, 401)  # the default is refused now
    assert submit(emu, http, api, headers=api.headers("the-one-key")).status_code == (
        api.submit_status
    )
    entry = stats(emu, name)
    assert (entry["rejected"], entry["submissions"]) == (3, 2)


def test_apiframe_takes_its_key_only_in_x_api_key(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["apiframe"]
    bearer = {"Authorization": f"Bearer {DEFAULT_KEYS['apiframe']}"}
    answer = http.post(emu.base_url("apiframe") + api.submit_path, json=api.body, headers=bearer)
    assert_error_shape(api, answer, 401)
    others = http.post(
        emu.base_url("vydra") + APIS["vydra"].submit_path,
        json=APIS["vydra"].body,
        headers={"X-API-Key": DEFAULT_KEYS["vydra"]},
    )
    assert others.status_code == 401  # and the Bearer providers take no X-API-Key
    assert stats(emu, "apiframe")["submissions"] == 0


def test_keys_are_never_echoed_by_the_admin_endpoints(emu: Emulator, http: httpx.Client) -> None:
    emu.configure(api_key="sk-secret-key-42")
    shown = http.get(f"{emu.url}/_emulator/config").text
    assert "sk-secret-key-42" not in shown and DEFAULT_KEYS["xai"] not in shown


# --- what the APIs refuse ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_body_the_api_rejects_is_a_validation_error(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    body = assert_error_shape(api, submit(emu, http, api, api.bad_body), 400)
    if name == "vydra":
        assert body["code"] == "INVALID_INPUT"
    if name == "aivideoapi":
        assert body["error"]["code"] == "invalid_request"
    entry = stats(emu, name)
    assert (entry["rejected"], entry["submissions"], entry["credits_charged"]) == (1, 0, 0)
    not_json = http.post(emu.base_url(name) + api.submit_path, content=b"{", headers=api.headers())
    assert_error_shape(api, not_json, 400)


LONG = "x" * 5001
AIML = {"model": "x-ai/grok-imagine-video"}
T2V = "grok-imagine-text-to-video"
FRAME = {"model": "grok-imagine-video", "prompt": "x"}
MORE_BAD_BODIES = [
    ("pixeldojo", {"prompt": "x", "colour": "red"}),  # unknown field
    ("pixeldojo", {"duration": 5}),  # no prompt
    ("pixeldojo", {"prompt": "x", "aspect_ratio": "5:4"}),
    ("pixeldojo", {"prompt": "x", "resolution": "1080p"}),
    ("pixeldojo", {"prompt": "x", "duration": 6.0}),  # not an integer
    ("pixeldojo", {"prompt": "x", "duration": True}),
    ("pixeldojo", {"prompt": "x", "webhook_url": "/hook"}),  # not absolute
    ("pixeldojo", {"prompt": "x", "webhook_url": "ftp://e.example/hook"}),
    ("pixeldojo", {"prompt": "x", "image_url": "data:image/png;base64,AAAA"}),
    ("aimlapi", AIML | {"image_url": "https://e.example/a.png",
                        "reference_images": ["https://e.example/b.png"]}),
    ("aimlapi", AIML | {"reference_images": ["https://e/b"] * 8}),
    ("aimlapi", AIML | {"duration": "5"}),
    ("aimlapi", AIML | {"duration": 5.0}),
    ("aimlapi", AIML | {"seed": 3}),  # unknown field
    ("aimlapi", AIML | {"image_url": "https://"}),  # no host
    ("aimlapi", AIML | {"prompt": None}),
    ("aivideoapi", {"model": "grok-imagine-image-to-video",
                    "input": {"prompt": "x", "mode": "spicy", "image_urls": ["https://e/a"]}}),
    ("aivideoapi", {"model": "grok-imagine-image-to-video", "input": {"prompt": "x"}}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": LONG}}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": "x", "duration": 5}}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": "x", "duration": 6.0}}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": "x"}, "callback_url": "not a url"}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": "x"}, "callback_url": "http:///x"}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": "x", "nsfw_checker": "yes"}}),
    ("apiframe", FRAME | {"prompt": LONG}),
    ("apiframe", FRAME | {"grokImagineVideoParams": {"duration": 6, "resolution": "720p"}}),
    ("apiframe", FRAME | {"webhookUrl": "example.com/hook"}),
    ("apiframe", FRAME | {"webhookUrl": "https://e.example/h", "webhookEvents": ["done"]}),
    ("apiframe", FRAME | {"webhookEvents": "completed"}),
    ("apiframe", FRAME | {"grokImagineVideoParams": {"reference_images": ["file:///a.png"]}}),
    ("vydra", {"prompt": LONG}),
    ("vydra", {"prompt": "x", "duration": 16}),
    ("vydra", {"prompt": "x", "duration": 6.5}),
    ("vydra", {"prompt": "x", "model": "video"}),
    ("vydra", {"prompt": "x", "model": "image-to-video", "image_url": "e.example/a.png"}),
    ("xai", {"model": "grok-imagine-video", "reference_images": [{"url": "https://e/a"}]}),
    ("xai", {"model": "grok-imagine-video", "prompt": "x", "resolution": "1080p"}),
    ("xai", {"model": "grok-video", "prompt": "x"}),
    ("xai", {"model": "grok-imagine-video", "prompt": "x", "duration": 8.0}),
    ("xai", {"model": "grok-imagine-video", "prompt": "x", "image": {"url": "a.png"}}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body"), MORE_BAD_BODIES)
def test_more_bodies_the_apis_reject(
    emu: Emulator, http: httpx.Client, name: str, body: Json
) -> None:
    api = APIS[name]
    answer = submit(emu, http, api, body)
    assert answer.status_code in (400, 422), answer.text
    assert_error_shape(api, answer, answer.status_code)
    assert stats(emu, name)["submissions"] == 0


GOOD_BODIES = [
    ("pixeldojo", {"prompt": "x", "webhook_url": "https://hooks.example:8443/done?job=1"}),
    ("aivideoapi", {"model": T2V, "input": {"prompt": "x"},
                    "callback_url": "http://127.0.0.1:9/cb"}),
    ("apiframe", FRAME | {"webhookUrl": "https://e.example/h",
                          "webhookEvents": ["progress", "completed", "failed"]}),
    ("aimlapi", AIML | {"prompt": "x", "image_url": "http://e.example/a.png"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body"), GOOD_BODIES)
def test_webhook_and_image_urls_that_the_apis_accept(
    emu: Emulator, http: httpx.Client, name: str, body: Json
) -> None:
    assert submit(emu, http, APIS[name], body).status_code == APIS[name].submit_status


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_balance_is_the_providers_insufficient_credits(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.set_credits(name, api.price * 0.99)
    answer = submit(emu, http, api)
    status = answer.status_code if name == "xai" else api.insufficient_status
    body = assert_error_shape(api, answer, status)
    if name == "apiframe":
        assert (body["creditsRequired"], body["creditsAvailable"]) == (15, 14)
    if name == "vydra":
        assert body["creditsRequired"] == 150 and body["creditsRemaining"] == pytest.approx(148.5)
    if name == "aivideoapi":
        assert body["error"]["code"] == "insufficient_credits"
    entry = stats(emu, name)
    assert (entry["submissions"], entry["rejected"]) == (0, 1)
    assert entry["balance"] == pytest.approx(api.price * 0.99)
    emu.set_credits(name, api.price)
    assert submit(emu, http, api).status_code == api.submit_status


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_job_is_404(emu: Emulator, http: httpx.Client, name: str) -> None:
    api = APIS[name]
    unknown = "3f1c9d2e-8a4b-4c6d-9e0f-123456789abc" if name == "apiframe" else "nope"
    answer = http.get(emu.base_url(name) + api.poll_path(unknown), headers=api.headers())
    body = assert_error_shape(api, answer, 404)
    if name == "vydra":
        assert body["code"] == "JOB_NOT_FOUND"
    if name == "aivideoapi":
        assert body["error"]["code"] == "task_not_found"


def test_apiframe_answers_400_to_a_job_id_that_is_not_a_uuid(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["apiframe"]
    answer = http.get(emu.base_url("apiframe") + api.poll_path("nope"), headers=api.headers())
    assert assert_error_shape(api, answer, 400)["error"] == "`id` is not a valid UUID"


def test_an_unknown_provider_or_route_is_404(emu: Emulator, http: httpx.Client) -> None:
    assert http.get(f"{emu.url}/midjourney/v1/x").status_code == 404
    api = APIS["apiframe"]
    unknown_route = http.get(emu.base_url("apiframe") + "/v9/nothing", headers=api.headers())
    assert unknown_route.status_code == 404
    cancel = http.delete(emu.base_url("apiframe") + "/v2/jobs/x", headers=api.headers())
    assert cancel.status_code == 404  # APIFrame has no cancel route
    with pytest.raises(KeyError):
        emu.base_url("midjourney")
    with pytest.raises(KeyError):
        emu.api_key("midjourney")


# --- jobs that fail ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_failed_job_is_refunded_where_the_provider_refunds(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(failure_rate=1.0)
    answer = poll(emu, http, api, submitted_id(emu, http, api))
    assert answer["status"] == api.failed
    assert "moderation" not in json.dumps(answer).lower()
    entry = stats(emu, name)
    kept = api.price if api.charged_at_submit and not api.refunds else 0.0
    assert entry["balance"] == pytest.approx(DEFAULT_CREDITS[name] - kept)
    assert entry["credits_refunded"] == pytest.approx(api.price if api.refunds else 0.0)
    assert entry["jobs"] == {"failed": 1} and entry["paid"] == (1 if kept else 0)
    if name == "xai":  # failures come as HTTP 200 with an error object
        assert set(answer["error"]) == {"code", "message"}
    if name == "aimlapi":
        assert set(answer["error"]) == {"name", "message"} and answer["video"] is None


@pytest.mark.parametrize("name", NAMES)
def test_a_moderated_job_says_so(emu: Emulator, http: httpx.Client, name: str) -> None:
    api = APIS[name]
    emu.configure(moderation_rate=1.0)
    answer = poll(emu, http, api, submitted_id(emu, http, api))
    if name == "xai":  # done, with no URL, and billed all the same (providers.md)
        assert answer["status"] == "done"
        assert answer["video"]["respect_moderation"] is False and "url" not in answer["video"]
        assert answer["usage"]["cost_in_usd_ticks"] == 2_800_000_000
        assert stats(emu, name)["credits_charged"] == pytest.approx(api.price)
    else:
        assert answer["status"] == api.failed
        assert "moderation" in json.dumps(answer).lower()
    assert stats(emu, name)["jobs"] == {"moderated": 1}


def test_the_same_seed_draws_the_same_fates(http: httpx.Client) -> None:
    def fates() -> list[str]:
        api = APIS["aivideoapi"]
        with Emulator(EmulatorConfig(latency=0, seed=11, failure_rate=0.5)) as emu:
            return [poll(emu, http, api, submitted_id(emu, http, api))["status"] for _ in range(12)]

    first = fates()
    assert first == fates() and len(set(first)) == 2


# --- admin, concurrency, serve ------------------------------------------------------------------


def test_admin_stats_config_and_reset(emu: Emulator, http: httpx.Client) -> None:
    submitted_id(emu, http, APIS["vydra"])
    over_http = http.get(f"{emu.url}/_emulator/stats").json()
    assert over_http == emu.stats()
    assert set(over_http["providers"]) == set(PROVIDERS)
    assert over_http["totals"]["submissions"] == 1
    assert set(over_http["providers"]["vydra"]) >= {
        "submissions", "paid", "duplicates", "replays", "polls", "list_requests", "cancels",
        "downloads", "rate_limited", "server_errors", "server_errors_created", "lost_responses",
        "rejected", "credits_charged", "credits_refunded", "balance", "jobs", "polls_per_job",
        "detected", "detection_delay_mean", "detection_delay_max",
    }  # fmt: skip
    changed = http.post(f"{emu.url}/_emulator/config", json={"failure_rate": 1, "url_ttl": 5})
    assert changed.status_code == 200 and changed.json()["config"]["failure_rate"] == 1.0
    assert emu.config.url_ttl == 5.0
    for bad in (
        {"nonsense": 1}, {"failure_rate": 2}, {"latency": "slow"}, {"state_file": "x.db"},
        {"api_key": ""}, {"xai_empty_202_rate": 1.5}, [1],
    ):  # fmt: skip
        answer = http.post(f"{emu.url}/_emulator/config", json=bad)
        assert answer.status_code == 400, bad
    assert emu.config.failure_rate == 1.0
    http.post(f"{emu.url}/_emulator/config", json={"credits": {"vydra": 100}})
    assert_error_shape(APIS["vydra"], submit(emu, http, APIS["vydra"]), 402)
    assert http.post(f"{emu.url}/_emulator/reset").status_code == 200
    after = emu.stats()
    assert after["totals"]["submissions"] == 0 and after["providers"]["vydra"]["balance"] == 100
    assert http.get(f"{emu.url}/_emulator/nothing").status_code == 404


def test_credits_may_be_one_number_or_per_provider() -> None:
    assert EmulatorConfig(credits=5).balance_for("xai") == 5
    per = EmulatorConfig(credits={"xai": 3})
    assert per.balance_for("xai") == 3 and per.balance_for("vydra") == DEFAULT_CREDITS["vydra"]
    with Emulator(EmulatorConfig(credits={"apiframe": 20})) as emu:
        assert emu.stats()["providers"]["apiframe"]["balance"] == 20
        with pytest.raises(KeyError):
            emu.set_credits("midjourney", 1)


@pytest.mark.slow
def test_many_concurrent_connections_are_all_served(emu: Emulator) -> None:
    emu.configure(latency=0.05)
    api = APIS["vydra"]
    base = emu.base_url("vydra")
    limits = httpx.Limits(max_connections=150, max_keepalive_connections=150)

    def run(i: int, http: httpx.Client) -> str:
        body = api.body | {"prompt": f"Lamp {i}"}
        job_id = api.job_id(http.post(base + api.submit_path, json=body, headers=api.headers())
                            .json())  # fmt: skip
        for _ in range(50):
            status = str(poll(emu, http, api, job_id)["status"])
            if status == "completed":
                return status
            time.sleep(0.02)
        return status

    with httpx.Client(timeout=10.0, limits=limits) as http, ThreadPoolExecutor(150) as pool:
        done = list(pool.map(lambda i: run(i, http), range(300)))
    assert done == ["completed"] * 300
    entry = stats(emu, "vydra")
    assert (entry["submissions"], entry["duplicates"], entry["paid"]) == (300, 0, 300)


def test_serve_prints_every_base_url_and_stops_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("grokbatch.emulator.time.sleep", interrupt)
    serve(EmulatorConfig(), port=0)
    out = capsys.readouterr().out
    root = out.split(" on ")[1].split()[0]
    for name in PROVIDERS:
        assert f"GROKBATCH_{name.upper()}_BASE_URL={root}/{name}" in out
        assert DEFAULT_KEYS[name] in out  # which key to use is part of the instructions
    assert f"{root}/_emulator/stats" in out
