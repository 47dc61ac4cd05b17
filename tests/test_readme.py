"""The README's promises that can be executed: its CI recipe runs as written (sandboxed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .conftest import REPO


def workflow() -> dict[str, Any]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    [text] = [b for b in blocks if "actions/checkout" in b]
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_the_ci_recipe_runs_as_written_against_the_sandbox(tmp_path: Path) -> None:
    jobs = workflow()["jobs"]
    assert set(jobs) == {"budget", "generate"}
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    bin_dir = str(Path(sys.executable).parent)  # grokbatch is installed here
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROKBATCH_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["GROKBATCH_SANDBOX"] = "1"  # the recipe's own switch for a dry run
    for name, job in jobs.items():
        for step in job["steps"]:
            command = step.get("run")
            if command is None or command.startswith("pip install"):
                continue  # actions and the install are GitHub's and CI's business
            result = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert result.returncode == 0, (name, command, result.stderr[-2000:])
    assert (tmp_path / "report.html").exists() and (tmp_path / "summary.json").exists()
    # What the cache step saves: the state beside the manifest.
    assert (tmp_path / "pipelines" / ".grokbatch" / "sandbox.db").exists()
