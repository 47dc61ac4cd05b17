"""The command line: every command documented, exit codes as the README promises."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from grokbatch.cli import main

from .conftest import REPO

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(name: str) -> None:
    command = main.commands[name]
    assert isinstance(command, click.Command)
    assert command.help, f"{name} has no help text"
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"grokbatch {name}" in readme, f"README does not document `grokbatch {name}`"


def test_validate_ok(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest("name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0
    assert "ok, 1 jobs" in result.output


def test_invalid_manifest_exits_2_with_file_and_line(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest(
        "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\nmatrix:\n  duration: [7]\n"
    )
    for command in ("validate", "plan"):
        result = CliRunner().invoke(main, [command, str(path)])
        assert result.exit_code == 2
        assert f"{path}:5" in result.output


def test_missing_manifest_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plan", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_bad_option_value_exits_2(write_manifest: Callable[..., Path]) -> None:
    path = write_manifest("name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n")
    result = CliRunner().invoke(main, ["plan", str(path), "--max-credits", "lots"])
    assert result.exit_code == 2
    assert "--max-credits" in result.output


def test_schema_command_prints_the_shipped_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert json.loads(result.output) == json.loads(
        (REPO / "schemas" / "manifest.schema.json").read_text(encoding="utf-8")
    )
