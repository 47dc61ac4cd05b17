"""List and lookup endpoints, by raw HTTP: how a lost submit is found, and which jobs ended.

AI/ML API's `/v2/logs` with `X-Client-Request-Id`, Vydra's job list and cancel, APIFrame's
job list with its cursor; and the stats a poll scheduler is measured by (polls per job,
list requests, detection delay), and the latency spread.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from grokbatch.emulator import Emulator

from .emulator_kit import APIS, Json, assert_error_shape, poll, stats, submit, submitted_id

pytestmark = pytest.mark.emulator(latency=0.0, seed=7, retry_after=0.5)  # done at the first poll

AIML = APIS["aimlapi"]
VYDRA = APIS["vydra"]
FRAME = APIS["apiframe"]


def logs(emu: Emulator, http: httpx.Client, query: str = "period=24h") -> httpx.Response:
    return http.get(f"{emu.base_url('aimlapi')}/v2/logs?{query}", headers=AIML.headers())


def listed(emu: Emulator, http: httpx.Client, name: str, path: str) -> httpx.Response:
    return http.get(emu.base_url(name) + path, headers=APIS[name].headers())


# --- AI/ML API: X-Client-Request-Id and /v2/logs ----------------------------------------------


def test_aimlapi_keeps_a_valid_client_request_id_and_silently_drops_others(
    emu: Emulator, http: httpx.Client
) -> None:
    sent = {"job-1.a_b:c-D": True, "has space": False, "x" * 129: False, "x" * 128: True,
            "a/b": False}  # fmt: skip
    ids = {}
    for value, kept in sent.items():
        answer = submit(emu, http, AIML, AIML.body | {"prompt": value[:20]},
                        {"X-Client-Request-Id": value})  # fmt: skip
        assert answer.status_code == 200  # a malformed id never fails the request
        assert answer.headers["x-inference-id"] == answer.json()["id"]
        assert answer.headers.get("x-client-request-id") == (value if kept else None)
        ids[answer.json()["id"]] = value if kept else None
    polled = http.get(emu.base_url("aimlapi") + AIML.poll_path(next(iter(ids))),
                      headers=AIML.headers())  # fmt: skip
    assert polled.headers["x-inference-id"] == next(iter(ids))
    rows = logs(emu, http).json()["data"]
    assert {r["inference_id"]: r["client_request_id"] for r in rows} == ids
    assert [r["inference_id"] for r in rows] == list(reversed(ids))  # newest first


def test_aimlapi_logs_a_generation_once_it_completed_plus_log_delay(
    emu: Emulator, http: httpx.Client
) -> None:
    emu.configure(latency=0.2, log_delay=0.2)
    job_id = submitted_id(emu, http, AIML)
    assert logs(emu, http).json() == {
        "data": [], "pagination": {"limit": 50, "offset": 0, "total": 0, "has_more": False}
    }  # fmt: skip
    time.sleep(0.25)
    assert poll(emu, http, AIML, job_id)["status"] == "completed"
    assert logs(emu, http).json()["data"] == []  # completed, but not yet in the logs
    time.sleep(0.2)
    [row] = logs(emu, http).json()["data"]
    assert set(row) == {"created", "status", "origin", "model", "cost", "tokens", "request_id",
                        "inference_id", "client_request_id"}  # fmt: skip
    assert row["status"] == "succeeded" and row["inference_id"] == job_id
    assert row["cost"] == {"usd": 0.15, "credits": 300_000} and row["origin"] == "api"
    assert row["model"] == "x-ai/grok-imagine-video" and row["client_request_id"] is None
    assert row["created"].endswith("Z") and row["request_id"]


def test_aimlapi_logs_filter_and_page_as_documented(emu: Emulator, http: httpx.Client) -> None:
    for i in range(5):
        submitted_id(emu, http, AIML, AIML.body | {"prompt": f"Lamp {i}"})
    emu.configure(failure_rate=1.0)
    submitted_id(emu, http, AIML, AIML.body | {"prompt": "Doomed"})
    page = logs(emu, http, "period=1h&limit=2&offset=2").json()
    assert page["pagination"] == {"limit": 2, "offset": 2, "total": 6, "has_more": True}
    last = logs(emu, http, "period=1h&limit=2&offset=4").json()
    assert last["pagination"]["has_more"] is False and len(last["data"]) == 2
    [failed] = logs(emu, http, "period=7d&status=failed").json()["data"]
    assert failed["cost"] == {"usd": 0, "credits": 0}
    both = logs(emu, http, "period=1d&status=succeeded&status=failed").json()
    assert both["pagination"]["total"] == 6
    model = "model=x-ai/grok-imagine-video&model=openai/gpt-5"
    assert logs(emu, http, f"period=1d&{model}").json()["pagination"]["total"] == 6
    assert logs(emu, http, "period=1d&model=openai/gpt-5").json()["data"] == []
    # a comma is part of one literal name: nothing matches, and it is no error
    assert logs(emu, http, "period=1d&model=x-ai/grok-imagine-video,a").json()["data"] == []
    window = "start=2000-01-01T00:00:00Z&end=2000-02-01T00:00:00"
    assert logs(emu, http, window).json()["data"] == []
    assert logs(emu, http, "period=24h").json()["pagination"]["total"] == 6


BAD_LOG_QUERIES = [
    "",  # neither period nor start and end
    "period=24h&start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z",  # both
    "period=24",
    "period=0h",
    "period=93d",
    "start=2026-01-01T00:00:00Z",
    "start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
    "start=2026-01-01T00:00:00Z&end=2026-06-01T00:00:00Z",  # over 92 days
    "start=yesterday&end=today",
    "period=24h&status=succeeded,failed",
    "period=24h&status=done",
    "period=24h&limit=0",
    "period=24h&limit=101",
    "period=24h&offset=-1",
    "period=24h&" + "&".join(f"model=m{i}" for i in range(51)),
]


@pytest.mark.parametrize("query", BAD_LOG_QUERIES)
def test_aimlapi_logs_refuse_a_bad_query(emu: Emulator, http: httpx.Client, query: str) -> None:
    body = assert_error_shape(AIML, logs(emu, http, query), 400)
    assert body["path"] == "/v2/logs"


def test_aimlapi_logs_are_the_callers_own_and_rate_limited(
    emu: Emulator, http: httpx.Client
) -> None:
    assert logs(emu, http, "period=1d&key_prefix=aiml-").status_code == 200
    assert_error_shape(AIML, logs(emu, http, "period=1d&key_prefix=other"), 403)
    codes = [logs(emu, http).status_code for _ in range(200)]
    assert codes.count(200) == 198 and codes[-1] == 429  # 200 requests per 60 s
    entry = stats(emu, "aimlapi")
    assert entry["list_requests"] == 200 and entry["rate_limited"] == 2


# --- Vydra: the jobs list and cancel ----------------------------------------------------------


def test_vydra_lists_jobs_newest_first_and_by_status(emu: Emulator, http: httpx.Client) -> None:
    emu.configure(latency=30.0)
    running = submitted_id(emu, http, VYDRA)
    emu.configure(latency=0.0, failure_rate=1.0)
    failed = submitted_id(emu, http, VYDRA, VYDRA.body | {"prompt": "Doomed"})
    emu.configure(failure_rate=0.0)
    done = [submitted_id(emu, http, VYDRA, VYDRA.body | {"prompt": f"L{i}"}) for i in range(3)]
    everything = listed(emu, http, "vydra", "/api/v1/jobs").json()["data"]
    assert [r["id"] for r in everything] == [*reversed(done), failed, running]
    assert set(everything[0]) >= {
        "id", "status", "progress", "workflowSlug", "statusMessage", "creditsCharged",
        "createdAt", "completedAt", "output",
    }  # fmt: skip
    assert everything[0]["output"]["videoUrl"].startswith(emu.url)
    by = {s: [r["id"] for r in listed(emu, http, "vydra", f"/api/v1/jobs?status={s}").json()
              ["data"]] for s in ("pending", "running", "completed", "failed")}  # fmt: skip
    assert by["completed"] == list(reversed(done)) and by["failed"] == [failed]
    assert by["pending"] + by["running"] == [running]
    page = listed(emu, http, "vydra", "/api/v1/jobs?limit=2&offset=1").json()["data"]
    assert [r["id"] for r in page] == [done[1], done[0]]
    for bad in ("limit=0", "limit=101", "offset=x", "status=cancelled", "status=COMPLETED"):
        answer = listed(emu, http, "vydra", f"/api/v1/jobs?{bad}")
        assert assert_error_shape(VYDRA, answer, 400)["code"] == "INVALID_INPUT", bad


def test_vydra_cancels_a_running_job_without_a_refund(emu: Emulator, http: httpx.Client) -> None:
    emu.configure(latency=30.0)
    job_id = submitted_id(emu, http, VYDRA)
    url = emu.base_url("vydra") + f"/api/v1/jobs/{job_id}"
    cancelled = http.delete(url, headers=VYDRA.headers())
    assert cancelled.status_code == 200
    assert cancelled.json() == {"id": job_id, "status": "cancelled", "message": "Job cancelled"}
    after = poll(emu, http, VYDRA, job_id)
    assert after["status"] == "cancelled" and after["output"] is None
    again = http.delete(url, headers=VYDRA.headers())
    assert assert_error_shape(VYDRA, again, 409)["code"] == "JOB_NOT_CANCELLABLE"
    unknown = http.delete(emu.base_url("vydra") + "/api/v1/jobs/job_0", headers=VYDRA.headers())
    assert_error_shape(VYDRA, unknown, 404)
    entry = stats(emu, "vydra")
    # The docs say nothing of a refund: none is made.
    assert (entry["cancels"], entry["credits_charged"], entry["credits_refunded"]) == (1, 150, 0)
    assert entry["jobs"] == {"cancelled": 1}
    emu.configure(latency=0.0)
    submitted_id(emu, http, VYDRA)  # the same body again, after a cancel: no duplicate
    assert stats(emu, "vydra")["duplicates"] == 0


# --- APIFrame: GET /v2/jobs with a cursor -----------------------------------------------------


def test_apiframe_lists_jobs_newest_first_page_by_page(emu: Emulator, http: httpx.Client) -> None:
    ids = [submitted_id(emu, http, FRAME, FRAME.body | {"prompt": f"L{i}"}) for i in range(7)]
    seen: list[str] = []
    cursor = ""
    for _ in range(4):
        page = listed(emu, http, "apiframe", f"/v2/jobs?limit=3{cursor}").json()
        seen += [j["id"] for j in page["jobs"]]
        assert page["hasMore"] == (page["nextCursor"] is not None)
        if not page["hasMore"]:
            break
        cursor = f"&cursor={page['nextCursor']}"
    assert seen == list(reversed(ids))
    one = listed(emu, http, "apiframe", f"/v2/jobs?search={ids[2]}").json()["jobs"]
    assert [j["id"] for j in one] == [ids[2]] and one[0]["status"] == "COMPLETED"
    assert "input" not in one[0] and one[0]["expired"] is False
    models = listed(emu, http, "apiframe", "/v2/jobs?include_models=true").json()
    assert models["models"] == ["grok-imagine-video"]
    none = listed(emu, http, "apiframe", "/v2/jobs?status=FAILED&model=grok-imagine-video")
    assert none.json() == {"jobs": [], "nextCursor": None, "hasMore": False}


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "status=done", "cursor=!!", "search=x", "scope=all"]
)
def test_apiframe_list_refuses_a_bad_query(emu: Emulator, http: httpx.Client, query: str) -> None:
    answer = listed(emu, http, "apiframe", f"/v2/jobs?{query}")
    assert assert_error_shape(FRAME, answer, 400)["error"] == "Invalid query parameters"


def test_apiframe_team_scope_is_for_admins(emu: Emulator, http: httpx.Client) -> None:
    assert_error_shape(FRAME, listed(emu, http, "apiframe", "/v2/jobs?scope=team"), 403)


# --- what a poll scheduler is measured by -----------------------------------------------------


def test_stats_count_polls_per_job_list_requests_and_detection_delay(
    emu: Emulator, http: httpx.Client
) -> None:
    emu.configure(latency=0.1)
    polled = submitted_id(emu, http, VYDRA)
    submitted_id(emu, http, VYDRA, VYDRA.body | {"prompt": "Found by the list"})
    assert poll(emu, http, VYDRA, polled)["status"] == "pending"  # not yet: no detection
    time.sleep(0.35)
    assert poll(emu, http, VYDRA, polled)["status"] == "completed"
    time.sleep(0.2)
    listed(emu, http, "vydra", "/api/v1/jobs?status=completed")  # finds the other one
    poll(emu, http, VYDRA, polled)  # a later report changes nothing
    entry = stats(emu, "vydra")
    assert (entry["polls"], entry["list_requests"], entry["polls_per_job"]) == (3, 1, 1.5)
    assert entry["detected"] == 2
    # Finished 0.1 s after submit; first reported ≥ 0.35 s and ≥ 0.55 s after it.
    assert entry["detection_delay_max"] >= 0.45
    assert entry["detection_delay_mean"] >= 0.3


def test_each_jobs_latency_is_drawn_within_the_jitter(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["pixeldojo"]
    emu.configure(latency=1000.0, latency_jitter=500.0, url_ttl=0.0)
    ends: list[float] = []
    for i in range(12):
        before = time.time()
        body: Json = submit(emu, http, api, api.body | {"prompt": f"L{i}"}).json()
        stamp: Any = time.strptime(body["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")
        ends.append(time.mktime(stamp) - time.timezone - before)  # the job's latency, ±1 s
    assert all(499 <= e <= 1501 for e in ends)
    assert max(ends) - min(ends) > 200  # spread, not one value
