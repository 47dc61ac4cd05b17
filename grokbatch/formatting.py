"""How amounts and price bases are written, the same way in the plan, the budget and the report.

One amount reads the same everywhere a person meets it: `plan` may not say "14.40" where
the report says "14.4" and the run's budget line says "14.4".
"""

from __future__ import annotations

# How sure an estimate is: a published price, one declared in the manifest's `prices:`
# (*), or grokbatch's own guess where the provider publishes none (~).
BASIS_MARK = {"published": "", "declared": "*", "guessed": "~"}
UNKNOWN_BASIS_MARK = "~"  # a basis this version does not know is no better than a guess


def basis_mark(basis: str) -> str:
    """The mark an estimate resting on this price basis carries."""
    return BASIS_MARK.get(basis, UNKNOWN_BASIS_MARK)


def amount(value: float) -> str:
    """A credit amount without needless decimals: 1,200 · 14.4 · 0.25 · 0.0004.

    Thousands are separated; at most two decimals, except below 0.01, where up to six
    keep a tiny per-second price from reading as 0.
    """
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) < 0.01:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0", "0") else text
