"""``smsrun schema``: the JSON Schemas, with the settings of installed third-party providers."""

from __future__ import annotations

from typing import Any

from runner.errors import SmsrunError

NAMES = ("campaign", "addressbook")


def schema_document(name: str) -> dict[str, Any]:
    from runner.campaign.schema import load_schema
    from runner.providers import registry  # noqa: F401  (installs the third-party providers' settings)

    if name not in NAMES:
        raise SmsrunError(f"unknown schema {name!r}: campaign or addressbook")
    schema: dict[str, Any] = load_schema(name, plugins=True)
    return schema
