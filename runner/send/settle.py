"""Settling: what the provider answered for a request, written to its claimed rows.

Each answer becomes ``sent``, ``rejected`` (with the reason; an opt-out joins the suppression list),
``pending`` again (RETRY: not accepted, safe to send as a new claim) or ``in_doubt``; a recipient the
answer does not mention is in doubt. The settles of a claim group of small requests are gathered in a
:class:`Settles` and committed together."""

from __future__ import annotations

from runner.ledger.store import SettleGroups
from runner.providers.base import Outcome, RecipientResult
from runner.send import guards
from runner.send.crashpoints import after_settle
from runner.send.options import SendReport
from runner.send.writer import LedgerWriter


class Settles:
    """The settles of a claim group's requests, committed in one transaction by :meth:`flush`.

    Until then the answered rows stay ``claimed``: after a crash they are reconciled like any row
    claimed when the run died (see the ledger's module docstring)."""

    def __init__(self) -> None:
        self.updates: SettleGroups = {}
        self.opted_out: list[str] = []

    def add(self, updates: SettleGroups, opted_out: list[str]) -> None:
        for key, pairs in updates.items():
            self.updates.setdefault(key, []).extend(pairs)
        self.opted_out += opted_out

    def flush(self, writer: LedgerWriter, provider_name: str) -> None:
        if self.updates:
            writer.settle(self.updates, opted_out=self.opted_out, source=f"provider:{provider_name}",
                          then=after_settle)
            self.updates, self.opted_out = {}, []


def settle(writer: LedgerWriter, results: list[RecipientResult], by_recipient: dict[str, int], report: SendReport,
           provider_name: str = "provider", sink: Settles | None = None) -> None:
    """Settle the rows ``by_recipient`` (recipient -> rowid) with the provider's ``results`` and count them
    in ``report``; into ``sink`` when given, else committed now."""
    updates: SettleGroups = {}  # (status, reason, cost) -> [(rowid, provider_id)]: see Ledger.settle
    opted_out: list[str] = []
    seen: set[str] = set()
    sent = 0
    for result in results:
        recipient = result.recipient
        rowid = by_recipient.get(recipient)
        if rowid is None or recipient in seen:
            continue
        seen.add(recipient)
        outcome = result.outcome
        if result.reason:  # issue 15: a gateway's words may quote a secret; they are stored and printed
            result = result._replace(reason=guards.clean_reason(result.reason))
        if outcome == Outcome.SENT:
            key: tuple[str, str | None, float | None] = ("sent", None, result.cost)
            sent += 1
        elif outcome == Outcome.REJECTED:
            key = ("rejected", result.reason, None)
            if result.opted_out:
                opted_out.append(recipient)
            report.rejected += 1
            reason = result.reason or "rejected"
            report.rejections[reason] = report.rejections.get(reason, 0) + 1
        elif outcome == Outcome.RETRY:
            key = ("pending", result.reason, None)
            report.total -= 1
            report.released += 1
        else:
            key = ("in_doubt", result.reason, None)
            report.in_doubt += 1
        pairs = updates.get(key)
        if pairs is None:
            pairs = updates[key] = []
        pairs.append((rowid, None if outcome == Outcome.RETRY else result.provider_id))
    report.sent += sent
    if len(seen) < len(by_recipient):  # the provider said nothing about them: in doubt
        silent = [(rowid, None) for recipient, rowid in by_recipient.items() if recipient not in seen]
        key = ("in_doubt", "the provider's answer did not mention this recipient", None)
        updates.setdefault(key, []).extend(silent)
        report.in_doubt += len(silent)
    if sink is not None:
        sink.add(updates, opted_out)
        return
    writer.settle(updates, opted_out=opted_out, source=f"provider:{provider_name}", then=after_settle)
