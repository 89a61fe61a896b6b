"""Issue 11's provider-history check, as ``plan`` runs it, without a dict of every recipient.

``runner.send.history.ask`` hands the provider ``dict(zip(numbers, texts))``: at 5M rows (3.9M
recipients) that is 3.9M new strings and a dict, ~370 MB, the plan's peak by far (issue 14). The
provider only looks numbers up (``wanted.get(number)``, ``number in wanted``), so the plan hands it
:class:`RecipientTexts`, a read-only mapping over the plan's compact lists whose index (number ->
position) is built on the first lookup only: a provider that finds nothing (the common case) costs
nothing. The messages are those of ``runner.send.history.plan_problems``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from runner.audience.numbers import pack

if TYPE_CHECKING:
    from runner.plan.build import Plan, Problem, RecipientList
    from runner.providers.base import Provider


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


def plan_problems(plan: Plan, provider: Provider) -> list[Problem]:
    """``runner.send.history.plan_problems``, asking with :class:`RecipientTexts`."""
    from runner.errors import ProviderError
    from runner.plan.build import Problem
    from runner.send.history import LostLedgerError, describe, search_from

    try:
        history = provider.history(plan.campaign.id, plan.campaign.sender, RecipientTexts(plan.recipients),
                                   search_from(plan))
    except ProviderError as exc:
        error = LostLedgerError(
            f"the ledger has never seen campaign {plan.campaign.id!r}, and asking the provider whether it "
            f"already sent it failed: {exc}. Nothing was sent; run again, or pass --ignore-provider-history "
            "if you know this campaign was never sent")
        return [Problem("warning", f"provider history not checked: {error}")]
    if history is None:
        return [Problem("info", f"{provider.name} keeps no history smsrun can read: if this campaign's ledger "
                                "was lost, nothing can tell what was already sent (keep the state folder, or "
                                "share the ledger)")]
    if history.count:
        return [Problem("error", f"the ledger has no record of this campaign, but {describe(history)}: the "
                                 "ledger was probably lost; `smsrun send` refuses unless --adopt (record them "
                                 "as sent, send the rest) or --ignore-provider-history")]
    return []
