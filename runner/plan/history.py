"""An empty ledger is not proof that nothing was sent: what the provider already sent for a campaign
the ledger has never seen (issue 11).

A ledger can be lost: a CI runner without its cache, a new laptop, a deleted folder, a wrong
``--state-dir``. :func:`ask` asks the provider (:meth:`Provider.history`):

* the outbox: its own table, by campaign id;
* OVHcloud: the SMS tagged with the campaign's first request's tag (derivable: the first run of a
  campaign the ledger never saw is run ``1``), those whose tag starts with the campaign's slug, and its
  deferred jobs (which carry no tag), kept when receiver and text are the plan's;
* Twilio: the messages from the campaign's sender since the campaign's schedule or the last 30 days,
  intersected with the plan's recipients and texts;
* Kannel keeps no history smsrun can read: nothing can be checked (``plan`` says so).

``plan`` reports what it finds as problems (:func:`check_history`); ``send`` asks again before its first
claim and refuses, adopts or ignores the traces (``runner.send.history.guard``, which builds on this).

The provider gets the plan's recipients as :class:`RecipientTexts`, the read-only mapping number -> text.
``dict(zip(numbers, texts))`` at 5M rows (3.9M recipients) was 3.9M new strings and a dict, ~370 MB,
the plan's peak by far (issue 14). The provider only looks numbers up (``wanted.get(number)``,
``number in wanted``), so it gets a mapping over the plan's compact lists whose index (number ->
position) is built on the first lookup only: a provider that finds nothing (the common case) costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from runner.audience.numbers import pack
from runner.errors import ProviderError, SmsrunError
from runner.plan.model import Plan, RecipientList
from runner.plan.problems import Problem
from runner.providers.base import Provider, ProviderHistory

SEARCH_DAYS = 30  # how far back the provider is asked, unless the campaign's schedule starts earlier


class LostLedgerError(SmsrunError):
    """The ledger has never seen a campaign the provider already sent messages for."""


class RecipientTexts(Mapping[str, str]):
    """The plan's recipients -> their texts, read lazily from its lists."""

    def __init__(self, recipients: RecipientList) -> None:
        self.recipients = recipients
        self._index: dict[int, int] | None = None

    def __getitem__(self, number: str) -> str:
        try:
            key = pack(number)
        except ValueError:
            raise KeyError(number) from None
        if self._index is None:
            packed = self.recipients.numbers.packed
            self._index = dict(zip(reversed(packed), reversed(range(len(packed))), strict=True))  # first wins
        try:
            return self.recipients.texts[self._index[key]]
        except KeyError:
            raise KeyError(number) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.recipients.numbers)

    def __len__(self) -> int:
        return len(self.recipients.numbers)


def search_from(plan: Plan, now: datetime | None = None) -> datetime:
    """The campaign's schedule start or 30 days ago, whichever is earlier."""
    start = (now or datetime.now(UTC)) - timedelta(days=SEARCH_DAYS)
    not_before = plan.campaign.schedule.not_before
    return min(start, not_before) if not_before is not None else start


def ask(plan: Plan, provider: Provider) -> ProviderHistory | None:
    """What the provider already sent for this campaign, among the plan's recipients (None: it keeps no
    history). Raises :class:`LostLedgerError` when it cannot be asked."""
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


def plan_problems(plan: Plan, provider: Provider) -> list[Problem]:
    """What ``smsrun plan`` says about the provider's record of a campaign the ledger has never seen."""
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


def check_history(plan: Plan, provider_cls: Any) -> None:
    """Add to the plan's problems what the provider already sent for a campaign this ledger never saw."""
    from runner.providers import expand_settings

    try:
        provider = provider_cls(expand_settings(plan.campaign.provider.settings), state_dir=plan.state_dir)
    except SmsrunError as exc:
        plan.problems.append(Problem("warning", f"provider history not checked: {exc}"))
        return
    try:
        plan.problems.extend(plan_problems(plan, provider))
    except SmsrunError as exc:
        plan.problems.append(Problem("warning", f"provider history not checked: {exc}"))
    finally:
        provider.close()
