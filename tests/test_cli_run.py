"""The commands a new user types after install: run --sandbox, status, report, export, emulate."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from grokbatch.cli import main

MANIFEST = """\
name: first-five-minutes
provider: aivideoapi
prompts:
  - {id: lamp, template: "A {{ style }} shot of a desk lamp"}
matrix:
  style: [cinematic, watercolor, claymation]
output:
  path: "{{ prompt.id }}/{{ style }}.mp4"
limits: {concurrency: 3, max_credits: 100}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("AIVIDEOAPI_API_KEY", "GROKBATCH_SANDBOX", "GROKBATCH_AIVIDEOAPI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "m.yaml").write_text(MANIFEST, encoding="utf-8")
    return tmp_path


def test_without_a_key_run_says_how_to_set_it_and_sends_nothing(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["run", "m.yaml"])
    assert result.exit_code == 2
    assert "AIVIDEOAPI_API_KEY" in result.output and "--sandbox" in result.output
    assert not (workdir / ".grokbatch").exists()


@pytest.mark.slow
def test_sandbox_run_then_status_report_and_export(workdir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["run", "m.yaml", "--sandbox", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["states"] == {"done": 3} and summary["submitted_this_run"] == 3
    clips = sorted((workdir / "sandbox/out/first-five-minutes/lamp").iterdir())
    assert [c.name for c in clips] == ["cinematic.mp4", "claymation.mp4", "watercolor.mp4"]
    assert all(c.read_bytes()[4:8] == b"ftyp" for c in clips)
    assert (workdir / ".grokbatch/sandbox.db").exists()
    assert not (workdir / ".grokbatch/state.db").exists()  # the sandbox keeps its own state
    page = (workdir / "sandbox/out/first-five-minutes/report.html").read_text(encoding="utf-8")
    assert page.count("<video") == 3 and 'src="lamp/cinematic.mp4"' in page

    status = runner.invoke(main, ["status", "m.yaml", "--sandbox", "--json"])
    assert status.exit_code == 0
    assert json.loads(status.stdout)["states"]["done"] == 3

    exported = runner.invoke(main, ["export", "m.yaml", "--sandbox", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 3 and {r["state"] for r in rows} == {"done"}
    assert all(len(r["sha256"]) == 64 for r in rows)

    listed = runner.invoke(main, ["status", "m.yaml", "--sandbox", "--all", "--json"])
    data = json.loads(listed.stdout)
    assert data["jobs"] == 3  # the same key means the same type, with --all or without
    jobs = data["rows"]
    assert sorted(j["output_path"] for j in jobs) == [
        "lamp/cinematic.mp4",
        "lamp/claymation.mp4",
        "lamp/watercolor.mp4",
    ]
    assert all(j["state"] == "done" and j["remote_id"] for j in jobs)

    again = runner.invoke(main, ["run", "m.yaml", "--sandbox", "--json"])
    assert json.loads(again.stdout)["submitted_this_run"] == 0


def test_status_before_any_run_is_a_clear_input_error(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["status", "m.yaml"])
    assert result.exit_code == 2 and "run the manifest first" in result.output


@pytest.mark.slow
def test_emulate_serves_every_provider_until_interrupted(workdir: Path) -> None:
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "grokbatch", "emulate", "--port=0", "--latency=0", "--key=k"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "grokbatch emulator on http://127.0.0.1:" in first
        root = first.split(" on ")[1].split()[0]
        lines = [proc.stdout.readline() for _ in range(7)]
        assert any("GROKBATCH_APIFRAME_BASE_URL=" in line for line in lines)
        assert not any(" k\n" in line or "=k " in line for line in lines)  # never echoed
        answer = httpx.post(
            f"{root}/apiframe/v2/videos/generate",
            json={"model": "grok-imagine-video", "prompt": "x"},
            headers={"X-API-Key": "k"},
        )
        assert answer.status_code == 202
        stats = httpx.get(f"{root}/_emulator/stats").json()
        assert stats["providers"]["apiframe"]["submissions"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode in (0, 130)


@pytest.mark.slow
def test_status_lists_every_job_only_when_asked(workdir: Path) -> None:
    many = MANIFEST.replace("[cinematic, watercolor, claymation]", str(list(range(45))))
    many = many.replace("max_credits: 100", "max_credits: 1000").replace(
        "concurrency: 3", "concurrency: 45"
    )
    (workdir / "m.yaml").write_text(many, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["run", "m.yaml", "--sandbox", "--json"]).exit_code == 0
    short = runner.invoke(main, ["status", "m.yaml", "--sandbox"]).stdout
    assert "45 done" in short and "--all lists every job" in short
    assert "lamp/44.mp4" not in short
    full = runner.invoke(main, ["status", "m.yaml", "--sandbox", "--all"]).stdout
    assert all(f"lamp/{n}.mp4" in full for n in range(45))
