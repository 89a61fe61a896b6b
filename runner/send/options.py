"""What a send is asked to do (:class:`SendOptions`) and what it did (:class:`SendReport`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner.providers.http import Backoff

Progress = Callable[["SendReport"], None]


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
    monotonic: Callable[[], float] = time.monotonic  # the pacing clock of limits.rate (a test seam, with sleep)
    handle_sigint: bool = True
    adopt: bool = False  # issue 11: a lost ledger is rebuilt from the provider's record (runner.send.history)
    ignore_provider_history: bool = False  # issue 11: send a campaign the ledger never saw without asking
    lock_timeout: float = 0.0  # seconds to wait for another run of the campaign to finish (--lock-timeout)

    def backoff(self) -> Backoff:
        """The waits between retries: full jitter up to ``min(backoff_cap, backoff_base * 2**attempt)``;
        a ``Retry-After`` is waited as the server said, capped at ``backoff_cap``."""
        return Backoff(self.backoff_base, self.backoff_cap, exact_retry_after=True)

    def wait_before_retry(self, backoff: Backoff, attempt: int, retry_after: float | None = None) -> None:
        """Sleep before retry ``attempt`` (the shared :class:`Backoff`, without ``max_wait``: always a wait)."""
        delay = backoff.delay(attempt, retry_after)
        self.sleep(backoff.cap if delay is None else delay)


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
