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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from runner.errors import ConfigError
from runner.providers.settings import ProviderSettings

if TYPE_CHECKING:
    from runner.providers.base import Capabilities, Provider


def load_target(target: str) -> Any:
    """The object a ``"module:attribute"`` declaration names (imported when used, never before)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class SignedRequest(Protocol):
    """What a route's signature check sees of a request (the receiver's ``Request`` has these)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...  # as the gateway called it (public URL, query included)
    @property
    def headers(self) -> Mapping[str, str]: ...  # lower-case names
    @property
    def form_pairs(self) -> Sequence[tuple[str, str]]: ...


#: ``check(secrets, request)``: None when the request is genuine, else why it is refused (answered 403);
#: raises ``ValueError`` for a request that cannot be what the gateway sends (answered 400)
SignatureCheck = Callable[[Mapping[str, str], SignedRequest], "str | None"]


@dataclass(frozen=True)
class ReceiverRoute:
    """A path of ``smsrun receive`` the provider's gateway calls: ``/<token>/<provider>/<path...>``.

    With ``secrets`` (environment variables), the receiver reads them at start and answers 503 on this
    path while one is unset; with ``check`` ("module:function" of a :data:`SignatureCheck`), every request
    is checked with those secrets before its handler sees it (Twilio's ``X-Twilio-Signature``)."""

    path: tuple[str, ...]  # after the provider's name: ("dlr",) is /<token>/kannel/dlr
    methods: frozenset[str]
    handler: str  # "module:function" of an async handler(ctx, request) -> response, imported by the receiver
    secrets: tuple[str, ...] = ()
    check: str | None = None


@dataclass(frozen=True)
class IncomingReply:
    """A reply read from a provider that keeps them (``smsrun replies``), sender as the provider wrote it."""

    ref: str  # the provider's id of the reply: stored once, never read again
    sender: str
    text: str
    received_at: str | None = None  # ISO 8601


class ReplyFeed(Protocol):
    """A provider's replies, pulled (``ProviderSpec.replies`` opens one); a context manager.

    ``service`` names the account read; ``incoming`` lists the refs of the replies (since ``since``) in
    the order to read them; ``read`` reads one; ``stop_list`` is the numbers the provider itself stopped
    sending to after a STOP, ``stop_list_name`` what the provider calls that list."""

    service: str
    stop_list_name: str

    def __enter__(self) -> ReplyFeed: ...
    def __exit__(self, *exc: object) -> None: ...
    def incoming(self, since: datetime | None) -> list[str]: ...
    def read(self, ref: str) -> IncomingReply: ...
    def stop_list(self) -> list[str]: ...


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
    #: source kind it offers -> "module:Class" of its Source (``ovh-phonebook``...), opened by runner.sources
    sources: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[ReceiverRoute, ...] = ()  # what the receiver serves for it (delivery reports, replies)
    #: "module:function" of ``open(settings) -> ReplyFeed`` when replies can be pulled (``smsrun replies``)
    replies: str | None = None
    #: "module:attribute" of a typer app of account tools, mounted as ``smsrun <name> ...`` (``smsrun ovh lists``)
    admin: str | None = None
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
