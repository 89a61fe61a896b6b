"""What a send checks besides the plan (issue 15), hooked into the send (:mod:`runner.send.engine`).

* :func:`check_ledger`: before anything is claimed, the ledger must be undamaged (``PRAGMA
  quick_check``: a damaged primary-key index hides sent rows, which would be sent again) and written by
  this smsrun (no unknown status, no missing column).
* :class:`OptoutGuard`: the suppression list is read again before each request leaves, cheaply: one
  ``max(id)`` of the opt-out log per request, and only the changes since the last look when it moved.
  A number opted out while the send runs (``optout add``, a STOP reply, ``send --wait`` waiting for a
  window) is not sent to; its claimed row is settled ``rejected`` ("opted out").
* :func:`settle_unclassified`: a provider call that raised something else than the classified
  provider errors (retryable, permanent, in doubt, credentials) leaves no row ``claimed`` behind: it is
  settled ``in_doubt`` (nobody knows whether the request left), or put back to ``pending`` when the
  provider says nothing was sent (:class:`~runner.errors.NotSentError`), before the error goes on.
* :func:`stop_signals`: SIGTERM (``docker stop``, CI cancellation, systemd) stops a send like Ctrl-C.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from runner.errors import ConfigError, NotSentError

if TYPE_CHECKING:
    from runner.ledger.store import Ledger
    from runner.providers.base import Batch
    from runner.send.options import SendReport
    from runner.send.writer import LedgerWriter

OPTED_OUT = "opted out during the send (on the suppression list)"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_ledger(ledger: Ledger, campaign_id: str) -> None:
    ledger.check_integrity()
    ledger.check_readable(campaign_id)


class OptoutGuard:
    """The suppression list as of now, kept current by one cheap read per request."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        with ledger.reading():
            self.generation = ledger.optout_generation()  # first: a change made while reading is read again
            self.numbers = ledger.optout_numbers()
        self.reads = 0  # generation reads (tests bound the work per request with it)
        self.changes_read = 0  # opt-out log rows read after the first load

    def refresh(self) -> None:
        with self.ledger.reading():
            self.reads += 1
            generation = self.ledger.optout_generation()
            if generation == self.generation:
                return
            changes = self.ledger.optout_changes(self.generation)
        self.changes_read += len(changes)
        for row_id, number, action in changes:
            if action == "remove":
                self.numbers.discard(number)
            else:
                self.numbers.add(number)
            self.generation = max(self.generation, row_id)

    def filter(self, batch: Batch, rowids: list[int], writer: LedgerWriter,
               report: SendReport) -> tuple[Batch, list[int]]:
        """The batch without the recipients on the suppression list; their rows are settled rejected."""
        self.refresh()
        numbers = self.numbers
        if not numbers or not any(m.recipient in numbers for m in batch.messages):
            return batch, rowids
        kept = [(m, r) for m, r in zip(batch.messages, rowids, strict=True) if m.recipient not in numbers]
        dropped = [r for m, r in zip(batch.messages, rowids, strict=True) if m.recipient in numbers]
        writer.settle([("rejected", None, OPTED_OUT, None, rowid) for rowid in dropped])
        report.rejected += len(dropped)
        report.rejections[OPTED_OUT] = report.rejections.get(OPTED_OUT, 0) + len(dropped)
        return dataclasses.replace(batch, messages=[m for m, _ in kept]), [r for _, r in kept]


def settle_unclassified(writer: LedgerWriter, rowids: list[int], report: SendReport, exc: BaseException) -> None:
    """The provider raised something unclassified after the claim: never leave the rows claimed."""
    if isinstance(exc, (NotSentError, ConfigError)):  # refused before anything was accepted
        status, reason = "pending", clean_reason(f"not sent: {str(exc)[:300]}")
        report.total -= len(rowids)
    else:
        status = "in_doubt"
        reason = clean_reason(f"the provider failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]})")
        report.in_doubt += len(rowids)
    with contextlib.suppress(Exception):  # the ledger failing too: the next run finds them claimed
        writer.release(rowids, status, reason)
        writer.flush()


@functools.lru_cache(maxsize=4096)
def clean_reason(reason: str) -> str:
    """A provider's reason without secret values (cached: reasons repeat across a send)."""
    from runner.redaction import redact

    return redact(reason)


def pause(sleep: Callable[[float], None], stop: threading.Event, seconds: float) -> None:
    """Sleep ``seconds`` unless a stop comes first (the real sleep only: a test's sleep is its own clock)."""
    if sleep is time.sleep:
        stop.wait(seconds)
    else:
        sleep(seconds)


def exit_code_for(signum: int | None) -> int:
    """130 after Ctrl-C, 143 after SIGTERM (128 + the signal), as shells report them."""
    return 128 + int(signum or signal.SIGINT)
