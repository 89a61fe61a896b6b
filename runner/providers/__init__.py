"""Provider registry: names in campaign files map to classes, imported only when used."""

from __future__ import annotations

import importlib
import os
import re
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


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_settings(settings: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Replace ``${NAME}`` in string settings by the environment variable NAME, so values that carry a
    secret (a receiver URL with its token) stay out of campaign files. A missing variable is an error."""
    env = os.environ if env is None else env

    def expand(value: Any) -> Any:
        if isinstance(value, str):
            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    raise ConfigError(f"provider settings use ${{{name}}}, but the environment variable {name} "
                                      "is not set")
                return env[name]

            return _VAR.sub(one, value)
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v) for v in value]
        return value

    return {key: expand(value) for key, value in settings.items()}


def create_provider(name: str, settings: Mapping[str, Any], *, state_dir: Path) -> Provider:
    return provider_class(name)(expand_settings(settings), state_dir=state_dir)
