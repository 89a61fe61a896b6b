"""HTTP plumbing every provider shares, written once: what a transport failure means (nothing sent, or
in doubt), ``Retry-After``, the partial-batch rule, backoff, rate limiting and bounded timeouts.

The send engine uses :class:`Backoff` and :class:`RateLimiter` too (they take injectable clocks and
sleeps): runner/ has one of each. httpx is imported lazily so that the registry and ``smsrun validate``
do not pay for it.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    PermanentError,
    ProviderError,
    RetryableError,
)
from runner.providers.base import Outcome, OutgoingMessage, RecipientResult

if TYPE_CHECKING:
    import httpx

# -- what an answer or a failure means ---------------------------------------------------------------------


def retry_after(headers: Mapping[str, str], now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date), None when it did
    not say (or said nonsense)."""
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now()).total_seconds())
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # nan, inf
        return None
    return max(0.0, seconds)


def nothing_sent(exc: BaseException) -> bool:
    """True when a transport failure happened before the request could reach the server (connect error,
    connect or pool timeout): the request can be sent again without any risk of a duplicate."""
    import httpx

    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def transport_failure(exc: BaseException, what: str, *, write: bool = True) -> RetryableError | InDoubtError:
    """The classified error of a transport failure of request ``what``: nothing was sent → retryable; the
    request may have reached the server (read timeout, dropped connection) → in doubt for a write,
    retryable for a read."""
    name = type(exc).__name__
    if nothing_sent(exc):
        return RetryableError(f"{what}: cannot connect ({name}); nothing was sent")
    if write:
        return InDoubtError(f"{what}: no answer ({name}) after the request was sent; it may have been accepted")
    return RetryableError(f"{what}: no answer ({name})")


def status_error(status: int, text: str, *, write: bool, retry_after: float | None = None,
                 query_id: str | None = None) -> ProviderError | None:
    """The usual meaning of an HTTP error status, None for 2xx: 401/403 credentials, 429 and 5xx
    retryable (504 on a write in doubt: a gateway gave up waiting for a backend that may have done the
    work), other 4xx permanent. Providers map their own codes first and fall back on this."""
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return CredentialsError(text, query_id=query_id)
    if status == 429:
        return RetryableError(text, retry_after=retry_after, query_id=query_id)
    if status == 504 and write:
        return InDoubtError(f"{text}; the request may have been accepted", query_id=query_id)
    if status >= 500:
        return RetryableError(text, retry_after=retry_after, query_id=query_id)
    return PermanentError(text, query_id=query_id)


# -- the partial-batch rule ---------------------------------------------------------------------------------

EARLIER_FAILED = "not sent: an earlier request failed"


def send_requests(requests: Sequence[Sequence[OutgoingMessage]],
                  post: Callable[[Sequence[OutgoingMessage]], list[RecipientResult]], *, can_reconcile: bool,
                  before: Sequence[RecipientResult] = ()) -> list[RecipientResult]:
    """Send a batch that needs several requests (one text each, or one recipient each) and apply the rule
    that keeps "nothing lost, nothing sent twice" when one of them fails:

    * while no request of the batch has gone through, a whole-request error is raised as such (the engine
      retries, or reconciles, the whole batch) — except an in-doubt request of a provider that cannot
      reconcile when other requests remain: the untried ones must come back RETRY, not in doubt;
    * once one has gone through, raising would make the engine send it again: the failed request's
      messages come back RETRY (or IN_DOUBT), the untried ones RETRY, and the next batch raises for good;
    * a request refused for good (:class:`PermanentError`) rejects its own messages and the others go on;
      raised when it is the batch's only request.

    ``before``: results decided before any request (numbers refused locally)."""
    results = list(before)
    through = False  # a request of this batch went through
    only = len(requests) == 1 and not before
    for index, chunk in enumerate(requests):
        try:
            got = post(chunk)
        except PermanentError as exc:
            if only:
                raise
            results.extend(RecipientResult(m.recipient, Outcome.REJECTED, reason=exc.message) for m in chunk)
            continue
        except (RetryableError, InDoubtError, CredentialsError, ConfigError) as exc:
            doubt = isinstance(exc, InDoubtError)
            if not through and (not doubt or can_reconcile or only):
                raise
            outcome = Outcome.IN_DOUBT if doubt else Outcome.RETRY
            results.extend(RecipientResult(m.recipient, outcome, reason=exc.message) for m in chunk)
            for rest in requests[index + 1:]:
                results.extend(RecipientResult(m.recipient, Outcome.RETRY, reason=EARLIER_FAILED) for m in rest)
            return results
        through = True
        results.extend(got)
    return results


