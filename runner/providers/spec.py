"""What a provider declares about itself, in one place: :class:`ProviderSpec`.

A provider package exposes one ``PROVIDER = ProviderSpec(...)`` in a module that imports nothing heavy
(no httpx), so ``smsrun validate`` can read every provider's settings and capabilities without loading
their clients; the provider class itself is imported only when a campaign uses it. The registry
(:mod:`runner.providers.registry`) lists the built-in specs and those of third-party packages that
declare an entry point in the ``smsrun.providers`` group::

    [project.entry-points."smsrun.providers"]
    vonage = "smsrun_vonage:PROVIDER"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigError
from runner.providers.settings import ProviderSettings

if TYPE_CHECKING:
    from runner.providers.base import Capabilities, Provider


@dataclass(frozen=True)
class ReceiverRoute:
    """A path of ``smsrun receive`` the provider's gateway calls: ``/<token>/<provider>/<path...>``."""

    path: tuple[str, ...]  # after the provider's name: ("dlr",) is /<token>/kannel/dlr
    methods: frozenset[str]
    handler: str  # "module:function" of an async handler(ctx, request) -> response, imported by the receiver


@dataclass(frozen=True)
class ProviderSpec:
    """Everything smsrun needs to know about a provider before it sends."""

    name: str  # as written in campaign files: ``provider: ovh``
    title: str  # shown to people: "OVHcloud"
    description: str  # one line for the schema and the README's table
    factory: str  # "module:Class" of the :class:`~runner.providers.base.Provider`, imported when used
    settings: type[ProviderSettings] = ProviderSettings
    #: typed settings -> what the provider can do (batch size, STOP mention...): the loader, the planner and
    #: the provider itself all ask this, so plan and send agree
    capabilities: Callable[[Any], Capabilities] | None = None
    env: tuple[str, ...] = ()  # environment variables it reads (secrets and defaults), for docs and checks
    sources: tuple[str, ...] = ()  # source kinds it offers (``ovh-phonebook``...)
    routes: tuple[ReceiverRoute, ...] = ()  # what the receiver serves for it (delivery reports, replies)
    extras: dict[str, Any] = field(default_factory=dict)

    def load(self) -> type[Provider]:
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(f"provider {self.name!r} is not available in this installation ({exc})") from exc
        cls: type[Provider] = getattr(module, attr)
        return cls

    def parse(self, raw: Any) -> ProviderSettings:
        return self.settings.parse(raw, self.name)

    def capabilities_for(self, settings: ProviderSettings) -> Capabilities:
        from runner.providers.base import Capabilities

        return self.capabilities(settings) if self.capabilities else Capabilities()
