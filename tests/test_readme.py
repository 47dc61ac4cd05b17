"""The README's promises that can be executed: its CI recipe runs as written (sandboxed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO


def workflow() -> dict[str, Any]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    [text] = [b for b in blocks if "actions/checkout" in b]
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def run_steps(job: dict[str, Any], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """The job's `run:` steps, in a shell as GitHub runs them, against the sandbox."""
    bin_dir = str(Path(sys.executable).parent)  # grokbatch is installed here
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROKBATCH_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["GROKBATCH_SANDBOX"] = "1"  # the recipe's own switch for a dry run
    # The campaign's 2 requests a second are a real account's limit: no use waiting here.
    env["GROKBATCH_REQUESTS_PER_MINUTE"] = "6000"
    results = []
    for step in job["steps"]:
        command = step.get("run")
        if command is None or command.startswith("pip install"):
            continue  # actions and the install are GitHub's and CI's business
        result = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        results.append(result)
    return results


@pytest.mark.slow
def test_the_ci_recipe_runs_as_written_against_the_sandbox(tmp_path: Path) -> None:
    jobs = workflow()["jobs"]
    assert set(jobs) == {"budget", "generate"}
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    for name in ("budget", "generate"):
        for result in run_steps(jobs[name], tmp_path):
            assert result.returncode == 0, (name, result.args, result.stderr[-2000:])
    assert (tmp_path / "report.html").exists() and (tmp_path / "summary.json").exists()
    # What the cache step saves: the state beside the manifest.
    assert (tmp_path / "pipelines" / ".grokbatch" / "sandbox.db").exists()
    # A pull request then rewrites two prompts: 22 new jobs. On its own the edited manifest
    # fits the budget; after what the runs spent, it does not, and the gate must say so.
    campaign = tmp_path / "pipelines" / "campaign.yaml"
    text = campaign.read_text(encoding="utf-8")
    text = text.replace("on a walnut desk at golden hour", "on an oak desk at blue hour")
    text = text.replace("Hands unboxing", "Two hands unboxing")
    campaign.write_text(text, encoding="utf-8")
    [gate] = run_steps(jobs["budget"], tmp_path)
    assert gate.returncode == 3, gate.stdout + gate.stderr
    assert "OVER BUDGET" in gate.stdout and "10 done" in gate.stdout  # the rest is new
