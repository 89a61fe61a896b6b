"""Provider registry: names in campaign files map to classes, imported only when used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.providers.base import Provider

# name -> "module:Class"; modules are imported lazily (httpx costs ~100 ms of start-up).
REGISTRY: dict[str, str] = {
    "outbox": "runner.providers.outbox:OutboxProvider",
    "ovh": "runner.providers.ovh:OvhProvider",
    "kannel": "runner.providers.kannel:KannelProvider",
    "twilio": "runner.providers.twilio:TwilioProvider",
}


def provider_class(name: str) -> type[Provider]:
    target = REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown provider {name!r} (known: {', '.join(sorted(REGISTRY))})")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"provider {name!r} is not available in this installation ({exc})") from exc
    cls: type[Provider] = getattr(module, cls_name)
    return cls


def create_provider(name: str, settings: Mapping[str, Any], *, state_dir: Path) -> Provider:
    return provider_class(name)(settings, state_dir=state_dir)
