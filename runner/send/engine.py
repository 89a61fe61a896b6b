"""The send loop.

For every request: **claim** the batch's rows in the ledger (committed), **call** the provider,
**settle** the rows with what it answered (committed). Whatever happens between claim and settle —
a crash, ``kill -9``, a timeout, a dropped connection — leaves the rows ``claimed``/``in_doubt``, never
``pending``: they are reconciled with the provider where it can tell, and otherwise reported, never
resent blindly.

Order: first the campaign's pending rows in the ledger, then the plan's recipients the ledger does not
hold yet, in the order of their numbers (written when claimed), then the rows put back to pending.
Requests are claimed together, up to CLAIM_GROUP requests and CLAIM_ROWS recipients per transaction.
For a provider that can reconcile (and no rate limit) claims and settles are written by a thread
(:mod:`runner.send.writer`) while requests are on the wire: the claims of the next PIPELINE_DEPTH
groups are committed ahead, so a crash may leave up to (1 + PIPELINE_DEPTH) x CLAIM_ROWS recipients
claimed; those never sent are found "not accepted" by the next run's reconciliation and sent then.

Retries: a :class:`RetryableError` (nothing accepted) is retried with exponential backoff and full
jitter, honouring ``Retry-After``; after ``max_consecutive_failures`` failed requests in a row the run
stops with a clear message (the rows go back to pending, nothing was accepted). A
:class:`CredentialsError` stops the run at once.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
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
from runner.ledger.store import Ledger, SettleGroups, SettleUpdate
from runner.plan.build import Plan, content_hash
from runner.providers import create_provider
from runner.providers.base import Batch, Outcome, OutgoingMessage, Provider, RecipientResult
from runner.send import guards, history
from runner.send.writer import LedgerWriter

Progress = Callable[["SendReport"], None]
MAX_SWEEPS = 3  # passes over rows put back to pending during a run
CLAIM_GROUP = 64  # requests claimed in one transaction (see _Groups)
CLAIM_ROWS = 2_000  # recipients claimed in one transaction, unless one request holds more
PIPELINE_DEPTH = 2  # claim groups committed ahead of the one being sent (pipelined sends)
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
    adopt: bool = False  # issue 11: a lost ledger is rebuilt from the provider's record (runner.send.history)
    ignore_provider_history: bool = False  # issue 11: send a campaign the ledger never saw without asking
    lock_timeout: float = 0.0  # seconds to wait for another run of the campaign to finish (--lock-timeout)


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
    adopted: int = 0  # recipients the provider had already sent to, written to a lost ledger (--adopt)
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that interrupted the run (issue 15: SIGTERM exits 143)
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
                "reconciled": self.reconciled, "adopted": self.adopted, "requests": self.requests,
                "retries": self.retries,
                "interrupted": self.interrupted, "elapsed_s": round(self.elapsed, 3),
                "rejections": self.rejections}


class _Stop:
    """Ctrl-C: the first one finishes the in-flight request and settles; the second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # the signal that asked to stop (issue 15: SIGTERM too)
        self.event = threading.Event()  # set with it: a wait for a window ends at once

    @contextmanager
    def installed(self, enabled: bool) -> Iterator[None]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            self.signum = signum
            self.event.set()

        previous = {signum: signal.signal(signum, handler) for signum in guards.STOP_SIGNALS}  # issue 15
        try:
            yield
        finally:
            for signum, before in previous.items():
                signal.signal(signum, before)


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
            _settle_previous_run(ledger, plan, provider, report, options)
            _send_pending(ledger, plan, provider, report, options, stop, run_id=guarded.first_run_id)
            while options.wait and not stop.requested and report.held:
                if not _wait_for_next_window(plan, report, options, stop):
                    break
                _send_pending(ledger, plan, provider, report, options, stop)
        report.interrupted = stop.requested
        report.stop_signal = stop.signum
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


Group = list[tuple[Batch, list[int]]]  # claimed requests: (batch, its rowids)
Request = tuple[str, list[tuple[Any, ...]]]  # (batch_id, rows) before the claim


