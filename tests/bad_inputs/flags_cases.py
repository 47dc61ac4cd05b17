"""Command-line budgets and options."""

from __future__ import annotations

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
