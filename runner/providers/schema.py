"""The provider part of the campaign JSON Schema, generated from the registry's typed settings.

``schema/campaign.schema.json`` (and its copy in ``runner/schemas/``) holds it for the built-in providers,
so editors complete each provider's settings; a test checks the committed files equal what this module
generates (``python -m runner.providers.schema --write`` rewrites them). At run time the campaign
validator uses the schema with the registry's current providers, third-party ones included.

Shape: a name, or ``{name: ..., <settings>}`` where the settings allowed are those of the named provider
(``if``/``then`` per provider, so a validator reports the wrong key or type itself, with a position,
rather than "not valid under any of the given schemas").
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.providers.spec import ProviderSpec


def provider_schema(specs: Mapping[str, ProviderSpec]) -> dict[str, Any]:
    names = list(specs)
    branches = []
    for name, spec in specs.items():
        then = spec.settings.json_schema(name)
        then["description"] = f"{spec.title}: {spec.description}"
        branches.append({"if": {"type": "object", "properties": {"name": {"const": name}}, "required": ["name"]},
                         "then": then})
    return {
        "title": "Provider",
        "description": f"The SMS provider: a name ({', '.join(names)}) or {{name, ...non-secret settings}}. "
                       "Secrets come only from environment variables.",
        "anyOf": [{"type": "string"}, {"type": "object"}],
        "if": {"type": "string"},
        "then": {"type": "string", "enum": names},
        "else": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "enum": names, "description": "Provider name."}},
            "allOf": branches,
        },
    }


def with_providers(schema: Mapping[str, Any], specs: Mapping[str, ProviderSpec]) -> dict[str, Any]:
    """``schema`` (the campaign schema) with its provider part generated from ``specs``."""
    out = copy.deepcopy(dict(schema))
    out["properties"]["provider"] = provider_schema(specs)
    return out


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False)


def main(argv: list[str]) -> int:
    """``--write``: regenerate the committed schemas; ``--check``: exit 1 when they differ."""
    root = Path(__file__).resolve().parents[2]
    targets = [root / "schema" / "campaign.schema.json", root / "runner" / "schemas" / "campaign.schema.json"]
    current = json.loads(targets[0].read_text("utf-8"))
    from runner.providers.registry import builtin_specs

    text = render(with_providers(current, builtin_specs()))
    stale = [t for t in targets if t.read_text("utf-8") != text]
    if "--write" in argv:
        for target in stale:
            target.write_text(text, "utf-8")
        return 0
    for target in stale:
        print(f"{target} is not the generated schema: run python -m runner.providers.schema --write")
    return 1 if stale else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
