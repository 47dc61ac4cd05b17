"""How amounts read everywhere grokbatch shows them: the plan, the live panel, status,
the summary, the report. One formatter, so one amount never reads two ways."""

from __future__ import annotations

# What an estimate rests on, as a mark after the amount.
BASIS_MARK = {"published": "", "declared": "*", "guessed": "~"}


def amount(value: float | None) -> str:
    """A credit amount without needless decimals: 1,200, 14.4, 0.25; "-" when unknown."""
    if value is None:
        return "-"
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def usd(value: float | None) -> str:
    """Dollars to the cent: $0.74; "?" when unknown."""
    return "?" if value is None else f"${value:,.2f}"
