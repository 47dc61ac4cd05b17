"""What a case of the corpus is, and the pieces of manifest the cases are made of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COMMANDS = ("validate", "plan", "run")
HEAD = "name: t\nprovider: aivideoapi\n"  # lines 1-2 of most manifests below
ONE = HEAD + "prompts: [{id: a, template: 'A {{ style }} lamp', vars: {style: noir}}]\n"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]  # m.yaml is the manifest
    place: str  # what the message must name: "m.yaml:5", "p.csv:3", "--max-credits"
    fix: str | None = None  # words the fix must contain
    setup: Callable[[Path], None] | None = None  # shapes the directory before the commands
    args: tuple[str, ...] = ()  # options for plan and run
    commands: tuple[str, ...] = COMMANDS
    group: str = ""


CASES: list[Case] = []


def case(
    group: str,
    name: str,
    manifest: str | bytes | None,
    place: str,
    fix: str | None = None,
    *,
    files: dict[str, str | bytes] | None = None,
    setup: Callable[[Path], None] | None = None,
    args: tuple[str, ...] = (),
    commands: tuple[str, ...] = COMMANDS,
) -> None:
    """Add a case: its manifest (m.yaml) and other files, and what the error must say."""
    every = dict(files or {})
    if manifest is not None:
        every["m.yaml"] = manifest
    CASES.append(Case(f"{group}-{name}", every, place, fix, setup, args, commands, group=group))


def matrix(body: str, head: str = ONE) -> str:
    return head + "matrix:\n" + body  # body starts on line 5 for ONE


CSV = HEAD + "prompts: {file: p.csv, template: 'A {{ product }}'}\n"  # the file: line 3
VYDRA_CSV = "name: t\nprovider: vydra\nprompts: {file: p.csv, template: 'A {{ product }}'}\n"
JSONL = HEAD + "prompts: {file: p.jsonl, template: 'A {{ product }}'}\n"


def rows(*lines: str) -> str:
    return "id,product\n" + "".join(f"{line}\n" for line in lines)
