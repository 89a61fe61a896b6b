"""``${NAME}`` in provider settings, taken from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from runner.errors import ConfigError

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
