"""grokbatch init: a starter manifest per provider that validates, plans and runs as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grokbatch import providers
from grokbatch.cli import main
from grokbatch.manifest import load
from grokbatch.plan import make_plan
from grokbatch.schema import schema_text
from grokbatch.starter import MANIFEST, PROMPTS, SCHEMA


def init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("provider", providers.NAMES)
def test_each_starter_validates_and_plans_within_its_budget(provider: str, tmp_path: Path) -> None:
    code, output = init(provider, "--dir", str(tmp_path / "start"))
    assert code == 0, output
    manifest = tmp_path / "start" / MANIFEST
    assert sorted(p.name for p in manifest.parent.iterdir()) == sorted([MANIFEST, PROMPTS, SCHEMA])
    first = manifest.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA}"
    # The line points at a real copy of this grokbatch's schema, beside the manifest.
    schema = manifest.parent / first.split("$schema=")[1]
    assert json.loads(schema.read_text(encoding="utf-8")) == json.loads(schema_text())
    result = CliRunner().invoke(main, ["validate", str(manifest)])
    assert result.exit_code == 0, result.output
    assert "ok, 4 jobs" in result.output
    loaded = load(manifest)
    assert loaded.provider_names() == [provider]
    plan = make_plan(loaded)
    assert plan.jobs == 4 and not plan.over_budget, plan.to_json()
    assert providers.get(provider).key_env in manifest.read_text(encoding="utf-8")


@pytest.mark.parametrize("provider", providers.NAMES)
def test_each_starter_runs_in_the_sandbox(provider: str, tmp_path: Path) -> None:
    from grokbatch import api
    from grokbatch.progress import Reporter
    from grokbatch.state import open_store
    from grokbatch.state.base import JobState

    assert init(provider, "--dir", str(tmp_path))[0] == 0
    summary = api.run(
        tmp_path / MANIFEST,
        sandbox=True,
        db=tmp_path / "sandbox.db",
        output_dir=tmp_path / "out",
        reporter=Reporter(),
        environ={},
        requests_per_minute={"*": 6000},  # xAI's own 1 request/s would take 7 s
        emulator_options={"latency": 0.05},
        tuning={"poll_initial": 0.02, "poll_max": 0.1, "handle_signals": False},
    )
    assert summary.exit_code == 0, summary.to_json()
    with open_store(tmp_path / "sandbox.db") as store:
        rows = list(store.jobs(f"my-{provider}-batch"))
    assert len(rows) == 4 and all(r.state is JobState.DONE for r in rows)
    assert all((tmp_path / "out" / r.output_path).stat().st_size == r.size for r in rows)


def test_the_default_provider_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = init()
    assert code == 0, output
    assert load(tmp_path / MANIFEST).provider_names() == ["aivideoapi"]
    assert f"grokbatch run {MANIFEST} --sandbox" in output


def test_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / PROMPTS).write_text("id,subject\nmine,my own prompts\n", encoding="utf-8")
    code, output = init("xai", "--dir", str(tmp_path))
    assert code == 2
    assert str(tmp_path / PROMPTS) in output and "already exists" in output
    assert "--dir" in output  # the fix
    assert (tmp_path / PROMPTS).read_text(encoding="utf-8") == "id,subject\nmine,my own prompts\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [PROMPTS]  # nothing else written


def test_bad_provider_or_directory(tmp_path: Path) -> None:
    code, output = init("grok", "--dir", str(tmp_path))
    assert code == 2 and "aivideoapi" in output
    (tmp_path / "file").write_text("x")
    code, output = init("xai", "--dir", str(tmp_path / "file"))
    assert code == 2 and "file" in output
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_the_readme_says(shell: str) -> None:
    from .conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"_GROKBATCH_COMPLETE={shell}_source grokbatch" in readme
    runner = CliRunner(env={"_GROKBATCH_COMPLETE": f"{shell}_source"})
    result = runner.invoke(main, [], prog_name="grokbatch")
    assert result.exit_code == 0 and "_grokbatch_completion" in result.output
    # The script asks grokbatch itself: provider names complete after `init`.
    env = {
        "_GROKBATCH_COMPLETE": "bash_complete",
        "COMP_WORDS": "grokbatch init x",
        "COMP_CWORD": "2",
    }
    result = CliRunner(env=env).invoke(main, [], prog_name="grokbatch")
    assert result.output.split() == ["plain,xai"]
