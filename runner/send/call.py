"""One request: call the provider for a claimed batch, retry, and settle what it answered.

* :class:`RetryableError` (nothing accepted): retried with the shared :class:`~runner.providers.http.Backoff`
  (exponential, full jitter, a ``Retry-After`` waited as said); after ``max_consecutive_failures`` failed
  requests in a row, or ``max_retries`` retries of this one, the run stops and the rows go back to pending.
* :class:`CredentialsError`: the rows go back to pending and the run stops at once.
* :class:`PermanentError`: the batch is rejected; the run goes on (up to the failure limit).
* :class:`InDoubtError`: the provider is asked which recipients it accepted (:func:`reconcile`); the others
  go back to pending, or, when it cannot tell, the whole batch is left in doubt.
* anything else: the rows are settled in doubt (or pending) before the error goes on (issue 15).
"""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from runner.errors import (
    CredentialsError,
    InDoubtError,
    PermanentError,
    RetryableError,
    TooManyFailuresError,
)
from runner.providers.base import Batch, Provider, RecipientResult
from runner.providers.http import Backoff
from runner.send import guards
from runner.send.crashpoints import crash_point
from runner.send.options import SendOptions, SendReport
from runner.send.settle import Settles, settle
from runner.send.writer import LedgerWriter

RECONCILE_ATTEMPTS = 3  # a provider that cannot tell now (transient errors) is asked again, with backoff


def call(writer: LedgerWriter, provider: Provider, batch: Batch, rowids: list[int], report: SendReport,
         options: SendOptions, failures: int, max_failures: int, claimed_at: datetime,
         sink: Settles | None = None, optouts: guards.OptoutGuard | None = None) -> int:
    """Send one claimed batch with retries; settle it (an accepted answer into ``sink`` when given).
    Returns the updated consecutive-failure count."""
    by_recipient = {m.recipient: rowid for m, rowid in zip(batch.messages, rowids, strict=True)}
    attempt = 0
    backoff: Backoff | None = None  # made on the first retry
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
            backoff = backoff or options.backoff()
            options.wait_before_retry(backoff, attempt, exc.retry_after)
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
                too_many(failures, exc)
            return failures
        except InDoubtError as exc:
            failures += 1
            try:
                found = reconcile(provider, batch, claimed_at, options)
            except BaseException:  # issue 15: the rows stay in doubt, never claimed
                guards.settle_unclassified(writer, rowids, report, exc)
                raise
            if found is None:
                writer.release(rowids, "in_doubt", str(exc))
                report.in_doubt += len(rowids)
            else:
                accepted = {r: by_recipient[r] for r in by_recipient if r in found}
                settle(writer, [found[r] for r in accepted], accepted, report, provider.name)
                missing = [by_recipient[m.recipient] for m in batch.messages if m.recipient not in found]
                report.reconciled += len(batch.messages)
                if missing:  # not accepted: safe to send again, as a new claim
                    writer.release(missing, "pending", "reconciled: not accepted by the provider")
                    report.total -= len(missing)
                    report.released += len(missing)
            if failures >= max_failures:
                too_many(failures, exc)
            return failures
        except BaseException as exc:  # issue 15: unclassified: settled in doubt (or pending) before it goes on
            guards.settle_unclassified(writer, rowids, report, exc)
            raise
        else:
            crash_point("after_send")
            try:
                settle(writer, results, by_recipient, report, provider.name, sink)
            except Exception as exc:  # issue 15: an answer that cannot be read leaves the rows in doubt
                guards.settle_unclassified(writer, rowids, report, exc)
                raise
            return 0


def too_many(failures: int, exc: Exception) -> NoReturn:
    raise TooManyFailuresError(f"stopped after {failures} failed request(s) in a row; last error: {exc}. "
                               "Run the same command again to resume.")


def reconcile(provider: Provider, batch: Batch, since: datetime,
              options: SendOptions) -> dict[str, RecipientResult] | None:
    """Ask the provider which recipients of an in-doubt batch it accepted. None (it cannot tell, e.g. its
    listing failed on transient errors) is asked again, a bounded number of times with backoff, before
    the whole batch is left in doubt."""
    if not provider.capabilities.can_reconcile:
        return None
    backoff = options.backoff()
    for attempt in range(RECONCILE_ATTEMPTS):
        if attempt:
            options.wait_before_retry(backoff, attempt)
        found = provider.reconcile(batch, since)
        if found is not None:
            return found
    return None
