"""The limits a run works under: concurrency, request rates and budgets, resolved from the
manifest, the command's options and each provider's own defaults.

Where the manifest says nothing for a provider, its documented default applies (xAI: one
request a second, its rate limit for video; Vydra: two jobs in flight, its free plan). A
`{"*": n, provider: m}` setting gives one value to every provider the manifest uses, with
the named ones apart; a provider the manifest does not use is ignored, so one CI-wide
setting serves every manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import providers
from .budget import BudgetPolicy
from .halt import FailureLimit
from .manifest import Manifest
from .plan import credit_limits
from .runner import RunSettings
from .workspace import JobSet, Workspace

# The emulator finishes a job in seconds: poll it often so the quick start is quick.
SANDBOX_TUNING: dict[str, Any] = {"poll_initial": 0.25, "poll_min": 0.1, "poll_max": 2.0}


def budget_policy(
    manifest: Manifest,
    jobs: JobSet,
    max_credits: Mapping[str, float] | None,
    max_usd: float | None,
) -> BudgetPolicy:
    """The manifest's budget with the options' on top; InputError for a USD budget where
    a provider has no USD price."""
    jobs.check_max_usd(max_usd)
    usd = max_usd if max_usd is not None else manifest.limits.max_usd
    return BudgetPolicy(max_credits=credit_limits(manifest, max_credits), max_usd=usd)


def run_settings(
    ws: Workspace,
    *,
    concurrency: int | None,
    requests_per_minute: Mapping[str, float] | None,
    retry_failed: bool,
    resubmit_ambiguous: bool,
    max_failures: FailureLimit | None,
    tuning: Mapping[str, Any] | None,
) -> RunSettings:
    """A run's settings: the manifest's limits, the options, the providers' defaults, the
    sandbox's quick polling, and `tuning` (tests, benchmarks) last."""
    limits = ws.manifest.limits
    names = ws.manifest.provider_names()
    settings = RunSettings(
        output_dir=ws.output_dir,
        concurrency=concurrency or limits.concurrency,
        provider_concurrency=with_defaults(
            per_provider(limits.provider_concurrency, names), names, "default_concurrency"
        ),
        requests_per_minute=request_rates(ws.manifest, requests_per_minute),
        retries=limits.retries,
        retry_failed=retry_failed,
        resubmit_ambiguous=resubmit_ambiguous,
        max_failures=max_failures,
    )
    if ws.sandbox:
        settings = replace(settings, **SANDBOX_TUNING)
    return replace(settings, **dict(tuning or {}))


def request_rates(
    manifest: Manifest, override: Mapping[str, float] | None
) -> dict[str, float]:
    """The pace per provider: the manifest's limits.requests_per_minute with the option's
    on top (a bare number replaces it all), else each provider's own default. A provider
    the manifest does not use is ignored, so one CI-wide setting serves every manifest."""
    names = manifest.provider_names()
    values = dict(manifest.limits.requests_per_minute)
    if override:
        values = dict(override) if "*" in override else values | dict(override)
    return with_defaults(per_provider(values, names), names, "default_submits_per_minute")


def per_provider(values: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """A manifest's `{"*": n, provider: m}` setting as one value per provider."""
    every = values.get("*")
    out = {n: values[n] for n in names if n in values}
    if every is not None:
        out = {n: out.get(n, every) for n in names}
    return out


def with_defaults(values: dict[str, Any], names: list[str], attribute: str) -> dict[str, Any]:
    """Where the manifest says nothing for a provider, the provider's own default limit
    (xAI: 1 request a second; Vydra: 2 jobs in flight, its free plan)."""
    for name in names:
        default = getattr(providers.get(name), attribute)
        if name not in values and default is not None:
            values[name] = default
    return values
