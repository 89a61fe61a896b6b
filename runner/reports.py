"""Delivery reports pulled from the provider (``smsrun status --refresh``)."""

from __future__ import annotations

from pathlib import Path

from runner.ledger.store import Ledger
from runner.providers import create_provider

CHUNK = 500


def refresh_delivery_reports(campaign_file: Path, state_dir: Path) -> int:
    """Ask the campaign's provider about every sent message not yet final; returns how many changed."""
    from runner.campaign.loader import load_campaign

    campaign = load_campaign(campaign_file, check_files=False)
    if not (state_dir / "ledger.sqlite").exists():
        return 0
    changed = 0
    with Ledger(state_dir) as ledger, create_provider(campaign.provider.name, campaign.provider.settings,
                                                      state_dir=state_dir) as provider:
        ids = [row[0] for row in ledger.db.execute(
            "SELECT provider_id FROM messages WHERE campaign_id = ? AND status = 'sent' AND provider_id IS NOT NULL",
            (campaign.id,))]
        for start in range(0, len(ids), CHUNK):
            for report in provider.delivery_reports(ids[start:start + CHUNK]):
                if report.status in ("delivered", "failed") and ledger.record_delivery(
                        provider.name, report.provider_id, report.status, report.reason):
                    changed += 1
    return changed
