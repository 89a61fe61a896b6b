"""The send: orchestration (:func:`send_plan`) and the recovery of a dead run's rows.

For every request: **claim** the batch's rows in the ledger (committed), **call** the provider,
**settle** the rows with what it answered (committed). Whatever happens between claim and settle —
a crash, ``kill -9``, a timeout, a dropped connection — leaves the rows ``claimed``/``in_doubt``, never
``pending``: they are reconciled with the provider where it can tell, and otherwise reported, never
resent blindly.

The rooms of the send, in the order a run goes through them:

* here: lock the campaign, check the ledger, ask the provider about a campaign the ledger never saw
  (:mod:`runner.send.history`), reconcile what a dead run left claimed (:func:`settle_previous_run`),
  then send what is pending, and with ``--wait`` again as windows open;
* :mod:`runner.send.claims`: what to claim next, in order, as claim groups of requests
  (:mod:`runner.send.batches` builds the requests and batches);
* :mod:`runner.send.pipeline`: claim, send and settle group after group, claims committed ahead;
* :mod:`runner.send.call`: one request's call, retries (the shared backoff) and reconciliation;
* :mod:`runner.send.settle`: the answers written to the ledger; :mod:`runner.send.writer` writes;
* :mod:`runner.send.windows`: who may be sent to now, and ``--wait``;
* :mod:`runner.send.stop` (SIGINT, SIGTERM), :mod:`runner.send.guards` (issue 15's checks),
  :mod:`runner.send.options` (:class:`SendOptions`, :class:`SendReport`) and
  :mod:`runner.send.crashpoints` (the kill -9 proofs' test seam).

A rate limit (``limits.rate``, else the provider's default) is the shared
:class:`~runner.providers.http.RateLimiter`, in turns of one full request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runner.ledger.store import Ledger, SettleUpdate
from runner.plan.build import Plan, content_hash
from runner.providers import create_provider
from runner.providers.base import Outcome, Provider
from runner.providers.http import RateLimiter
from runner.send import guards, history
from runner.send.batches import build_batch
from runner.send.call import reconcile
from runner.send.claims import Groups
from runner.send.crashpoints import crash_point
from runner.send.options import SendOptions, SendReport
from runner.send.pipeline import send_groups
from runner.send.stop import Stop
from runner.send.windows import wait_for_next_window
from runner.send.writer import LedgerWriter


def send_plan(plan: Plan, options: SendOptions | None = None, *, provider: Provider | None = None) -> SendReport:
    """Send what ``plan`` says is to send now. The plan must be free of errors."""
    options = options or SendOptions()
    plan.raise_for_problems()
    campaign = plan.campaign
    report = SendReport(campaign.id)
    report.skipped = plan.already_sent + plan.rejected_before
    ledger = Ledger(plan.state_dir)
    stop = Stop()
    own_provider = provider is None
    try:
        ledger.lock_campaign(campaign.id, options.lock_timeout)
        guards.check_ledger(ledger, campaign.id)  # issue 15: damaged, or a newer smsrun's: refused
        ledger.register_campaign(campaign.id, content_hash(campaign), campaign.provider.name)
        if provider is None:
            provider = create_provider(campaign.provider.name, campaign.provider.settings, state_dir=plan.state_dir)
        with stop.installed(options.handle_sigint):
            # issue 11: a campaign this ledger never saw: ask the provider first (runner.send.history)
            guarded = history.guard(ledger, plan, provider, adopt=options.adopt,
                                    ignore=options.ignore_provider_history)
            report.adopted = guarded.adopted
            report.skipped += guarded.adopted
            settle_previous_run(ledger, plan, provider, report, options)
            send_pending(ledger, plan, provider, report, options, stop, run_id=guarded.first_run_id)
            while options.wait and not stop.requested and report.held:
                if not wait_for_next_window(plan, report, options, stop):
                    break
                send_pending(ledger, plan, provider, report, options, stop)
        report.interrupted = stop.requested
        report.stop_signal = stop.signum
        if options.progress:
            options.progress(report)
        return report
    finally:
        if own_provider and provider is not None:
            provider.close()
        ledger.close()


def settle_previous_run(ledger: Ledger, plan: Plan, provider: Provider, report: SendReport,
                        options: SendOptions) -> None:
    """Rows left claimed by a dead run become in doubt; ask the provider about them."""
    campaign_id = plan.campaign.id
    ledger.stale_claims_to_in_doubt(campaign_id)
    if provider.capabilities.can_reconcile:
        rows = ledger.rows(campaign_id, ["in_doubt"])
        by_batch: dict[str, list[Any]] = {}
        for row in rows:
            by_batch.setdefault(row.batch_id or "", []).append(row)
        texts = ledger.texts(campaign_id) if rows else {}
        for batch_id, batch_rows in by_batch.items():
            if not batch_id:
                continue
            batch = build_batch(plan, batch_id,
                                [(r.rowid, r.recipient, texts.get(r.text_id or 0, "")) for r in batch_rows])
            since = min((datetime.fromisoformat(r.claimed_at) for r in batch_rows if r.claimed_at),
                        default=datetime.now(UTC))
            found = reconcile(provider, batch, since, options)
            if found is None:
                continue
            crash_point("after_reconcile")
            updates: list[SettleUpdate] = []
            for row in batch_rows:
                result = found.get(row.recipient)
                if result is not None and result.outcome == Outcome.SENT:
                    updates.append(("sent", result.provider_id, "reconciled with the provider", result.cost, row.rowid))
                elif result is not None and result.outcome == Outcome.REJECTED:
                    updates.append(("rejected", result.provider_id, result.reason, None, row.rowid))
                else:  # the provider did not accept it: safe to send
                    updates.append(("pending", None, "reconciled: not accepted by the provider", None, row.rowid))
            ledger.settle(updates)
            report.reconciled += len(updates)
    if options.resend_in_doubt:
        ledger.resend_in_doubt(campaign_id)


def send_pending(ledger: Ledger, plan: Plan, provider: Provider, report: SendReport, options: SendOptions,
                 stop: Stop, run_id: str | None = None) -> None:
    """One run's send of what is pending now (see :mod:`runner.send.claims` for the order)."""
    campaign = plan.campaign
    rate = campaign.limits.rate or provider.capabilities.default_rate
    # strictly paced: no second in which more than ``rate`` messages leave, however the requests are cut
    # (a request of n messages leaves once its n slots are free, so small requests never bunch up)
    limiter = RateLimiter.per_second(rate, sleep=options.sleep, clock=options.monotonic) if rate else None
    # a provider that can reconcile gets its claims and settles written by a thread, beside the HTTP
    # (runner.send.writer); one that cannot keeps them inline, as does a rate-limited send, whose
    # claims must not be written long before their request leaves
    pipelined = provider.capabilities.can_reconcile and limiter is None
    writer = LedgerWriter(ledger, background=pipelined)
    groups = Groups(ledger, writer, plan, provider, report, options, stop, limiter is not None, run_id)
    try:
        ledger.start_run(campaign.id, groups.run_id, len(groups.new))
        send_groups(groups, writer, plan, provider, report, options, stop, limiter, pipelined)
    except BaseException:
        writer.close(quiet=True)  # what was answered is still settled
        raise
    writer.close()
    if groups.new_done:
        ledger.finish_run(campaign.id, groups.run_id)
