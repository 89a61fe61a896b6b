"""Before the first claim of a campaign the ledger has never seen, ask the provider first (issue 11, §2).

What the provider already sent is asked by :mod:`runner.plan.history` (``plan`` reports it too). Traces
found: :class:`LostLedgerError` (exit 1, nothing sent) saying how many, since when and which provider —
unless ``adopt`` (the provider's record becomes ledger rows: those recipients are ``sent`` with their
provider ids, and only the others are sent) or ``ignore`` (the explicit opt-out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from runner.plan.history import LostLedgerError, ask, describe
from runner.providers.base import FIRST_RUN_ID, Provider, ProviderHistory

if TYPE_CHECKING:
    from runner.ledger.store import Ledger
    from runner.plan.model import Plan

__all__ = ["ADOPTED_REASON", "GuardOutcome", "LostLedgerError", "guard"]

ADOPTED_REASON = "adopted from the provider's record (smsrun send --adopt)"


@dataclass(frozen=True)
class GuardOutcome:
    first_run_id: str | None = None  # the run id of a campaign's very first run (its first tag derivable)
    adopted: int = 0
    history: ProviderHistory | None = None


def guard(ledger: Ledger, plan: Plan, provider: Provider, *, adopt: bool, ignore: bool) -> GuardOutcome:
    """Run before the first claim of a send (see the module docstring)."""
    campaign = plan.campaign
    if ignore or ledger.campaign_seen(campaign.id) or not plan.recipients.numbers:
        return GuardOutcome()
    history = ask(plan, provider)
    if history is None:
        return GuardOutcome()
    if not history.count:
        return GuardOutcome(first_run_id=FIRST_RUN_ID, history=history)
    if not adopt:
        raise LostLedgerError(
            f"the ledger ({ledger.path}) has no record of campaign {campaign.id!r}, but {describe(history)}: "
            "the ledger was probably lost or is not the right one (another machine, a CI runner without its "
            "cache, a wrong --state-dir). Nothing was sent. Use the right ledger; or pass --adopt to record "
            "those messages as sent and send only to the other recipients; or --ignore-provider-history to "
            "send to everyone anyway (they would get it twice)")
    if not history.complete:
        raise LostLedgerError(
            f"{describe(history)}, but it did not say which recipients got them in one listing, so they cannot "
            "be adopted. Nothing was sent; use the ledger of the run that sent them")
    recipients = plan.recipients
    index = {number: i for i, number in enumerate(recipients.numbers)}
    rows = []
    for trace in history.traces:
        i = index[trace.recipient]
        rows.append((trace.recipient, recipients.texts[i], recipients.parts[i], trace.provider_id,
                     trace.at.astimezone(UTC).isoformat(timespec="milliseconds") if trace.at else None))
    adopted = ledger.adopt_sent(campaign.id, rows, ADOPTED_REASON)
    recipients.in_ledger |= {trace.recipient for trace in history.traces}
    return GuardOutcome(adopted=adopted, history=history)

