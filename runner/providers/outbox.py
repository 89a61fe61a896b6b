"""The embedded ``outbox`` provider: messages go into a local SQLite outbox instead of a network.

It behaves like a real provider where it matters: it accepts a batch in one transaction, gives every
message an id, and can tell after a crash which messages of a batch it accepted (reconciliation by
batch tag), so the quick start needs no account and still exercises exactly-once.

``SMSRUN_OUTBOX_FAULTS`` (tests and benchmarks only) injects faults, e.g.
``retry=0.1,in_doubt_after_accept=0.02,seed=7``: ``retry`` refuses a batch before recording it;
``in_doubt_after_accept`` records the batch, then fails as a dropped connection would.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.campaign.model import Sender
from runner.errors import ConfigError, InDoubtError, RetryableError
from runner.ledger.outbox_sqlite import OutboxStore, count_rows, list_rows
from runner.providers.base import (
    Batch,
    Capabilities,
    Outcome,
    Provider,
    ProviderHistory,
    RecipientResult,
    SentTrace,
)
from runner.providers.settings import ProviderSettings, setting
from runner.providers.spec import ProviderSpec


def outbox_path(state_dir: Path) -> Path:
    return state_dir / "outbox.sqlite"


def _faults() -> dict[str, float]:
    raw = os.environ.get("SMSRUN_OUTBOX_FAULTS", "")
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"SMSRUN_OUTBOX_FAULTS: {item!r} is not key=number") from None
    return out


@dataclass(frozen=True)
class OutboxSettings(ProviderSettings):
    batch_size: int = setting(500, "messages per batch (default 500)", minimum=1)


def capabilities(settings: OutboxSettings) -> Capabilities:
    return Capabilities(max_recipients_per_request=settings.batch_size, one_text_many_recipients=True,
                        stop_mention=None, can_reconcile=True)


PROVIDER = ProviderSpec(
    name="outbox",
    title="the outbox",
    description="a local SQLite outbox (smsrun outbox); reconciles by batch",
    factory="runner.providers.outbox:OutboxProvider",
    settings=OutboxSettings,
    capabilities=capabilities,
    env=("SMSRUN_OUTBOX_FAULTS",),
)


class OutboxProvider(Provider):
    name = "outbox"
    spec = PROVIDER
    capabilities = capabilities(OutboxSettings())

    def __init__(self, settings: Mapping[str, Any] | None = None, *, state_dir: Path | None = None) -> None:
        super().__init__(settings, state_dir=state_dir)
        if state_dir is None:
            raise ConfigError("the outbox provider needs a state folder")
        self.path = outbox_path(state_dir)
        self.store = OutboxStore(self.path)  # its SQL is in runner/ledger/outbox_sqlite.py
        self._faults = _faults()
        self._random = random.Random(self._faults.get("seed"))
        if self.path.exists():
            _ = self.store.db  # issue 15: a damaged outbox is refused before anything is claimed

    def send(self, batch: Batch) -> list[RecipientResult]:
        if self._random.random() < self._faults.get("retry", 0.0):
            raise RetryableError("outbox: injected temporary failure", retry_after=0.0)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        sender = batch.sender.value or "short-code"
        first = self.store.insert([(batch.batch_id, batch.campaign_id, m.recipient, sender, int(batch.commercial),
                                    batch.encoding, m.text, stamp) for m in batch.messages])
        if self._random.random() < self._faults.get("in_doubt_after_accept", 0.0):
            raise InDoubtError("outbox: injected connection drop after the batch was accepted")
        return [RecipientResult(m.recipient, Outcome.SENT, provider_id=f"outbox-{first + i}", cost=None)
                for i, m in enumerate(batch.messages)]

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        found: dict[str, RecipientResult] = {}
        for row_id, recipient in self.store.batch(batch.batch_id):
            found[recipient] = RecipientResult(recipient, Outcome.SENT, provider_id=f"outbox-{row_id}")
        return found

    def history(self, campaign_id: str, sender: Sender, wanted: Mapping[str, str],
                since: datetime) -> ProviderHistory | None:
        """The outbox's own table, by campaign id (issue 11)."""
        if not self.path.exists():
            return ProviderHistory("the outbox", [], 0, None, since)
        traces: list[SentTrace] = []
        for row_id, recipient, created in self.store.campaign(campaign_id):
            if recipient in wanted:
                traces.append(SentTrace(recipient, f"outbox-{row_id}", datetime.fromisoformat(created)))
        oldest = min((t.at for t in traces if t.at), default=None)
        return ProviderHistory("the outbox", traces, len(traces), oldest, since, requests=1)

    def close(self) -> None:
        self.store.close()


def list_outbox(state_dir: Path, *, campaign_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Messages recorded in the outbox, newest last."""
    return list_rows(outbox_path(state_dir), campaign_id, limit)


def count_outbox(state_dir: Path, *, campaign_id: str | None = None) -> int:
    """How many messages the outbox recorded (for one campaign, or all)."""
    return count_rows(outbox_path(state_dir), campaign_id)
