"""Claim scheduling: what is left to send, in order, as claim groups of requests (:class:`Groups`).

Order: first the campaign's pending rows in the ledger (page by page), then the plan's recipients the
ledger does not hold yet, in the order of their numbers (written when claimed: :meth:`Ledger.claim_new`),
then, if some were put back to pending during the run, the ledger again (up to MAX_SWEEPS sweeps).
Recipients outside their window are held (:mod:`runner.send.windows`).

Requests are claimed together, up to CLAIM_GROUP requests and CLAIM_ROWS recipients per transaction (one
durable commit), for a provider that can reconcile and no rate limit; otherwise one request per claim.
"""

from __future__ import annotations

import uuid
from collections import deque
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from runner.ledger.store import Ledger
from runner.plan.build import Plan
from runner.providers.base import Provider
from runner.send import guards
from runner.send.batches import (
    Group,
    Request,
    build_batch,
    claim_groups,
    ledger_requests,
    new_requests,
    request_size,
)
from runner.send.options import SendOptions, SendReport
from runner.send.stop import Stop
from runner.send.windows import sendable_checker
from runner.send.writer import LedgerWriter

MAX_SWEEPS = 3  # passes over rows put back to pending during a run
CLAIM_GROUP = 64  # requests claimed in one transaction (see Groups)
CLAIM_ROWS = 2_000  # recipients claimed in one transaction, unless one request holds more

PendingClaim = tuple["Future[list[list[tuple[Any, ...]]]]", datetime, list[tuple[str, list[tuple[Any, ...]]]]]


