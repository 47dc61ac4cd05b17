"""The providers grokbatch speaks to: a plain registry, name → adapter instance."""

from __future__ import annotations

from importlib import import_module

from .base import Provider

# name → module; each module defines exactly one Provider subclass named ADAPTER's class.
_MODULES = {
    "pixeldojo": "pixeldojo",
    "aimlapi": "aimlapi",
    "aivideoapi": "aivideoapi",
    "apiframe": "apiframe",
    "vydra": "vydra",
    "xai": "xai",
}
NAMES: tuple[str, ...] = tuple(_MODULES)
_cache: dict[str, Provider] = {}


def get(name: str) -> Provider:
    """The adapter for a provider name; KeyError for an unknown name."""
    if name not in _cache:
        module = import_module(f".{_MODULES[name]}", __name__)
        _cache[name] = module.ADAPTER
    return _cache[name]


def all_providers() -> list[Provider]:
    return [get(n) for n in NAMES]
