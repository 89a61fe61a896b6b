"""The send loop over claim groups: claim, send, settle, group after group (:func:`send_groups`).

Pipelined (a provider that can reconcile, no rate limit: claims and settles are written by the ledger
writer's thread while requests are on the wire), the claims of the next PIPELINE_DEPTH groups are
committed while the current group is sent, so a crash may leave up to (1 + PIPELINE_DEPTH) x CLAIM_ROWS
recipients claimed; those never sent are found "not accepted" by the next run's reconciliation and sent
then. No request is sent before its own claim is on disk. Inline, each group (one request) waits for
the rate limit, then is claimed.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque

from runner.plan.build import Plan
from runner.providers.base import Provider
from runner.providers.http import RateLimiter
from runner.send.batches import group_recipients
from runner.send.call import call
from runner.send.claims import CLAIM_GROUP, Groups, PendingClaim
from runner.send.crashpoints import crash_point
from runner.send.options import SendOptions, SendReport
from runner.send.settle import Settles
from runner.send.stop import Stop
from runner.send.writer import LedgerWriter

PIPELINE_DEPTH = 2  # claim groups committed ahead of the one being sent (pipelined sends)


def send_groups(groups: Groups, writer: LedgerWriter, plan: Plan, provider: Provider, report: SendReport,
                options: SendOptions, stop: Stop, limiter: RateLimiter | None, pipelined: bool) -> None:
    """Claim, send and settle group after group. Pipelined, the claims of the next PIPELINE_DEPTH groups
    are committed while the current group is sent; no request is sent before its own claim is on disk."""
    max_failures = plan.campaign.limits.max_consecutive_failures
    failures = 0
    last_progress = 0.0
    ahead: deque[PendingClaim] = deque()  # claims submitted, in order

    def release_ahead() -> None:  # claimed, never sent: back to pending
        while ahead:
            with contextlib.suppress(Exception):
                writer.release([r for _, ids in groups.claimed(ahead.popleft())[0] for r in ids], "pending", None)

    while True:
        if not ahead:
            group = groups.next()
            if group is None:
                break
            if not pipelined and limiter is not None:  # inline: wait for the rate limit, then claim
                limiter.acquire(count=group_recipients(group))  # under a rate limit, a group is one request
            ahead.append(groups.claim(group))
        claimed, claimed_at = groups.claimed(ahead.popleft())
        crash_point("after_claim")
        if stop.requested:  # claimed, never sent: back to pending
            writer.release([r for _, ids in claimed for r in ids], "pending", None)
            release_ahead()
            break
        while pipelined and len(ahead) < PIPELINE_DEPTH:
            upcoming = groups.next(sweep=False)
            if upcoming is None:
                break
            ahead.append(groups.claim(upcoming))
        # the answers of a group of small requests are settled together, once the group is done; big
        # requests are settled one by one, so that a crash leaves few answered rows to reconcile
        rows = sum(len(ids) for _, ids in claimed)
        sink = Settles() if len(claimed) > 1 and rows <= CLAIM_GROUP else None
        try:
            for index, (batch, rowids) in enumerate(claimed):
                if stop.requested:  # claimed, never sent: back to pending
                    writer.release([r for _, ids in claimed[index:] for r in ids], "pending", None)
                    break
                batch, rowids = groups.optouts.filter(batch, rowids, writer, report)  # issue 15
                if not rowids:
                    continue
                report.total += len(rowids)
                try:
                    failures = call(writer, provider, batch, rowids, report, options, failures, max_failures,
                                    claimed_at, sink, groups.optouts)
                except BaseException:
                    unsent = [r for _, ids in claimed[index + 1:] for r in ids]
                    if unsent:  # the run stops: what it claimed and never sent goes back to pending
                        writer.release(unsent, "pending", None)
                    raise
                if options.progress and time.monotonic() - last_progress >= options.progress_every:
                    last_progress = time.monotonic()
                    options.progress(report)
        except BaseException:
            release_ahead()
            raise
        finally:
            if sink is not None:
                sink.flush(writer, provider.name)
        if stop.requested:
            release_ahead()
            break
