"""The send loop.

For every request: **claim** the batch's rows in the ledger (committed), **call** the provider,
**settle** the rows with what it answered (committed). Whatever happens between claim and settle —
a crash, ``kill -9``, a timeout, a dropped connection — leaves the rows ``claimed``/``in_doubt``, never
``pending``: they are reconciled with the provider where it can tell, and otherwise reported, never
resent blindly.

Retries: a :class:`RetryableError` (nothing accepted) is retried with exponential backoff and full
jitter, honouring ``Retry-After``; after ``max_consecutive_failures`` failed requests in a row the run
stops with a clear message (the rows go back to pending, nothing was accepted). A
:class:`CredentialsError` stops the run at once.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any, NoReturn

from runner.errors import (
    CredentialsError,
    InDoubtError,
    PermanentError,
    RetryableError,
    TooManyFailuresError,
)
from runner.ledger.store import Ledger
from runner.plan.build import Plan, content_hash
from runner.providers import create_provider
from runner.providers.base import Batch, Outcome, OutgoingMessage, Provider, RecipientResult

Progress = Callable[["SendReport"], None]
MAX_SWEEPS = 3  # passes over rows put back to pending during a run
CLAIM_GROUP = 64  # requests claimed in one transaction when they are small (see _send_pending)
RECONCILE_ATTEMPTS = 3  # a provider that cannot tell now (transient errors) is asked again, with backoff
CRASH_ENV = "SMSRUN_TEST_CRASH_AT"
_crash_counts: dict[str, int] = {}


def _crash_point(point: str) -> None:
    """TEST-ONLY hook for the kill -9 proofs (tests/proofs): with ``SMSRUN_TEST_CRASH_AT=<point>:<n>``
    the process SIGKILLs itself the n-th time it reaches ``point``: ``after_claim`` (claim committed,
    provider not called), ``after_send`` (provider answered, nothing settled), ``after_settle``,
    ``after_reconcile`` (a dead run's batch reconciled, not yet settled). Unset: a no-op."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted or not wanted.startswith(point):
        return
    name, _, nth = wanted.partition(":")
    if name == point:
        _crash_counts[point] = _crash_counts.get(point, 0) + 1
        if _crash_counts[point] >= int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class SendOptions:
    resend_in_doubt: bool = False
    wait: bool = False  # stay and send each group when its window opens
    max_retries: int = 8  # per request, for RetryableError
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    progress: Progress | None = None
    progress_every: float = 1.0  # seconds between progress callbacks
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # windows and schedule
    handle_sigint: bool = True


@dataclass
class SendReport:
    campaign_id: str
    total: int = 0  # rows this run tried to handle
    sent: int = 0
    rejected: int = 0
    in_doubt: int = 0
    skipped: int = 0  # already done before this run
    held: int = 0  # outside their window / schedule: left pending
    reconciled: int = 0  # in-doubt rows settled by asking the provider
    requests: int = 0
    retries: int = 0
    released: int = 0  # claimed rows put back to pending (not accepted): swept again in the same run
    interrupted: bool = False
    stopped_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    rejections: dict[str, int] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def done(self) -> int:
        return self.sent + self.rejected + self.in_doubt

    def as_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign_id, "sent": self.sent, "rejected": self.rejected,
                "in_doubt": self.in_doubt, "skipped": self.skipped, "held": self.held,
                "reconciled": self.reconciled, "requests": self.requests, "retries": self.retries,
                "interrupted": self.interrupted, "elapsed_s": round(self.elapsed, 3),
                "rejections": self.rejections}


