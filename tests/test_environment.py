"""Defaults from the environment (GROKBATCH_DB, _OUTPUT_DIR, _CONCURRENCY,
_REQUESTS_PER_MINUTE), and every variable grokbatch reads listed in --help and the README."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from grokbatch import providers
from grokbatch.cli import main
from grokbatch.emulator import Emulator
from grokbatch.providers.client import base_url_env

from .conftest import REPO, environ_for

# Vydra's images come back with the submit's answer: a CLI run needs no poll.
IMAGES = """
name: env
provider: vydra
defaults: {type: image}
prompts: [{id: lamp, template: "A {{ style }} lamp"}]
matrix:
  style: [noir, cinematic]
output: {path: "{{ style }}.png"}
limits: {requests_per_minute: {vydra: 6000}}
"""
OURS = ("GROKBATCH_DB", "GROKBATCH_OUTPUT_DIR", "GROKBATCH_CONCURRENCY",
        "GROKBATCH_REQUESTS_PER_MINUTE", "GROKBATCH_SANDBOX")  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in OURS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ_for(emulator).items():
        monkeypatch.setenv(name, value)
    (tmp_path / "m.yaml").write_text(IMAGES, encoding="utf-8")
    return tmp_path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def run_options(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        [(options,)] = conn.execute("SELECT options FROM runs ORDER BY id DESC LIMIT 1")
    data: dict[str, Any] = json.loads(options)
    return data


def test_the_state_and_output_paths_come_from_the_environment(workdir: Path) -> None:
    env = {"GROKBATCH_DB": "ci/state.db", "GROKBATCH_OUTPUT_DIR": "ci/clips"}
    (workdir / "ci").mkdir()
    result = invoke("run", "m.yaml", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert (workdir / "ci/state.db").exists() and not (workdir / ".grokbatch").exists()
    assert sorted(p.name for p in (workdir / "ci/clips").glob("*.png")) == [
        "cinematic.png",
        "noir.png",
    ]
    status = invoke("status", "m.yaml", "--json", env=env)  # every command reads them
    assert json.loads(status.stdout)["states"]["done"] == 2


def test_concurrency_and_pace_come_from_the_environment_and_flags_win(workdir: Path) -> None:
    env = {"GROKBATCH_DB": "s.db", "GROKBATCH_CONCURRENCY": "7",
           "GROKBATCH_REQUESTS_PER_MINUTE": "12000"}  # fmt: skip
    assert invoke("run", "m.yaml", env=env).exit_code == 0
    options = run_options(workdir / "s.db")
    assert options["concurrency"] == 7
    assert options["requests_per_minute"] == {"vydra": 12000}  # a bare number: every provider

    # A provider this manifest does not use is ignored: one CI-wide setting, many manifests.
    env["GROKBATCH_REQUESTS_PER_MINUTE"] = "xai=60"
    assert invoke("run", "m.yaml", "--concurrency", "3", env=env).exit_code == 0
    options = run_options(workdir / "s.db")
    assert options["concurrency"] == 3
    assert options["requests_per_minute"] == {"vydra": 6000}  # the manifest's


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("GROKBATCH_CONCURRENCY", "lots", "not a valid integer"),
        ("GROKBATCH_CONCURRENCY", "0", "not in the range"),
        ("GROKBATCH_REQUESTS_PER_MINUTE", "vydar=10", "did you mean vydra?"),
        ("GROKBATCH_REQUESTS_PER_MINUTE", "fast", "expected a positive number"),
        ("GROKBATCH_DB", ".", "is a directory"),
        ("GROKBATCH_OUTPUT_DIR", "m.yaml", "is a file"),
    ],
)
def test_a_bad_value_is_exit_2_naming_the_variable(
    workdir: Path, emulator: Emulator, variable: str, value: str, says: str
) -> None:
    result = invoke("run", "m.yaml", env={variable: value})
    assert result.exit_code == 2
    assert f"environment variable {variable}" in result.output and says in result.output
    assert emulator.stats()["providers"]["vydra"]["submissions"] == 0
    assert not (workdir / ".grokbatch").exists()


def test_the_sandbox_keeps_its_own_state_whatever_the_environment_says(workdir: Path) -> None:
    env = {"GROKBATCH_DB": "paid.db", "GROKBATCH_OUTPUT_DIR": "paid"}
    result = invoke("status", "m.yaml", "--sandbox", env=env)
    assert result.exit_code == 2
    assert str(Path(".grokbatch/sandbox.db")) in result.output  # not paid.db
    dry = invoke("run", "m.yaml", "--dry-run", "--json", env=env | {"GROKBATCH_SANDBOX": "1"})
    assert dry.exit_code == 0 and json.loads(dry.stdout)["rows"][0]["action"] == "submit"
    # An explicit --db still applies: the user asked for it.
    explicit = invoke("status", "m.yaml", "--sandbox", "--db", "paid.db", env=env)
    assert "paid.db" in explicit.output


def variables_read() -> set[str]:
    """Every environment variable named in grokbatch's code, and the per-provider ones."""
    names = {providers.get(n).key_env for n in providers.NAMES}
    names |= {base_url_env(providers.get(n)) for n in providers.NAMES}
    for path in (REPO / "grokbatch").rglob("*.py"):
        names |= set(re.findall(r"\bGROKBATCH_[A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    return names


def test_every_variable_is_listed_in_help_and_in_the_readme() -> None:
    names = variables_read()
    assert set(OURS) <= names and "XAI_API_KEY" in names
    epilog = invoke("--help").output
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    for name in sorted(names):
        assert name in epilog, f"grokbatch --help does not list {name}"
        assert f"`{name}`" in section, f"the README's Environment variables lack {name}"
