"""Command-line budgets and options."""

from __future__ import annotations

from pathlib import Path

from .base import ONE, case

B = "flags"
case(
    B,
    "max-credits-nan",
    ONE,
    "--max-credits",
    "finite",
    args=("--max-credits", "nan"),
    commands=("plan", "run"),
)
case(
    B,
    "max-credits-inf",
    ONE,
    "--max-credits",
    "finite",
    args=("--max-credits", "inf"),
    commands=("plan", "run"),
)
case(
    B,
    "max-credits-provider-nan",
    ONE,
    "--max-credits",
    "finite",
    args=("--max-credits", "aivideoapi=nan"),
    commands=("plan", "run"),
)
case(
    B,
    "max-credits-unused-provider",
    ONE,
    "--max-credits xai=5",
    "xai",
    args=("--max-credits", "xai=5"),
    commands=("plan", "run"),
)
case(
    B,
    "max-credits-ambiguous",
    "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n  provider: [apiframe, vydra]\n",
    "--max-credits 5",
    "PROVIDER=N",
    args=("--max-credits", "5"),
    commands=("plan", "run"),
)
case(
    B,
    "max-credits-words",
    ONE,
    "--max-credits",
    "NUMBER",
    args=("--max-credits", "lots"),
    commands=("plan", "run"),
)
case(
    B,
    "concurrency-zero",
    ONE,
    "--concurrency",
    None,
    args=("--concurrency", "0"),
    commands=("run",),
)
case(
    B,
    "max-usd-nan",
    ONE,
    "--max-usd",
    "finite",
    args=("--max-usd", "nan"),
    commands=("plan", "run"),
)
case(
    B,
    "max-usd-inf",
    ONE,
    "--max-usd",
    "finite",
    args=("--max-usd", "inf"),
    commands=("plan", "run"),
)
case(
    B,
    "max-usd-negative",
    ONE,
    "--max-usd",
    "negative",
    args=("--max-usd", "-1"),
    commands=("plan", "run"),
)
case(
    B,
    # APIFrame publishes no USD price: a USD budget cannot be kept, and 0 must not be ignored.
    "max-usd-without-usd-price",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n",
    "--max-usd 0",
    "usd_per_credit",
    args=("--max-usd", "0"),
    commands=("plan", "run"),
)
case(B, "db-empty", ONE, "--db is empty", "state.db", args=("--db", ""), commands=("plan", "run"))


def _text_file(root: Path) -> None:
    (root / "notes.txt").write_text("remember the milk\n", encoding="utf-8")


case(
    B,
    "db-text-file",
    ONE,
    "--db notes.txt",
    "not a grokbatch state database",
    setup=_text_file,
    args=("--db", "notes.txt"),
    commands=("plan", "run", "status", "report"),
)
case(
    B,
    "db-directory",
    ONE,
    "--db",
    "is a directory",
    setup=lambda root: (root / "statedir").mkdir(),
    args=("--db", "statedir"),
    commands=("plan", "run", "status"),
)
case(
    B,
    "export-into-missing-directory",
    ONE,
    "--out missing/jobs.csv",
    "does not exist",
    args=("--format", "csv", "--out", "missing/jobs.csv"),
    commands=("export",),
)
