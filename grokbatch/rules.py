"""The provider's rules and prices for a job, memoised on exactly what they depend on.

A grid has few distinct parameter sets and few distinct prompts: checking and pricing each
once, not once per job, is what keeps validating 1,000,000 jobs within seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .jobs import canonical_json
from .providers.base import DeclaredPrice, Price, Provider, Violation

MEMO_LIMIT = 100_000  # entries per memo: beyond, results are computed, not kept


class Rules:
    """Provider checks, canonical parameters and prices, each computed once per shape."""

    def __init__(self, prices: Mapping[str, DeclaredPrice]) -> None:
        self.declared = prices
        self._checks: dict[tuple[Any, ...], list[Violation]] = {}
        self._prompt_checks: dict[tuple[Any, ...], list[Violation]] = {}
        self._json: dict[tuple[Any, ...], str] = {}
        self._prices: dict[tuple[Any, ...], Price] = {}

    def violations(
        self,
        adapter: Provider,
        model: str | None,
        params: Mapping[str, Any],
        params_json: str,
        text: str | None,
    ) -> list[Violation]:
        """What the provider would refuse in this request (the prompt's rules first)."""
        # Parameter rules are memoised per distinct request shape; prompt rules depend on
        # each rendered prompt (a failed template's text cannot be judged).
        memo = (adapter.name, model, params_json)
        found = self._checks.get(memo)
        if found is None:
            found = adapter.check_params(params, model)
            if len(self._checks) < MEMO_LIMIT:
                self._checks[memo] = found
        if text is None:
            return found
        # A non-empty prompt's rules depend on the prompt alone (Provider.check_prompt).
        pmemo = (adapter.name, model, text)
        own = self._prompt_checks.get(pmemo) if text.strip() else None
        if own is None:
            own = adapter.check_prompt(text, params, model)
            if text.strip() and len(self._prompt_checks) < MEMO_LIMIT:
                self._prompt_checks[pmemo] = own
        return own + found if own else found

    def params_json(self, params: dict[str, Any]) -> str:
        """canonical_json(params), memoised: a grid has few distinct parameter sets."""
        try:
            memo = tuple(params.items())
            text = self._json.get(memo)
        except TypeError:  # a list value (reference_images): not hashable
            return canonical_json(params)
        if text is None:
            text = canonical_json(params)
            if len(self._json) < MEMO_LIMIT:
                self._json[memo] = text
        return text

    def price(self, adapter: Provider, params_json: str, params: Mapping[str, Any]) -> Price:
        memo = (adapter.name, params_json)
        price = self._prices.get(memo)
        if price is None:
            price = adapter.price(params, self.declared.get(adapter.name))
            if len(self._prices) < MEMO_LIMIT:
                self._prices[memo] = price
        return price
