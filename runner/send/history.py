"""An empty ledger is not proof that nothing was sent: ask the provider first (issue 11, §2).

A ledger can be lost: a CI runner without its cache, a new laptop, a deleted folder, a wrong
``--state-dir``. Before the first claim of a campaign the ledger has never seen, :func:`guard` asks the
provider what it already sent for it (:meth:`Provider.history`):

* the outbox: its own table, by campaign id;
* OVHcloud: the SMS tagged with the campaign's first request's tag (derivable: the first run of a
  campaign the ledger never saw is run ``1``), those whose tag starts with the campaign's slug, and its
  deferred jobs (which carry no tag), kept when receiver and text are the plan's;
* Twilio: the messages from the campaign's sender since the campaign's schedule or the last 30 days,
  intersected with the plan's recipients and texts;
* Kannel keeps no history smsrun can read: nothing can be checked (``plan`` says so).

Traces found: :class:`LostLedgerError` (exit 1, nothing sent) saying how many, since when and which
provider — unless ``adopt`` (the provider's record becomes ledger rows: those recipients are ``sent``
with their provider ids, and only the others are sent) or ``ignore`` (the explicit opt-out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from runner.errors import ProviderError, SmsrunError
from runner.providers.base import FIRST_RUN_ID, Provider, ProviderHistory

if TYPE_CHECKING:
    from runner.ledger.store import Ledger
    from runner.plan.build import Plan, Problem

SEARCH_DAYS = 30  # how far back the provider is asked, unless the campaign's schedule starts earlier
ADOPTED_REASON = "adopted from the provider's record (smsrun send --adopt)"


class LostLedgerError(SmsrunError):
    """The ledger has never seen a campaign the provider already sent messages for."""


@dataclass(frozen=True)
class GuardOutcome:
    first_run_id: str | None = None  # the run id of a campaign's very first run (its first tag derivable)
    adopted: int = 0
    history: ProviderHistory | None = None


def search_from(plan: Plan, now: datetime | None = None) -> datetime:
    """The campaign's schedule start or 30 days ago, whichever is earlier."""
    start = (now or datetime.now(UTC)) - timedelta(days=SEARCH_DAYS)
    not_before = plan.campaign.schedule.not_before
    return min(start, not_before) if not_before is not None else start


def ask(plan: Plan, provider: Provider) -> ProviderHistory | None:
    """What the provider already sent for this campaign, among the plan's recipients (None: it keeps no
    history). Raises :class:`LostLedgerError` when it cannot be asked."""
    from runner.plan.history import RecipientTexts  # a lazy mapping: no dict of every recipient (issue 14)

    try:
        return provider.history(plan.campaign.id, plan.campaign.sender, RecipientTexts(plan.recipients),
                                search_from(plan))
    except ProviderError as exc:
        raise LostLedgerError(
            f"the ledger has never seen campaign {plan.campaign.id!r}, and asking the provider whether it "
            f"already sent it failed: {exc}. Nothing was sent; run again, or pass --ignore-provider-history "
            "if you know this campaign was never sent") from None


def describe(history: ProviderHistory) -> str:
    since = f" since {history.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if history.since else ""
    return f"{history.provider} already holds {history.count} SMS of this campaign{since}"


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


def plan_problems(plan: Plan, provider: Provider) -> list[Problem]:
    """What ``smsrun plan`` says about the provider's record of a campaign the ledger has never seen."""
    from runner.plan.build import Problem

    try:
        history = ask(plan, provider)
    except LostLedgerError as exc:
        return [Problem("warning", f"provider history not checked: {exc}")]
    if history is None:
        return [Problem("info", f"{provider.name} keeps no history smsrun can read: if this campaign's ledger "
                                "was lost, nothing can tell what was already sent (keep the state folder, or "
                                "share the ledger)")]
    if history.count:
        return [Problem("error", f"the ledger has no record of this campaign, but {describe(history)}: the "
                                 "ledger was probably lost; `smsrun send` refuses unless --adopt (record them "
                                 "as sent, send the rest) or --ignore-provider-history")]
    return []