class _Stop:
    """Ctrl-C: the first one finishes the in-flight request and settles; the second one aborts."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self, enabled: bool) -> Iterator[None]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def _backoff(attempt: int, options: SendOptions, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(max(retry_after, 0.0), options.backoff_cap)
    return random.uniform(0, min(options.backoff_cap, options.backoff_base * (2 ** attempt)))


class _RateLimiter:
    def __init__(self, rate: float | None, sleep: Callable[[float], None]) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()
        self.sleep = sleep

    def wait(self, messages: int) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next_at > now:
            self.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.interval * messages


def send_plan(plan: Plan, options: SendOptions | None = None, *, provider: Provider | None = None) -> SendReport:
    """Send what ``plan`` says is to send now. The plan must be free of errors."""
    options = options or SendOptions()
    plan.raise_for_problems()
    campaign = plan.campaign
    report = SendReport(campaign.id)
    report.skipped = plan.already_sent + plan.rejected_before
    ledger = Ledger(plan.state_dir)
    stop = _Stop()
    own_provider = provider is None
    try:
        ledger.lock_campaign(campaign.id)
        ledger.register_campaign(campaign.id, content_hash(campaign), campaign.provider.name)
        if provider is None:
            provider = create_provider(campaign.provider.name, campaign.provider.settings, state_dir=plan.state_dir)
        with stop.installed(options.handle_sigint):
            _settle_previous_run(ledger, plan, provider, report, options)
            ledger.add_pending(campaign.id, plan.recipients.rows())
            _send_pending(ledger, plan, provider, report, options, stop)
            while options.wait and not stop.requested and report.held:
                if not _wait_for_next_window(plan, report, options, stop):
                    break
                _send_pending(ledger, plan, provider, report, options, stop)
        report.interrupted = stop.requested
        if options.progress:
            options.progress(report)
        return report
    finally:
        if own_provider and provider is not None:
            provider.close()
        ledger.close()


def _settle_previous_run(ledger: Ledger, plan: Plan, provider: Provider, report: SendReport,
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
            batch = _batch(plan, batch_id, [(r.rowid, r.recipient, texts.get(r.text_id or 0, "")) for r in batch_rows])
            since = min((datetime.fromisoformat(r.claimed_at) for r in batch_rows if r.claimed_at),
                        default=datetime.now(UTC))
            found = _reconcile(provider, batch, since, options)
            if found is None:
                continue
            _crash_point("after_reconcile")
            updates: list[tuple[str, str | None, str | None, float | None, int]] = []
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


def _reconcile(provider: Provider, batch: Batch, since: datetime,
               options: SendOptions) -> dict[str, RecipientResult] | None:
    """Ask the provider which recipients of an in-doubt batch it accepted. None (it cannot tell, e.g. its
    listing failed on transient errors) is asked again, a bounded number of times with backoff, before
    the whole batch is left in doubt."""
    if not provider.capabilities.can_reconcile:
        return None
    for attempt in range(RECONCILE_ATTEMPTS):
        if attempt:
            options.sleep(_backoff(attempt, options, None))
        found = provider.reconcile(batch, since)
        if found is not None:
            return found
    return None


def _batch(plan: Plan, batch_id: str, rows: list[tuple[int, str, str]]) -> Batch:
    from runner.message.encoding import measure

    campaign = plan.campaign
    encoding = "UCS-2" if any(measure(text).encoding == "UCS-2" for text in {t for _, _, t in rows}) else "GSM-7"
    not_before = campaign.schedule.not_before
    return Batch(
        campaign_id=campaign.id,
        batch_id=batch_id,
        sender=campaign.sender,
        commercial=campaign.commercial,
        encoding=encoding,
        messages=[OutgoingMessage(recipient, text, f"{campaign.id}:{recipient}") for _, recipient, text in rows],
        not_before=not_before if not_before and not_before > datetime.now(UTC) else None,
    )


def _send_pending(ledger: Ledger, plan: Plan, provider: Provider, report: SendReport, options: SendOptions,
                  stop: _Stop) -> None:
    campaign = plan.campaign
    size = max(1, provider.capabilities.max_recipients_per_request)
    texts = ledger.texts(campaign.id)
    run_id = uuid.uuid4().hex[:10]
    limiter = _RateLimiter(campaign.limits.rate or provider.capabilities.default_rate, options.sleep)
    sendable = _sendable_checker(plan, options.clock)
    failures = 0
    last_progress = 0.0
    cursor = 0
    sequence = 0
    sweeps = 0
    report.held = 0
    released_before = report.released
    while not stop.requested:
        page = ledger.pending_after(campaign.id, cursor, size * 4)
        if not page:
            # rows the provider said it did not accept went back to pending behind the cursor: sweep again
            if report.released > released_before and sweeps < MAX_SWEEPS:
                sweeps += 1
                released_before = report.released
                cursor = 0
                report.held = 0
                continue
            break
        cursor = page[-1][0]
        if sendable is None:  # no window and no schedule: everyone is sendable, no check per recipient
            ready = [(rowid, recipient, texts[text_id or 0]) for rowid, recipient, text_id in page]
        else:
            ready = []
            for rowid, recipient, text_id in page:
                if sendable(recipient):
                    ready.append((rowid, recipient, texts[text_id or 0]))
                else:
                    report.held += 1
        # one text per request where the provider sends one text to many: group by text
        groups: dict[str, list[tuple[int, str, str]]] = {}
        if provider.capabilities.one_text_many_recipients:
            for item in ready:
                groups.setdefault(item[2], []).append(item)
            chunks = [g[i:i + size] for g in groups.values() for i in range(0, len(g), size)]
        else:
            chunks = [ready[i:i + size] for i in range(0, len(ready), size)]
        # small requests (personalised texts) are claimed together: one durable commit for up to
        # CLAIM_GROUP requests, all before the first of them is sent; not under a rate limit, where the
        # claim would wait long before its send
        # a provider that cannot reconcile gets one request per claim: a crash then leaves at most one
        # request in doubt, to be resolved by a person, not a whole group
        together = CLAIM_GROUP if provider.capabilities.can_reconcile and not limiter.interval else 1
        for group in _claim_groups(chunks, size, together):
            if stop.requested:
                break
            batches: list[tuple[Batch, list[int]]] = []
            for chunk in group:
                sequence += 1
                batches.append((_batch(plan, f"{campaign.id}.{run_id}.{sequence}", chunk),
                                [rowid for rowid, _, _ in chunk]))
            limiter.wait(sum(len(ids) for _, ids in batches))  # under a rate limit, a group is one request
            claimed_at = datetime.now(UTC)
            ledger.claim_many([(rowids, batch.batch_id) for batch, rowids in batches])
            _crash_point("after_claim")
            # and their answers are settled together, once the group is done (or the run stops)
            sink = _Settles() if len(batches) > 1 else None
            try:
                for index, (batch, rowids) in enumerate(batches):
                    if stop.requested:  # claimed, never sent: back to pending
                        ledger.release([r for _, ids in batches[index:] for r in ids], "pending", None)
                        break
                    report.total += len(rowids)
                    try:
                        failures = _call(ledger, provider, batch, rowids, report, options, failures,
                                         campaign.limits.max_consecutive_failures, claimed_at, sink)
                    except BaseException:
                        unsent = [r for _, ids in batches[index + 1:] for r in ids]
                        if unsent:  # the run stops: what it claimed and never sent goes back to pending
                            ledger.release(unsent, "pending", None)
                        raise
                    if options.progress and time.monotonic() - last_progress >= options.progress_every:
                        last_progress = time.monotonic()
                        options.progress(report)
            finally:
                if sink is not None:
                    sink.flush(ledger, provider.name)


class _Settles:
    """The settles of a claim group's requests, committed in one transaction by :meth:`flush`.

    Until then the answered rows stay ``claimed``: after a crash they are reconciled like any row
    claimed when the run died (see the ledger's module docstring)."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str | None, str | None, float | None, int]] = []
        self.opted_out: list[str] = []

    def flush(self, ledger: Ledger, provider_name: str) -> None:
        if self.updates:
            ledger.settle(self.updates, opted_out=self.opted_out, source=f"provider:{provider_name}")
            self.updates, self.opted_out = [], []
            _crash_point("after_settle")


def _claim_groups(chunks: list[list[tuple[int, str, str]]], rows: int,
                  requests: int) -> Iterator[list[list[tuple[int, str, str]]]]:
    """Consecutive chunks claimed in one transaction: at most ``requests`` chunks and ``rows`` rows."""
    group: list[list[tuple[int, str, str]]] = []
    count = 0
    for chunk in chunks:
        if group and (len(group) >= requests or count + len(chunk) > rows):
            yield group
            group, count = [], 0
        group.append(chunk)
        count += len(chunk)
    if group:
        yield group


def _call(ledger: Ledger, provider: Provider, batch: Batch, rowids: list[int], report: SendReport,
          options: SendOptions, failures: int, max_failures: int, claimed_at: datetime,
          sink: _Settles | None = None) -> int:
    """Send one claimed batch with retries; settle it (an accepted answer into ``sink`` when given).
    Returns the updated consecutive-failure count."""
    by_recipient = {m.recipient: rowid for m, rowid in zip(batch.messages, rowids, strict=True)}
    attempt = 0
    while True:
        report.requests += 1
        try:
            results = provider.send(batch)
        except RetryableError as exc:
            failures += 1
            if failures >= max_failures or attempt >= options.max_retries:
                ledger.release(rowids, "pending", f"not sent: {exc}")
                report.total -= len(rowids)
                raise TooManyFailuresError(
                    f"stopped after {failures} failed request(s) in a row; last error: {exc}. "
                    "Nothing was lost: run the same command again to resume.") from None
            attempt += 1
            report.retries += 1
            options.sleep(_backoff(attempt, options, exc.retry_after))
            continue
        except CredentialsError:
            ledger.release(rowids, "pending", "not sent: credentials refused")
            report.total -= len(rowids)
            raise
        except PermanentError as exc:
            ledger.settle([("rejected", None, str(exc), None, rowid) for rowid in rowids])
            report.rejected += len(rowids)
            report.rejections[str(exc)] = report.rejections.get(str(exc), 0) + len(rowids)
            failures += 1
            if failures >= max_failures:
                _too_many(failures, exc)
            return failures
        except InDoubtError as exc:
            failures += 1
            found = _reconcile(provider, batch, claimed_at, options)
            if found is None:
                ledger.release(rowids, "in_doubt", str(exc))
                report.in_doubt += len(rowids)
            else:
                accepted = {r: by_recipient[r] for r in by_recipient if r in found}
                _settle(ledger, [found[r] for r in accepted], accepted, report, provider.name)
                missing = [by_recipient[m.recipient] for m in batch.messages if m.recipient not in found]
                report.reconciled += len(batch.messages)
                if missing:  # not accepted: safe to send again, as a new claim
                    ledger.release(missing, "pending", "reconciled: not accepted by the provider")
                    report.total -= len(missing)
                    report.released += len(missing)
            if failures >= max_failures:
                _too_many(failures, exc)
            return failures
        else:
            _crash_point("after_send")
            _settle(ledger, results, by_recipient, report, provider.name, sink)
            if sink is None:
                _crash_point("after_settle")
            return 0


def _too_many(failures: int, exc: Exception) -> NoReturn:
    raise TooManyFailuresError(f"stopped after {failures} failed request(s) in a row; last error: {exc}. "
                               "Run the same command again to resume.")


def _settle(ledger: Ledger, results: list[RecipientResult], by_recipient: dict[str, int], report: SendReport,
            provider_name: str = "provider", sink: _Settles | None = None) -> None:
    updates: list[tuple[str, str | None, str | None, float | None, int]] = []
    opted_out: list[str] = []
    seen: set[str] = set()
    for result in results:
        rowid = by_recipient.get(result.recipient)
        if rowid is None or result.recipient in seen:
            continue
        seen.add(result.recipient)
        if result.outcome == Outcome.SENT:
            updates.append(("sent", result.provider_id, None, result.cost, rowid))
            report.sent += 1
        elif result.outcome == Outcome.REJECTED:
            updates.append(("rejected", result.provider_id, result.reason, None, rowid))
            if result.opted_out:
                opted_out.append(result.recipient)
            report.rejected += 1
            reason = result.reason or "rejected"
            report.rejections[reason] = report.rejections.get(reason, 0) + 1
        elif result.outcome == Outcome.RETRY:
            updates.append(("pending", None, result.reason, None, rowid))
            report.total -= 1
            report.released += 1
        else:
            updates.append(("in_doubt", result.provider_id, result.reason, None, rowid))
            report.in_doubt += 1
    for recipient, rowid in by_recipient.items():  # the provider said nothing about them: in doubt
        if recipient not in seen:
            updates.append(("in_doubt", None, "the provider's answer did not mention this recipient", None, rowid))
            report.in_doubt += 1
    if sink is not None:
        sink.updates.extend(updates)
        sink.opted_out.extend(opted_out)
        return
    ledger.settle(updates, opted_out=opted_out, source=f"provider:{provider_name}")


def _sendable_checker(plan: Plan, clock: Callable[[], datetime]) -> Callable[[str], bool] | None:
    """Is this recipient inside its window and the schedule, now? Cached per locality for a minute.
    None when the campaign has neither a window nor a schedule: everyone is always sendable."""
    from runner.message.window import WindowPolicy, effective_window, locality_of

    campaign = plan.campaign
    window = effective_window(campaign.commercial, campaign.window)
    schedule = campaign.schedule
    if window is None and not schedule.not_before and not schedule.not_after:
        return None
    policy = WindowPolicy(window) if window else None
    cache: dict[Any, tuple[float, bool]] = {}

    def check(e164: str) -> bool:
        now = clock()
        if schedule.not_after and now >= schedule.not_after:
            return False
        if schedule.not_before and now < schedule.not_before:
            return False
        if policy is None:
            return True
        locality = locality_of(e164)
        hit = cache.get(locality)
        stamp = time.monotonic()
        if hit is None or stamp - hit[0] > 60:
            hit = (stamp, policy.is_open(locality, now))
            cache[locality] = hit
        return hit[1]

    return check


def _wait_for_next_window(plan: Plan, report: SendReport, options: SendOptions, stop: _Stop) -> bool:
    """Sleep until the earliest held recipient's window opens. False when none will open."""
    from runner.plan.build import PlanOptions, build_plan

    fresh = build_plan(plan.campaign, PlanOptions(state_dir=plan.state_dir, at=options.clock(), check_provider=False))
    opening = fresh.window.get("next_opening")
    if not opening or not fresh.recipients:
        return False
    delay = (datetime.fromisoformat(opening) - options.clock()).total_seconds()
    while delay > 0 and not stop.requested:
        step = min(delay, 30.0)
        options.sleep(step)
        delay = (datetime.fromisoformat(opening) - options.clock()).total_seconds()
        if options.progress:
            options.progress(report)
    plan.recipients = fresh.recipients
    plan.at = options.clock()
    return not stop.requested