# -- waiting ------------------------------------------------------------------------------------------------


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits a random time up to ``min(cap, base * 2**n)``.
    A ``Retry-After`` is a floor. With ``max_wait``, a ``Retry-After`` longer than that gives None (the
    caller stops retrying and lets the error go up); without, the ``Retry-After`` is capped at ``cap``.

    ``exact_retry_after`` (the send engine's choice): a ``Retry-After`` is waited as the server said, no
    jitter above it (the server named the moment; later only slows the run down)."""

    base: float = 0.5
    cap: float = 60.0
    max_wait: float | None = None
    rng: random.Random = field(default_factory=random.Random)
    exact_retry_after: bool = False

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        wait = self.rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))
        if retry_after is not None:
            if self.max_wait is not None:
                if retry_after > self.max_wait:
                    return None
                return retry_after if self.exact_retry_after else max(wait, retry_after)
            honoured = min(max(retry_after, 0.0), self.cap)
            return honoured if self.exact_retry_after else max(wait, honoured)
        return wait


class RateLimiter:
    """At most ``limit`` acquisitions in any sliding ``period`` seconds (blocking).

    Two refinements for recovery (issue 11): an ``urgent`` acquisition (the reads a crash recovery needs)
    takes the next free slot before any ordinary one waiting, and :meth:`pause` (a 429 from the server,
    with its ``Retry-After``) holds every acquisition until the pause is over. ``count`` acquires several
    slots at once (a request carrying several messages, under a messages-per-second limit).

    The clock never goes back, and a sleep is trusted: after sleeping ``d`` the limiter takes the time to
    be at least ``d`` later, even if the clock says otherwise (a test's sleep that only records). With a
    real clock and sleep that changes nothing; with a recording sleep it never spins."""

    def __init__(self, limit: int, period: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self._urgent_waiting = 0
        self._paused_until = 0.0
        self._floor = 0.0  # the limiter's now is never earlier: what was slept has passed

    @classmethod
    def per_second(cls, rate: float, burst: int = 1, *, sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> RateLimiter:
        """At most ``rate`` messages a second, in turns of ``burst`` messages (the send engine's
        ``limits.rate``, with ``burst`` its provider's largest request): a request of ``burst`` messages
        leaves at once, and the next waits ``burst / rate`` seconds."""
        burst = max(1, burst)
        return cls(burst, burst / rate, clock=clock, sleep=sleep)

    def _now(self) -> float:
        """The time (under the lock)."""
        self._floor = max(self._floor, self._clock())
        return self._floor

    def pause(self, seconds: float) -> None:
        """Hold every acquisition for ``seconds`` from now (the server said 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._now() + max(0.0, seconds))

    def acquire(self, *, urgent: bool = False, count: int = 1) -> float:
        """Wait for ``count`` slots (more than ``limit``: in turns of ``limit``, so a request of 500
        messages under 10 messages/s returns after ~50 s); returns the time waited."""
        waited = 0.0
        left = max(1, count)
        while left > 0:
            turn = min(left, self.limit)
            waited += self._acquire(urgent, turn)
            left -= turn
        return waited

    def _acquire(self, urgent: bool, count: int) -> float:
        waited = 0.0
        if urgent:
            with self._lock:
                self._urgent_waiting += 1
        try:
            while True:
                with self._lock:
                    now = self._now()
                    while self._stamps and now - self._stamps[0] >= self.period:
                        self._stamps.popleft()
                    if now < self._paused_until:
                        delay = self._paused_until - now
                    elif not urgent and self._urgent_waiting:
                        delay = 0.01  # an urgent acquisition is waiting: it goes first
                    elif len(self._stamps) + count <= self.limit:
                        self._stamps.extend([now] * count)
                        return waited
                    else:  # until enough of the oldest slots leave the window
                        delay = self.period - (now - self._stamps[len(self._stamps) + count - self.limit - 1])
                delay = max(delay, 0.001)
                self._sleep(delay)
                waited += delay
                with self._lock:  # trusted: at least ``delay`` has passed
                    self._floor = max(self._floor, now + delay)
        finally:
            if urgent:
                with self._lock:
                    self._urgent_waiting -= 1


_limiters: dict[tuple[str, str, int], RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(base_url: str, key: str, per_minute: float) -> RateLimiter:
    """The process-wide limiter of one API key at one endpoint (keyed by a hash, never the key itself)."""
    limit = max(1, int(per_minute))
    ident = (base_url, hashlib.sha256(key.encode()).hexdigest(), limit)
    with _limiters_lock:
        limiter = _limiters.get(ident)
        if limiter is None:
            limiter = _limiters[ident] = RateLimiter(limit, 60.0)
        return limiter


# -- bounded requests ---------------------------------------------------------------------------------------

CONNECT_TIMEOUT = 10.0  # seconds to open a connection, at most (a provider's timeout setting may lower it)


def timeouts(total: float) -> httpx.Timeout:
    """httpx timeouts for a request that must be over within ``total`` seconds: connecting takes at most
    :data:`CONNECT_TIMEOUT` (or ``total``), each read and write at most ``total``; :func:`read_bounded`
    bounds the whole answer by ``total`` too (a server that trickles bytes never times a read out)."""
    import httpx

    return httpx.Timeout(total, connect=min(CONNECT_TIMEOUT, total), pool=total)


@cache
def _deadline_stream() -> type[Any]:
    """A response stream that raises :class:`httpx.ReadTimeout` once the deadline is past (a class made on
    first use: httpx is imported lazily)."""
    import httpx

    class DeadlineStream(httpx.SyncByteStream):
        def __init__(self, stream: Any, deadline: float, request: httpx.Request) -> None:
            self.stream = stream
            self.deadline = deadline
            self.request = request

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.stream:
                if time.monotonic() > self.deadline:
                    raise httpx.ReadTimeout("the answer took longer than the request's total timeout",
                                            request=self.request)
                yield chunk

        def close(self) -> None:
            self.stream.close()

    return DeadlineStream


def read_bounded(response: httpx.Response, request: httpx.Request, started: float, total: float) -> httpx.Response:
    """Read the whole of a streamed ``response`` within ``total`` seconds of ``started`` (monotonic), then
    close it."""
    try:
        response.stream = _deadline_stream()(response.stream, started + total, request)
        response.read()
    finally:
        response.close()
    return response


def send_bounded(client: httpx.Client, request: httpx.Request, total: float) -> httpx.Response:
    """``client.send(request)`` whose answer must be complete within ``total`` seconds."""
    started = time.monotonic()
    return read_bounded(client.send(request, stream=True), request, started, total)