def _send_pending(ledger: Ledger, plan: Plan, provider: Provider, report: SendReport, options: SendOptions,
                  stop: _Stop, run_id: str | None = None) -> None:
    campaign = plan.campaign
    limiter = _RateLimiter(campaign.limits.rate or provider.capabilities.default_rate, options.sleep)
    # a provider that can reconcile gets its claims and settles written by a thread, beside the HTTP
    # (runner.send.writer); one that cannot keeps them inline, as does a rate-limited send, whose
    # claims must not be written long before their request leaves
    pipelined = provider.capabilities.can_reconcile and not limiter.interval
    writer = LedgerWriter(ledger, background=pipelined)
    groups = _Groups(ledger, writer, plan, provider, report, options, stop, limiter, run_id)
    try:
        ledger.start_run(campaign.id, groups.run_id, len(groups.new))
        _send_groups(groups, writer, plan, provider, report, options, stop, limiter, pipelined)
    except BaseException:
        writer.close(quiet=True)  # what was answered is still settled
        raise
    writer.close()
    if groups.new_done:
        ledger.finish_run(campaign.id, groups.run_id)


def _send_groups(groups: _Groups, writer: LedgerWriter, plan: Plan, provider: Provider, report: SendReport,
                 options: SendOptions, stop: _Stop, limiter: _RateLimiter, pipelined: bool) -> None:
    """Claim, send and settle group after group. Pipelined, the claims of the next PIPELINE_DEPTH groups
    are committed while the current group is sent; no request is sent before its own claim is on disk."""
    max_failures = plan.campaign.limits.max_consecutive_failures
    failures = 0
    last_progress = 0.0
    ahead: deque[_PendingClaim] = deque()  # claims submitted, in order

    def release_ahead() -> None:  # claimed, never sent: back to pending
        while ahead:
            with contextlib.suppress(Exception):
                writer.release([r for _, ids in groups.claimed(ahead.popleft())[0] for r in ids], "pending", None)

    while True:
        if not ahead:
            group = groups.next()
            if group is None:
                break
            if not pipelined:  # inline: wait for the rate limit, then claim
                limiter.wait(_recipients(group))  # under a rate limit, a group is one request
            ahead.append(groups.claim(group))
        claimed, claimed_at = groups.claimed(ahead.popleft())
        _crash_point("after_claim")
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
        sink = _Settles() if len(claimed) > 1 and rows <= CLAIM_GROUP else None
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
                    failures = _call(writer, provider, batch, rowids, report, options, failures, max_failures,
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


def _recipients(group: tuple[bool, list[Request]]) -> int:
    new, requests = group
    return sum(_request_size(rows, new) for _, rows in requests)


def _request_size(rows: list[Any], new: bool) -> int:
    """Recipients of a request's rows: [(text, parts, numbers)] when new, else one row each."""
    return sum(len(numbers) for _, _, numbers in rows) if new else len(rows)


_PendingClaim = tuple["Future[list[list[tuple[Any, ...]]]]", datetime, list[tuple[str, list[tuple[Any, ...]]]]]


class _Groups:
    """What is left to send, as claim groups of requests: first the campaign's pending rows in the ledger
    (page by page), then the plan's recipients the ledger does not hold yet (written when claimed:
    :meth:`Ledger.claim_new`), then, if some were put back to pending, the ledger again (sweeps)."""

    def __init__(self, ledger: Ledger, writer: LedgerWriter, plan: Plan, provider: Provider, report: SendReport,
                 options: SendOptions, stop: _Stop, limiter: _RateLimiter, run_id: str | None = None) -> None:
        self.ledger, self.writer, self.plan, self.report, self.stop = ledger, writer, plan, report, stop
        self.provider = provider
        self.size = max(1, provider.capabilities.max_recipients_per_request)
        self.texts = ledger.texts(plan.campaign.id)
        self.run_id = run_id or uuid.uuid4().hex[:10]
        self.sendable = _sendable_checker(plan, options.clock)
        self.optouts = guards.OptoutGuard(ledger)  # issue 15: opt-outs made while the send runs
        # requests are claimed together: one durable commit (one fsync) for up to CLAIM_GROUP requests
        # and CLAIM_ROWS recipients (or one request, if bigger), all before the first of them is sent;
        # not under a rate limit, where the claim would wait long before its send
        # a provider that cannot reconcile gets one request per claim: a crash then leaves at most one
        # request in doubt, to be resolved by a person, not a whole group
        self.together = CLAIM_GROUP if provider.capabilities.can_reconcile and not limiter.interval else 1
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
    def claim(self, group: tuple[bool, list[Request]]) -> _PendingClaim:
        new, requests = group
        at = datetime.now(UTC)  # no later than the claim: reconciliation looks from here
        return (self.writer.claim(self.plan.campaign.id, requests, new=new, run_id=self.run_id), at, requests)

    def claimed(self, claim: _PendingClaim) -> tuple[Group, datetime]:
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
            out.append((_batch(self.plan, batch_id, got), [r[0] for r in got]))
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
                    self._group(ready, new=False)
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
        size = self.size
        chunks: list[list[tuple[str, int, list[str]]]] = []  # requests, as [(text, parts, numbers)]
        if self.provider.capabilities.one_text_many_recipients:  # one text per request
            by_text: dict[str, list[int]] = {}
            for i in page:
                by_text.setdefault(texts[i], []).append(i)
            for text, indices in by_text.items():
                count = parts[indices[0]]  # the parts follow from the text
                chunks += [[(text, count, [numbers[i] for i in indices[at:at + size]])]
                           for at in range(0, len(indices), size)]
        else:
            for at in range(0, len(page), size):
                mixed: dict[str, tuple[str, int, list[str]]] = {}
                for i in page[at:at + size]:
                    mixed.setdefault(texts[i], (texts[i], parts[i], []))[2].append(numbers[i])
                chunks.append(list(mixed.values()))
        self._requests(chunks, new=True)
        return True

    def _requests(self, chunks: list[Any], *, new: bool) -> None:
        """Name the requests and put them in claim groups."""
        campaign_id = self.plan.campaign.id
        sized = [(chunk, _request_size(chunk, new)) for chunk in chunks]
        for group in _claim_groups(sized, self.group_rows, self.together):
            requests: list[Request] = []
            for chunk, _ in group:
                self.sequence += 1
                requests.append((f"{campaign_id}.{self.run_id}.{self.sequence}", chunk))
            self.ready.append((new, requests))

    def _group(self, ready: list[tuple[Any, ...]], *, new: bool) -> None:
        size = self.size
        # one text per request where the provider sends one text to many: group by text
        if self.provider.capabilities.one_text_many_recipients:
            by_text: dict[str, list[tuple[Any, ...]]] = {}
            for item in ready:
                by_text.setdefault(item[2], []).append(item)
            chunks = [g[i:i + size] for g in by_text.values() for i in range(0, len(g), size)]
        else:
            chunks = [ready[i:i + size] for i in range(0, len(ready), size)]
        self._requests(chunks, new=new)


class _Settles:
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
                          then=_after_settle)
            self.updates, self.opted_out = {}, []