class Groups:
    """What is left to send, as claim groups of requests: first the campaign's pending rows in the ledger
    (page by page), then the plan's recipients the ledger does not hold yet (written when claimed:
    :meth:`Ledger.claim_new`), then, if some were put back to pending, the ledger again (sweeps)."""

    def __init__(self, ledger: Ledger, writer: LedgerWriter, plan: Plan, provider: Provider, report: SendReport,
                 options: SendOptions, stop: Stop, rate_limited: bool, run_id: str | None = None) -> None:
        self.ledger, self.writer, self.plan, self.report, self.stop = ledger, writer, plan, report, stop
        self.provider = provider
        self.size = max(1, provider.capabilities.max_recipients_per_request)
        self.texts = ledger.texts(plan.campaign.id)
        self.run_id = run_id or uuid.uuid4().hex[:10]
        self.sendable = sendable_checker(plan, options.clock)
        self.optouts = guards.OptoutGuard(ledger)  # issue 15: opt-outs made while the send runs
        # requests are claimed together: one durable commit (one fsync) for up to CLAIM_GROUP requests
        # and CLAIM_ROWS recipients (or one request, if bigger), all before the first of them is sent;
        # not under a rate limit, where the claim would wait long before its send
        # a provider that cannot reconcile gets one request per claim: a crash then leaves at most one
        # request in doubt, to be resolved by a person, not a whole group
        self.together = CLAIM_GROUP if provider.capabilities.can_reconcile and not rate_limited else 1
        self.group_rows = max(self.size, CLAIM_ROWS) if self.together > 1 else self.size
        recipients = plan.recipients
        known = recipients.in_ledger
        numbers = recipients.numbers
        # in the order of their numbers: see Ledger.claim_new
        unknown = [i for i in range(len(numbers)) if numbers[i] not in known] if known else range(len(numbers))
        self.new: list[int] = sorted(unknown, key=numbers.__getitem__)
        self.new_at = 0
        self.new_done = not self.new
        self.phase = "ledger"  # then "new", then "done"; "sweep" while going over the ledger again
        self.cursor = 0
        self.sequence = 0
        self.sweeps = 0
        self.ready: deque[tuple[bool, list[Request]]] = deque()
        report.held = 0
        self.released_before = report.released

    # -- claims ------------------------------------------------------------------------------------
    def claim(self, group: tuple[bool, list[Request]]) -> PendingClaim:
        new, requests = group
        at = datetime.now(UTC)  # no later than the claim: reconciliation looks from here
        return (self.writer.claim(self.plan.campaign.id, requests, new=new, run_id=self.run_id), at, requests)

    def claimed(self, claim: PendingClaim) -> tuple[Group, datetime]:
        """Wait for the claim to be on disk; the requests' batches, with what was claimed, and a time no
        later than the claim (reconciliation looks from there)."""
        future, at, requests = claim
        rows = future.result()
        out: Group = []
        for (batch_id, asked), got in zip(requests, rows, strict=True):
            if not got:
                continue
            if len(got[0]) == 2:  # new recipients, (rowid, recipient): asked was [(text, parts, numbers)]
                if len(asked) == 1:
                    text = asked[0][0]
                    got = [(rowid, recipient, text) for rowid, recipient in got]
                else:
                    text_of = {number: text for text, _, numbers in asked for number in numbers}
                    got = [(rowid, recipient, text_of[recipient]) for rowid, recipient in got]
            out.append((build_batch(self.plan, batch_id, got), [r[0] for r in got]))
        return out, at

    # -- what to claim next --------------------------------------------------------------------------
    def next(self, *, sweep: bool = True) -> tuple[bool, list[Request]] | None:
        """The next group to claim, (new, requests); None when there is none now. ``sweep=False`` (asked
        while a group is still being sent) does not go back over rows put back to pending: that is done
        once they are."""
        report, campaign = self.report, self.plan.campaign
        while not self.ready:
            if self.stop.requested:
                return None
            if self.phase == "new":
                if not self._new_page():
                    self.phase = "done"
                    self.new_done = True
                continue
            if self.phase in ("ledger", "sweep"):
                page = self.ledger.pending_after(campaign.id, self.cursor, self.size * 4)
                if page:
                    self.cursor = page[-1][0]
                    if any((text_id or 0) not in self.texts for _, _, text_id in page):
                        self.texts = self.ledger.texts(campaign.id)  # written since by claim_new
                    texts = self.texts
                    ready: list[tuple[Any, ...]] = []
                    for rowid, recipient, text_id in page:
                        if self.sendable is None or self.sendable(recipient):
                            ready.append((rowid, recipient, texts[text_id or 0]))
                        else:
                            report.held += 1
                    one_text = self.provider.capabilities.one_text_many_recipients
                    self._requests(ledger_requests(ready, self.size, one_text), new=False)
                    continue
                self.phase = "new" if self.phase == "ledger" else "done"
                continue
            # rows the provider said it did not accept went back to pending behind the cursor: sweep again
            if sweep and report.released > self.released_before and self.sweeps < MAX_SWEEPS:
                self.writer.flush()  # those rows' settles are committed before they are read again
                self.sweeps += 1
                self.released_before = report.released
                self.cursor = 0
                report.held = 0
                self.phase = "sweep"
                continue
            return None
        return self.ready.popleft()

    def _new_page(self) -> bool:
        """Group the next page of recipients not yet in the ledger; False when there are none left."""
        if self.new_at >= len(self.new):
            return False
        recipients = self.plan.recipients
        numbers, texts, parts = recipients.numbers, recipients.texts, recipients.parts
        page = self.new[self.new_at:self.new_at + self.size * 4]
        self.new_at += len(page)
        sendable = self.sendable
        if sendable is not None:
            held = [(numbers[i], texts[i], parts[i]) for i in page if not sendable(numbers[i])]
            if held:  # held back by their window: written as pending, for a later run (or --wait)
                self.report.held += len(held)
                self.writer.add_pending(self.plan.campaign.id, held, self.run_id)
                page = [i for i in page if sendable(numbers[i])]
        one_text = self.provider.capabilities.one_text_many_recipients
        self._requests(new_requests(page, numbers, texts, parts, self.size, one_text), new=True)
        return True

    def _requests(self, chunks: list[Any], *, new: bool) -> None:
        """Name the requests and put them in claim groups."""
        campaign_id = self.plan.campaign.id
        sized = [(chunk, request_size(chunk, new)) for chunk in chunks]
        for group in claim_groups(sized, self.group_rows, self.together):
            requests: list[Request] = []
            for chunk, _ in group:
                self.sequence += 1
                requests.append((f"{campaign_id}.{self.run_id}.{self.sequence}", chunk))
            self.ready.append((new, requests))
