"""The one list of providers: the built-in ones, then those third-party packages register through the
``smsrun.providers`` entry point group (each entry point names a :class:`~runner.providers.spec.ProviderSpec`).

Only the specs are imported here (light modules); a provider's class, and its HTTP client, are imported
when a campaign uses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

from runner.campaign.schema import set_plugin_schema
from runner.errors import ConfigError
from runner.providers.spec import ProviderSpec, ReceiverRoute

if TYPE_CHECKING:
    from runner.providers.base import Capabilities

ENTRY_POINT_GROUP = "smsrun.providers"

#: the built-in providers: name -> "module:attribute" of its spec, in the order people see them
BUILTIN = {
    "outbox": "runner.providers.outbox:PROVIDER",
    "ovh": "runner.providers.ovh.spec:PROVIDER",
    "kannel": "runner.providers.kannel.spec:PROVIDER",
    "twilio": "runner.providers.twilio.spec:PROVIDER",
}


#: a campaign naming another provider makes smsrun look for plug-ins (~50 ms of start-up otherwise saved)
BUILTIN_NAMES = tuple(BUILTIN)


def _load(target: str) -> ProviderSpec:
    module_name, _, attr = target.partition(":")
    spec = getattr(importlib.import_module(module_name), attr)
    if not isinstance(spec, ProviderSpec):
        raise ConfigError(f"{target} is not a smsrun ProviderSpec")
    return spec


@cache
def builtin_specs() -> Mapping[str, ProviderSpec]:
    """name -> spec of the built-in providers."""
    found = {name: _load(target) for name, target in BUILTIN.items()}
    wrong = [name for name, spec in found.items() if spec.name != name]
    if wrong:  # pragma: no cover - a built-in declared under another name
        raise AssertionError(f"built-in providers registered under another name: {wrong}")
    return found


@cache
def specs() -> Mapping[str, ProviderSpec]:
    """name -> spec: built-ins first, then entry points (a third party cannot replace a built-in)."""
    found = dict(builtin_specs())
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = entry.load()
        except Exception as exc:  # a broken plug-in must not break every other provider
            raise ConfigError(f"provider plug-in {entry.name!r} ({entry.value}) cannot be loaded: {exc}") from None
        if not isinstance(spec, ProviderSpec):
            raise ConfigError(f"provider plug-in {entry.name!r} ({entry.value}) is not a smsrun ProviderSpec")
        if spec.name in found:
            continue
        found[spec.name] = spec
    return found


def names() -> list[str]:
    return list(specs())


def get_spec(name: str) -> ProviderSpec:
    spec = builtin_specs().get(name) or specs().get(name)
    if spec is None:
        raise ConfigError(f"unknown provider {name!r} (known: {', '.join(sorted(specs()))})")
    return spec


def reset() -> None:
    """Forget the loaded specs (tests that install a plug-in)."""
    specs.cache_clear()
    builtin_specs.cache_clear()


def capabilities(name: str, settings: Mapping[str, Any] | None = None) -> Capabilities:
    """The capabilities of provider ``name`` with these (campaign) settings: what the loader, the planner and
    the provider itself use, so plan and send agree. ``${VARIABLES}`` are expanded when set; settings that
    cannot be parsed give the defaults' capabilities (``validate`` reports them)."""
    from runner.providers.expand import expand_settings

    spec = get_spec(name)
    try:
        parsed = spec.parse(expand_settings(settings or {}))
    except ConfigError:
        parsed = spec.parse({})
    return spec.capabilities_for(parsed)


def receiver_routes() -> dict[tuple[str, ...], ReceiverRoute]:
    """``(provider, *path)`` -> the route a provider declares (methods, handler, secrets, signature check)."""
    return {(spec.name, *route.path): route for spec in specs().values() for route in spec.routes}


def receiver_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets the providers' receiver routes declare, with their values from ``environ`` (set ones only)."""
    names = {name for route in receiver_routes().values() for name in route.secrets}
    return {name: environ[name] for name in sorted(names) if environ.get(name)}


def source_target(kind: str) -> tuple[ProviderSpec, str] | None:
    """(the provider offering source kind ``kind``, "module:Class" of its Source), or None."""
    for group in (builtin_specs(), specs()):
        for spec in group.values():
            if kind in spec.sources:
                return spec, spec.sources[kind]
    return None


def reply_pullers() -> list[ProviderSpec]:
    """The providers whose replies ``smsrun replies`` can pull."""
    return [spec for spec in specs().values() if spec.replies]


def _campaign_schema_with_plugins(schema: dict[str, Any]) -> dict[str, Any]:
    from runner.providers.schema import with_providers

    return with_providers(schema, specs())


# the campaign stage sits below the providers: it learns of third-party providers' settings from here
set_plugin_schema(_campaign_schema_with_plugins)