def _after_settle() -> None:
    _crash_point("after_settle")


def _claim_groups(chunks: list[tuple[Any, int]], rows: int, requests: int) -> Iterator[list[tuple[Any, int]]]:
    """Consecutive (chunk, its size) claimed in one transaction: at most ``requests`` chunks and ``rows``
    rows."""
    group: list[tuple[Any, int]] = []
    count = 0
    for chunk, size in chunks:
        if group and (len(group) >= requests or count + size > rows):
            yield group
            group, count = [], 0
        group.append((chunk, size))
        count += size
    if group:
        yield group


def _call(writer: LedgerWriter, provider: Provider, batch: Batch, rowids: list[int], report: SendReport,
          options: SendOptions, failures: int, max_failures: int, claimed_at: datetime,
          sink: _Settles | None = None, optouts: guards.OptoutGuard | None = None) -> int:
    """Send one claimed batch with retries; settle it (an accepted answer into ``sink`` when given).
    Returns the updated consecutive-failure count."""
    by_recipient = {m.recipient: rowid for m, rowid in zip(batch.messages, rowids, strict=True)}
    attempt = 0
    while True:
        report.requests += 1
        writer.check_lease()  # a runner that cannot prove its lease calls the provider no more
        try:
            results = provider.send(batch)
        except RetryableError as exc:
            failures += 1
            if failures >= max_failures or attempt >= options.max_retries:
                writer.release(rowids, "pending", f"not sent: {exc}")
                report.total -= len(rowids)
                raise TooManyFailuresError(
                    f"stopped after {failures} failed request(s) in a row; last error: {exc}. "
                    "Nothing was lost: run the same command again to resume.") from None
            attempt += 1
            report.retries += 1
            options.sleep(_backoff(attempt, options, exc.retry_after))
            if optouts is not None:  # issue 15: opt-outs made during the backoff
                before = len(rowids)
                batch, rowids = optouts.filter(batch, rowids, writer, report)
                report.total -= before - len(rowids)
                if not rowids:
                    return failures
                by_recipient = {m.recipient: rowid for m, rowid in zip(batch.messages, rowids, strict=True)}
            continue
        except CredentialsError:
            writer.release(rowids, "pending", "not sent: credentials refused")
            report.total -= len(rowids)
            raise
        except PermanentError as exc:
            writer.settle([("rejected", None, str(exc), None, rowid) for rowid in rowids])
            report.rejected += len(rowids)
            report.rejections[str(exc)] = report.rejections.get(str(exc), 0) + len(rowids)
            failures += 1
            if failures >= max_failures:
                _too_many(failures, exc)
            return failures
        except InDoubtError as exc:
            failures += 1
            try:
                found = _reconcile(provider, batch, claimed_at, options)
            except BaseException:  # issue 15: the rows stay in doubt, never claimed
                guards.settle_unclassified(writer, rowids, report, exc)
                raise
            if found is None:
                writer.release(rowids, "in_doubt", str(exc))
                report.in_doubt += len(rowids)
            else:
                accepted = {r: by_recipient[r] for r in by_recipient if r in found}
                _settle(writer, [found[r] for r in accepted], accepted, report, provider.name)
                missing = [by_recipient[m.recipient] for m in batch.messages if m.recipient not in found]
                report.reconciled += len(batch.messages)
                if missing:  # not accepted: safe to send again, as a new claim
                    writer.release(missing, "pending", "reconciled: not accepted by the provider")
                    report.total -= len(missing)
                    report.released += len(missing)
            if failures >= max_failures:
                _too_many(failures, exc)
            return failures
        except BaseException as exc:  # issue 15: unclassified: settled in doubt (or pending) before it goes on
            guards.settle_unclassified(writer, rowids, report, exc)
            raise
        else:
            _crash_point("after_send")
            try:
                _settle(writer, results, by_recipient, report, provider.name, sink)
            except Exception as exc:  # issue 15: an answer that cannot be read leaves the rows in doubt
                guards.settle_unclassified(writer, rowids, report, exc)
                raise
            return 0


def _too_many(failures: int, exc: Exception) -> NoReturn:
    raise TooManyFailuresError(f"stopped after {failures} failed request(s) in a row; last error: {exc}. "
                               "Run the same command again to resume.")


def _settle(writer: LedgerWriter, results: list[RecipientResult], by_recipient: dict[str, int], report: SendReport,
            provider_name: str = "provider", sink: _Settles | None = None) -> None:
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
    writer.settle(updates, opted_out=opted_out, source=f"provider:{provider_name}", then=_after_settle)


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
        guards.pause(options.sleep, stop.event, step)  # issue 15: a stop ends the wait at once
        delay = (datetime.fromisoformat(opening) - options.clock()).total_seconds()
        if options.progress:
            options.progress(report)
    plan.recipients = fresh.recipients
    plan.at = options.clock()
    return not stop.requested
