"""Providers: the registry (:mod:`runner.providers.registry`, the only list of them), what each declares
(:mod:`runner.providers.spec`, typed settings in :mod:`runner.providers.settings`), the interface they
implement (:mod:`runner.providers.base`) and the HTTP plumbing they share (:mod:`runner.providers.http`).

Adding a provider: a package under ``runner/providers/`` (or a third-party package with an entry point in
the ``smsrun.providers`` group) with a light ``PROVIDER = ProviderSpec(...)`` and its Provider class, its
line in :data:`runner.providers.registry.BUILTIN`, and a test module subclassing
``tests/providers/conformance.py``; then ``python -m runner.providers.schema --write`` regenerates the
JSON Schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.providers.base import Capabilities, Provider
from runner.providers.expand import expand_settings
from runner.providers.registry import get_spec, names


def provider_class(name: str) -> type[Provider]:
    """The class of provider ``name`` (imported now); :class:`ConfigError` for an unknown name."""
    return get_spec(name).load()


def provider_capabilities(name: str, settings: Mapping[str, Any] | None = None) -> Capabilities:
    """What provider ``name`` does with these campaign settings (see :func:`registry.capabilities`)."""
    from runner.providers.registry import capabilities

    return capabilities(name, settings)


def create_provider(name: str, settings: Mapping[str, Any], *, state_dir: Path) -> Provider:
    return provider_class(name)(expand_settings(settings), state_dir=state_dir)


__all__ = ["create_provider", "expand_settings", "names", "provider_capabilities", "provider_class"]
