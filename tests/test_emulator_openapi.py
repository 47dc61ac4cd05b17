"""The emulator's answers and refusals against the providers' own OpenAPI files.

AI/ML API's and APIFrame's files are in tests/specs (copies of the project's shared specs):
every answer shape is validated against them, and every request body the files accept or
reject is accepted or rejected alike.
"""

from __future__ import annotations

import time

import httpx
import pytest
from jsonschema import Draft202012Validator

from grokbatch.emulator import Emulator

from .emulator_kit import APIS, Json, frame_video_url, poll, submit, submitted_id
from .openapi import (
    AIML_FETCH_FILE,
    AIML_FILE,
    AIML_POLL,
    AIML_REQUEST,
    AIML_SUBMIT,
    FRAME_FILE,
)
from .openapi import openapi_schema as schema

pytestmark = pytest.mark.emulator(latency=0.0, seed=7, retry_after=0.5)  # done at the first poll


def frame(name: str) -> Draft202012Validator:
    return schema(FRAME_FILE, f"/components/schemas/{name}")


def test_aimlapi_answers_match_its_openapi(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["aimlapi"]
    submitted, polled = (
        schema(AIML_FILE, AIML_SUBMIT),
        schema(AIML_FETCH_FILE, AIML_POLL),
    )
    emu.configure(latency=0.3)
    answer = submit(emu, http, api).json()
    submitted.validate(answer)
    statuses = set()
    for _ in range(60):
        body = poll(emu, http, api, answer["id"])
        polled.validate(body)
        statuses.add(body["status"])
        if body["status"] == "completed":
            break
        time.sleep(0.02)
    assert statuses == {"queued", "generating", "completed"}
    emu.configure(latency=0.0, failure_rate=1.0)
    failed = poll(emu, http, api, submit(emu, http, api).json()["id"])
    polled.validate(failed)
    assert failed["status"] == "error"


def test_apiframe_answers_match_its_openapi(emu: Emulator, http: httpx.Client) -> None:
    api = APIS["apiframe"]
    emu.configure(latency=0.3)
    accepted = submit(emu, http, api)
    frame("JobAccepted").validate(accepted.json())
    job_id = accepted.json()["jobId"]
    frame("Job").validate(poll(emu, http, api, job_id))  # QUEUED
    time.sleep(0.35)
    done = poll(emu, http, api, job_id)
    frame("Job").validate(done)
    assert done["status"] == "COMPLETED" and frame_video_url(done["result"]).startswith(emu.url)
    emu.configure(latency=0.0, failure_rate=1.0)
    frame("Job").validate(poll(emu, http, api, submitted_id(emu, http, api)))
    frame("ValidationError").validate(submit(emu, http, api, {"model": "x"}).json())
    error = frame("ErrorResponse")
    error.validate(http.post(emu.base_url("apiframe") + api.submit_path, json=api.body).json())
    error.validate(http.get(emu.base_url("apiframe") + "/v2/jobs/x", headers=api.headers()).json())
    listed = http.get(emu.base_url("apiframe") + "/v2/jobs", headers=api.headers())
    frame("JobList").validate(listed.json())
    assert len(listed.json()["jobs"]) == 2
    bad_query = http.get(emu.base_url("apiframe") + "/v2/jobs?limit=0", headers=api.headers())
    assert bad_query.status_code == 400
    frame("ValidationError").validate(bad_query.json())
    emu.configure(rate_limit_rate=1.0)
    error.validate(submit(emu, http, api).json())
    emu.configure(rate_limit_rate=0.0, server_error_rate=1.0)
    unavailable = submit(emu, http, api)
    assert unavailable.status_code == 503
    error.validate(unavailable.json())
    emu.configure(server_error_rate=0.0)
    emu.set_credits("apiframe", 3)
    frame("InsufficientCredits").validate(submit(emu, http, api).json())


SPEC_REJECTS = [
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video", "duration": 30}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "other"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"prompt": "no model"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video",
                                         "reference_images": []}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video",
                                         "aspect_ratio": "21:9"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video",
                                         "resolution": "4k"}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": ""}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video"}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x", "grokImagineVideoParams": {"duration": 7}}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x", "extra": 1}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x", "webhookEvents": []}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x",
      "grokImagineVideoParams": {"reference_images": ["https://e.example/a"] * 8}}),
]  # fmt: skip
SPEC_ACCEPTS = [
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video"}),
    ("aimlapi", AIML_FILE, AIML_REQUEST, {"model": "x-ai/grok-imagine-video", "prompt": "x",
                                         "image_url": "https://e.example/a.png",
                                         "resolution": "1080p", "duration": 15}),
    ("apiframe", FRAME_FILE, "/components/schemas/GenerateVideoRequest",
     {"model": "grok-imagine-video", "prompt": "x" * 5000,
      "grokImagineVideoParams": {"duration": 15, "aspect_ratio": "3:2",
                                 "reference_images": ["https://e.example/a"]},
      "webhookUrl": "https://e.example/hook", "webhookEvents": ["completed"]}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "pointer", "body"), SPEC_REJECTS + SPEC_ACCEPTS)
def test_the_emulator_agrees_with_the_openapi_request_schemas(
    emu: Emulator, http: httpx.Client, name: str, spec: str, pointer: str, body: Json
) -> None:
    api = APIS[name]
    valid = schema(spec, pointer).is_valid(body)
    answer = submit(emu, http, api, body)
    assert answer.status_code == (api.submit_status if valid else 400), answer.text
