"""``smsrun status``: a campaign's counts in the ledger, optionally refreshed from the provider's delivery
reports first (``--refresh``), or one row per recipient (``--recipients``, streamed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.commands.common import campaign_and_state
from runner.ledger.store import Ledger
from runner.ledger.url import ledger_exists
from runner.providers import create_provider
from runner.providers.base import Provider

CHUNK = 500


def refresh_delivery_reports(campaign_file: Path, state_dir: Path) -> int:
    """Ask the campaign's provider about every sent message not yet final; returns how many changed."""
    from runner.check import load_campaign

    campaign = load_campaign(campaign_file, check_files=False)
    if not ledger_exists(state_dir):
        return 0
    changed = 0
    with Ledger(state_dir) as ledger, create_provider(campaign.provider.name, campaign.provider.settings,
                                                      state_dir=state_dir) as provider:
        _learn_provider_ids(ledger, provider, campaign.id)  # issue 11
        ids = ledger.sent_provider_ids(campaign.id)
        for start in range(0, len(ids), CHUNK):
            for report in provider.delivery_reports(ids[start:start + CHUNK]):
                if report.status in ("delivered", "failed") and ledger.record_delivery(
                        provider.name, report.provider_id, report.status, report.reason):
                    changed += 1
    return changed


def _learn_provider_ids(ledger: Ledger, provider: Provider, campaign_id: str) -> None:
    """Issue 11: messages a reconciliation settled as sent without their provider id (it could count a
    batch, not pair ids with recipients) get it now, lazily and in bulk, so their reports match."""
    rows = ledger.sent_without_provider_id(campaign_id)
    if not rows:
        return
    batches: dict[str, list[str]] = {}
    for batch_id, recipient, _ in rows:
        batches.setdefault(batch_id, []).append(recipient)
    since = min((datetime.fromisoformat(at) for _, _, at in rows if at), default=datetime.now(UTC))
    found = provider.provider_ids(campaign_id, batches, since)
    if found:
        ledger.set_provider_ids(campaign_id, list(found.items()))


@dataclass
class RecipientRows:
    """``status --recipients``: the rows, streamed (a million rows cost one row of memory), and their columns."""

    rows: Iterator[dict[str, Any]]
    fields: tuple[str, ...]


def campaign_status_of(campaign: str, *, state_dir: Path | None = None, refresh: bool = False,
                       show_numbers: bool = False) -> dict[str, Any]:
    """The ledger's counts for ``campaign`` (a file or an id); with ``refresh``, after asking the provider
    (``refreshed``: how many reports changed)."""
    from runner.ledger.status import campaign_status

    campaign_id, folder = campaign_and_state(campaign, state_dir)
    extra: dict[str, Any] = {}
    if refresh:
        extra["refreshed"] = refresh_delivery_reports(Path(campaign), folder)
    return campaign_status(folder, campaign_id, show_numbers=show_numbers) | extra


def recipient_rows(campaign: str, *, state_dir: Path | None = None, statuses: str | None = None,
                   show_numbers: bool = False) -> RecipientRows:
    """One row per recipient of ``campaign``, only ``statuses`` (``failed,in_doubt``) when given."""
    from runner.ledger.recipients import FIELDS, iter_recipients, parse_statuses

    campaign_id, folder = campaign_and_state(campaign, state_dir)
    rows = iter_recipients(folder, campaign_id, statuses=parse_statuses(statuses), show_numbers=show_numbers)
    return RecipientRows(rows, tuple(FIELDS))
