"""Faults and the live APIs' awkward answers, by raw HTTP: what a client must survive.

xAI's 202 polls (empty or not), its 400 for a wrong key and its two "out of credits"
answers; 429s and 5xx in each provider's shape, a 5xx on a submit that may have created
the job; lost answers; outputs purged after `url_ttl`; idempotency keys and duplicates.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from grokbatch.emulator import Emulator

from .emulator_kit import (
    APIS,
    NAMES,
    assert_error_shape,
    poll,
    stats,
    submit,
    submitted_id,
)

pytestmark = pytest.mark.emulator(latency=0.0, seed=7, retry_after=0.5)  # done at the first poll

NO_CREDITS = (
    "has either used all available credits or reached its monthly spending limit. To continue "
    "making API requests, please purchase more credits or raise your spending limit."
)

# --- xAI as the live API answers ------------------------------------------------------------


def test_xai_answers_202_while_a_job_runs_with_an_empty_body_or_a_pending_one(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["xai"]
    emu.configure(latency=30.0)
    job_id = submitted_id(emu, http, api)
    url = emu.base_url("xai") + api.poll_path(job_id)
    answers = [http.get(url, headers=api.headers()) for _ in range(40)]
    assert {a.status_code for a in answers} == {202}
    empty = [a for a in answers if not a.content]
    full = [a.json() for a in answers if a.content]
    assert 8 < len(empty) < 32  # the default mix: some of each
    assert all("content-type" not in a.headers for a in empty)
    assert all(b["status"] == "pending" and 0 <= b["progress"] <= 99 for b in full)
    emu.configure(xai_empty_202_rate=1.0)
    assert not http.get(url, headers=api.headers()).content
    emu.configure(xai_empty_202_rate=0.0)
    assert http.get(url, headers=api.headers()).json()["status"] == "pending"
    assert stats(emu, "xai")["polls"] == 42


def test_xai_out_of_credits_is_429_or_403_naming_the_teams_credits(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["xai"]
    emu.set_credits("xai", 0.01)
    seen = {}
    for _ in range(20):
        answer = submit(emu, http, api)
        body = assert_error_shape(api, answer, answer.status_code)
        seen[answer.status_code] = body
    assert set(seen) == {403, 429}
    assert seen[403]["code"] == "permission-denied"
    assert seen[429]["code"] == "resource-exhausted"
    for body in seen.values():
        assert body["error"].startswith("Your team ") and body["error"].endswith(NO_CREDITS)
    emu.set_credits("xai", 100.0)
    emu.configure(rate_limit_rate=1.0)  # an ordinary rate limit says something else
    limited = assert_error_shape(api, submit(emu, http, api), 429)
    assert limited["error"].startswith("Too many requests for team ")
    assert "credits" not in limited["error"]
    assert stats(emu, "xai")["submissions"] == 0


# --- 429 and 5xx ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_rate_limits_and_server_errors_in_the_providers_shape(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    job_id = submitted_id(emu, http, api)
    emu.configure(rate_limit_rate=1.0)
    for answer in (submit(emu, http, api), http.get(
        emu.base_url(name) + api.poll_path(job_id), headers=api.headers()
    )):  # fmt: skip
        body = assert_error_shape(api, answer, 429)
        assert ("retry-after" in answer.headers) == api.retry_after
        if api.retry_after:
            assert float(answer.headers["retry-after"]) == 0.5
        if name == "vydra":
            assert body["code"] == "RATE_LIMIT_EXCEEDED"
        if name == "aivideoapi":
            assert body["error"]["code"] == "rate_limit_exceeded"
    emu.configure(rate_limit_rate=0.0, server_error_rate=1.0)
    codes = set()
    for _ in range(12):
        answer = submit(emu, http, api)
        assert_error_shape(api, answer, answer.status_code)
        codes.add(answer.status_code)
    entry = stats(emu, name)
    assert (entry["rate_limited"], entry["server_errors"]) == (2, 12)
    assert entry["submissions"] == 1 + entry["server_errors_created"]
    if name == "apiframe":  # its OpenAPI file: a 503 is a queue or database outage
        assert codes == {503} and entry["server_errors_created"] == 0
    else:  # a 5xx may come after the job was created and charged, like a lost answer
        assert {500, 503} <= codes and 0 < entry["server_errors_created"] < 12


def test_a_5xx_that_created_the_job_charged_it_and_a_resend_pays_twice(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["vydra"]
    emu.configure(server_error_rate=1.0)
    while stats(emu, "vydra")["server_errors_created"] == 0:
        assert submit(emu, http, api).status_code >= 500
    emu.configure(server_error_rate=0.0)
    entry = stats(emu, "vydra")
    assert entry["credits_charged"] == 150 * entry["submissions"]
    submitted_id(emu, http, api)
    assert stats(emu, "vydra")["duplicates"] == entry["submissions"]


def test_rates_between_zero_and_one_hit_about_that_often(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["xai"]
    emu.configure(rate_limit_rate=0.3, server_error_rate=0.2)
    codes = [submit(emu, http, api).status_code for _ in range(200)]
    limited, failed = codes.count(429), sum(1 for c in codes if c >= 500)
    assert 35 < limited < 85 and 15 < failed < 60
    entry = stats(emu, "xai")
    assert entry["submissions"] == codes.count(200) + entry["server_errors_created"]


@pytest.mark.parametrize("name", NAMES)
def test_a_lost_answer_still_created_and_charged_the_job(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(lost_response_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        submit(emu, http, api)
    entry = stats(emu, name)
    assert (entry["submissions"], entry["lost_responses"]) == (1, 1)
    # Billed at submit, or (AI/ML, xAI) at completion, which latency 0 makes immediate.
    assert entry["credits_charged"] == pytest.approx(api.price)
    emu.configure(lost_response_rate=0.0)
    assert submit(emu, http, api).status_code == api.submit_status  # the connection recovers
    assert stats(emu, name)["duplicates"] == 1  # the blind resend paid for the clip twice


def test_request_latency_delays_every_answer(emu: Emulator, http: httpx.Client) -> None:
    emu.configure(request_latency=0.2)
    began = time.monotonic()
    submit(emu, http, APIS["vydra"])
    assert time.monotonic() - began >= 0.2


# --- outputs purged after url_ttl -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_an_output_is_purged_url_ttl_after_its_job_ended(
    emu: Emulator, http: httpx.Client, name: str
) -> None:
    api = APIS[name]
    emu.configure(url_ttl=0.3)
    job_id = submitted_id(emu, http, api)
    before = poll(emu, http, api, job_id)
    url = api.url(before)
    assert http.get(url).status_code == 200
    assert api.url(poll(emu, http, api, job_id)) == url  # the same URL until it is purged
    time.sleep(0.35)
    gone = http.get(url)
    after = poll(emu, http, api, job_id)
    if name == "apiframe":  # `expired: true`; its OpenAPI file: result URLs "may 404"
        assert gone.status_code == 404
        assert after["status"] == "COMPLETED" and after["expired"] is True
        assert before["expired"] is False
    else:
        assert gone.status_code == 410
    if name == "xai":  # the live API's own status; paid, and not refunded
        assert after == {"status": "expired", "model": "grok-imagine-video"}
        assert stats(emu, "xai")["credits_charged"] == pytest.approx(api.price)
    elif name != "apiframe":
        assert after["status"] == api.walk[-1]  # nothing else tells [guess]
    entry = stats(emu, name)
    assert entry["jobs"] == {"expired": 1} and entry["downloads"] == 1
    assert entry["credits_refunded"] == 0


def test_pixeldojo_expires_at_says_when_the_output_goes(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["pixeldojo"]
    emu.configure(url_ttl=7200.0)
    before = time.time()
    accepted = submit(emu, http, api).json()
    polled = poll(emu, http, api, accepted["jobId"])
    stamp = time.mktime(time.strptime(accepted["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 7200 - 2 <= stamp <= time.time() + 7200 + 1
    assert polled["expiresAt"] == accepted["expiresAt"]


def test_a_forged_or_foreign_file_url_is_refused(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["vydra"]
    emu.configure(failure_rate=1.0)
    failed_id = submitted_id(emu, http, api)
    emu.configure(failure_rate=0.0)
    good = api.url(poll(emu, http, api, submitted_id(emu, http, api)))
    forged = good.replace("expires=", "expires=9").split("&sig=")[0] + "&sig=0"
    assert http.get(forged).status_code == 403
    stolen = good.replace(good.split("/")[-1].split(".")[0], failed_id)
    assert http.get(stolen).status_code in (403, 404)  # a failed job has no file
    assert stats(emu, "vydra")["downloads"] == 0


# --- idempotency and duplicates ----------------------------------------------------------------
def test_apiframe_replays_an_idempotency_key_and_refuses_it_for_another_body(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["apiframe"]
    key = {"Idempotency-Key": "job-1"}
    first = submit(emu, http, api, headers=key)
    again = submit(emu, http, api, headers=key)
    assert again.status_code == 202 and again.json()["jobId"] == first.json()["jobId"]
    other = api.body | {"prompt": "Something else"}
    conflict = submit(emu, http, api, other, key)
    assert_error_shape(api, conflict, 409)
    too_long = submit(emu, http, api, other, {"Idempotency-Key": "k" * 256})
    assert_error_shape(api, too_long, 400)
    entry = stats(emu, "apiframe")
    assert (entry["submissions"], entry["replays"], entry["duplicates"]) == (1, 1, 0)
    assert entry["credits_charged"] == 15


def test_concurrent_submits_with_one_key_create_one_job(emu: Emulator) -> None:
    api = APIS["apiframe"]
    url = emu.base_url("apiframe") + api.submit_path
    headers = api.headers() | {"Idempotency-Key": "same"}
    with httpx.Client(timeout=5.0) as http, ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda _: http.post(url, json=api.body, headers=headers), range(32))
        )
    assert len({a.json()["jobId"] for a in answers}) == 1
    entry = stats(emu, "apiframe")
    assert (entry["submissions"], entry["replays"], entry["duplicates"]) == (1, 31, 0)


def test_duplicates_count_clips_paid_twice_and_nothing_else(
    emu: Emulator, http: httpx.Client
) -> None:
    vydra, xai, pixel = APIS["vydra"], APIS["xai"], APIS["pixeldojo"]
    submitted_id(emu, http, vydra)
    submitted_id(emu, http, vydra)  # same body, paid again
    submitted_id(emu, http, vydra, vydra.body | {"prompt": "Another lamp"})  # not the same
    assert stats(emu, "vydra")["duplicates"] == 1
    # Key order does not make a body different.
    submitted_id(emu, http, vydra, dict(reversed(list(vydra.body.items()))))
    assert stats(emu, "vydra")["duplicates"] == 2
    # Billed at completion: counted once both are done and paid.
    poll(emu, http, xai, submitted_id(emu, http, xai))
    poll(emu, http, xai, submitted_id(emu, http, xai))
    assert stats(emu, "xai")["duplicates"] == 1
    # A resubmission after a failure is not a duplicate, refunded (Vydra) or not (PixelDojo).
    emu.reset()
    emu.configure(failure_rate=1.0)
    poll(emu, http, vydra, submitted_id(emu, http, vydra))
    poll(emu, http, pixel, submitted_id(emu, http, pixel))
    emu.configure(failure_rate=0.0)
    poll(emu, http, vydra, submitted_id(emu, http, vydra))
    poll(emu, http, pixel, submitted_id(emu, http, pixel))
    totals = emu.stats()["totals"]
    assert (totals["submissions"], totals["duplicates"], totals["paid"]) == (4, 0, 3)


def test_a_twin_sent_while_the_first_runs_stops_counting_once_the_first_is_refunded(
    emu: Emulator, http: httpx.Client
) -> None:
    api = APIS["aivideoapi"]
    emu.configure(latency=0.3, failure_rate=1.0)
    first = submitted_id(emu, http, api)
    emu.configure(failure_rate=0.0)
    submitted_id(emu, http, api)
    assert stats(emu, "aivideoapi")["duplicates"] == 1  # both paid for now
    time.sleep(0.35)
    assert poll(emu, http, api, first)["status"] == "failed"
    assert stats(emu, "aivideoapi")["duplicates"] == 0


def test_the_5xx_answers_to_submits_are_counted_apart(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["aimlapi"]
    job_id = submitted_id(emu, http, api)
    emu.configure(server_error_rate=1.0)
    for _ in range(3):
        assert submit(emu, http, api).status_code >= 500
    url = emu.base_url("aimlapi") + api.poll_path(job_id)
    assert http.get(url, headers=api.headers()).status_code >= 500
    entry = stats(emu, "aimlapi")
    assert (entry["server_errors"], entry["submit_server_errors"]) == (4, 3)
