"""The interface every provider implements, and the values that cross it.

A provider is a small class, declared to the registry by its :class:`~runner.providers.spec.ProviderSpec`
(whose typed settings the base class parses, and computes the :class:`Capabilities` from): it sends a
:class:`Batch` and returns one :class:`RecipientResult` per message, and, when it can, tells after a crash
which messages of an in-doubt batch it actually accepted (:meth:`Provider.reconcile`).

Whole-request failures are raised as the classified errors of :mod:`runner.errors`:
``RetryableError`` (nothing accepted, try again), ``PermanentError`` (refused for good),
``InDoubtError`` (may have been accepted), ``CredentialsError`` (stop the run).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from runner.campaign.model import Sender

if TYPE_CHECKING:
    from runner.providers.settings import ProviderSettings
    from runner.providers.spec import ProviderSpec


@dataclass(frozen=True)
class Capabilities:
    max_recipients_per_request: int = 1
    one_text_many_recipients: bool = False  # one request carries one text to many recipients
    stop_mention: str | None = None  # what the provider itself appends to commercial messages
    can_reconcile: bool = False
    default_rate: float | None = None  # messages/s the provider tolerates by default


class OutgoingMessage(NamedTuple):
    """One message of a batch (immutable; a named tuple, which a send builds a million of 5x faster than
    a frozen dataclass)."""

    recipient: str  # E.164
    text: str  # exactly what smsrun asks the provider to send (smsrun's opt-out mention included)
    message_id: str  # smsrun's own id for this message (campaign + recipient), for delivery reports


@dataclass(frozen=True)
class Batch:
    campaign_id: str
    batch_id: str  # unique; providers use it as a tag to find the batch again
    sender: Sender
    commercial: bool
    encoding: str  # "GSM-7" or "UCS-2"
    messages: Sequence[OutgoingMessage]
    not_before: datetime | None = None  # defer delivery until then, where the provider supports it


class Outcome(enum.Enum):
    SENT = "sent"  # accepted by the provider
    REJECTED = "rejected"  # refused for good (invalid number, blacklisted...)
    RETRY = "retry"  # not accepted, may be sent again
    IN_DOUBT = "in_doubt"  # may or may not have been accepted


class RecipientResult(NamedTuple):
    """What the provider said of one recipient (a named tuple: see :class:`OutgoingMessage`)."""

    recipient: str
    outcome: Outcome
    provider_id: str | None = None
    reason: str | None = None
    cost: float | None = None
    opted_out: bool = False  # the provider says this recipient unsubscribed: smsrun suppresses the number


@dataclass(frozen=True)
class DeliveryReport:
    provider_id: str
    status: str  # delivered | failed | pending
    reason: str | None = None
    at: datetime | None = None


FIRST_RUN_ID = "1"  # the run id of a campaign's first run when the provider had nothing: its first tag is derivable


@dataclass(frozen=True)
class SentTrace:
    """One message the provider's own record holds for a campaign (the lost-ledger guard)."""

    recipient: str  # E.164, as in the plan
    provider_id: str | None
    at: datetime | None = None


@dataclass(frozen=True)
class ProviderHistory:
    """What a provider's record says it already sent for a campaign (issue 11, lost-ledger guard).

    ``count`` may exceed ``len(traces)`` when the provider could count a campaign's messages without
    telling whose they are (``complete`` is then False, and they cannot be adopted)."""

    provider: str  # shown to the user: "OVHcloud", "Twilio", "the outbox"
    traces: list[SentTrace]
    count: int
    since: datetime | None  # the oldest trace
    searched_from: datetime  # how far back the provider was asked
    complete: bool = True
    requests: int = 0  # what asking cost


class Provider(ABC):
    """Base class of the providers; see the module docstring."""

    name: str = ""
    capabilities: Capabilities = Capabilities()
    #: what the provider declares (settings, capabilities...); the base class parses the settings with it
    spec: ClassVar[ProviderSpec | None] = None

    def __init__(self, settings: Mapping[str, Any] | None = None, *, state_dir: Path | None = None) -> None:
        self.settings: dict[str, Any] = dict(settings or {})
        self.state_dir = state_dir  # smsrun's state folder (the outbox keeps its database there)
        spec = type(self).spec
        if spec is not None:
            # typed settings (unknown keys, wrong types: ConfigError); capabilities computed from them, as
            # the loader and the planner compute them, so plan and send agree
            self.options: ProviderSettings = spec.parse(self.settings)
            self.capabilities = spec.capabilities_for(self.options)

    @abstractmethod
    def send(self, batch: Batch) -> list[RecipientResult]:
        """Send one batch; one result per message (order free). Raise a classified error for a
        whole-request failure."""

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        """Tell which recipients of an in-doubt batch the provider accepted.

        Returns a result for every recipient the provider knows about; recipients missing from the
        mapping were *not* accepted. Returns None when the provider cannot tell.
        """
        return None

    def history(self, campaign_id: str, sender: Sender, wanted: Mapping[str, str],
                since: datetime) -> ProviderHistory | None:
        """What the provider already sent for this campaign since ``since``, among ``wanted`` (the plan's
        recipient -> text). None: this provider keeps no history smsrun can read (Kannel)."""
        return None

    def provider_ids(self, campaign_id: str, batches: Mapping[str, Sequence[str]], since: datetime) -> dict[str, str]:
        """recipient -> provider id for messages settled as sent without one (a reconciliation that could
        count a batch but not pair ids with recipients), by batch id; asked lazily, in bulk, before
        delivery reports are fetched. Empty when the provider cannot tell."""
        return {}

    def preflight(self, *, sender: Sender, total_parts: int) -> list[str]:
        """Read-only checks at plan time (sender enabled, credits...). Returns warnings."""
        return []

    def delivery_reports(self, provider_ids: Sequence[str]) -> list[DeliveryReport]:
        """Fetch delivery reports for messages sent earlier, where the provider supports it."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
