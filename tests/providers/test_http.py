"""The HTTP plumbing every provider shares (runner/providers/http.py): Retry-After, the meaning of a
status, the partial-batch rule, backoff and the rate limiter — with a fake clock, no waiting."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from runner.errors import ConfigError, CredentialsError, InDoubtError, PermanentError, RetryableError
from runner.providers.base import Outcome, OutgoingMessage, RecipientResult
from runner.providers.http import Backoff, RateLimiter, retry_after, send_requests, status_error

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("Thu, 03 Dec 2026 08:00:30 GMT", 30.0),
    ("Thu, 03 Dec 2026 07:00:00 GMT", 0.0), ("soon", None), ("nan", None), ("", None),
])
def test_retry_after(value: str, seconds: float | None) -> None:
    assert retry_after({"Retry-After": value}, now=lambda: NOW) == seconds
    assert retry_after({}) is None


@pytest.mark.parametrize(("status", "write", "kind"), [
    (401, True, CredentialsError), (403, False, CredentialsError), (429, True, RetryableError),
    (500, True, RetryableError), (503, False, RetryableError), (504, True, InDoubtError),
    (504, False, RetryableError), (400, True, PermanentError), (422, False, PermanentError),
])
def test_status_error(status: int, write: bool, kind: type[Exception]) -> None:
    assert isinstance(status_error(status, "x", write=write, retry_after=2.0), kind)
    assert status_error(204, "x", write=True) is None


def test_backoff_is_full_jitter_with_retry_after_as_a_floor() -> None:
    backoff = Backoff(0.5, 8.0, rng=random.Random(1))
    assert all(0 <= (backoff.delay(n) or 0) <= min(8.0, 0.5 * 2 ** n) for n in range(10) for _ in range(20))
    assert backoff.delay(0, 5.0) == 5.0 and backoff.delay(0, 100.0) == 8.0  # capped without max_wait
    patient = Backoff(0.5, 8.0, max_wait=60.0)
    assert patient.delay(0, 30.0) == 30.0 and patient.delay(0, 61.0) is None  # too long to wait here


def test_rate_limiter_counts_messages_in_a_sliding_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(10, 1.0, clock=lambda: now[0], sleep=sleep)
    assert limiter.acquire(count=10) == 0.0
    assert limiter.acquire() == pytest.approx(1.0)  # the window is full: wait for the oldest to leave
    now[0] = 10.0
    assert limiter.acquire(count=50) == pytest.approx(4.0)  # 50 messages at 10/s: 4 s after the first 10
    limiter.pause(30.0)
    assert limiter.acquire() >= 29.0


def test_backoff_can_wait_a_retry_after_exactly() -> None:
    """The send engine's choice: the server named the moment, no jitter above it (capped at ``cap``)."""
    exact = Backoff(0.5, 8.0, rng=random.Random(1), exact_retry_after=True)
    assert all(exact.delay(6, 0.1) == 0.1 for _ in range(20))  # jitter alone would wait up to 8 s
    assert exact.delay(0, 100.0) == 8.0 and exact.delay(0, -1.0) == 0.0
    assert all(0 <= (exact.delay(n) or 0) <= min(8.0, 0.5 * 2 ** n) for n in range(10))


def test_rate_limiter_per_second_lets_one_full_request_go_then_waits_its_size_over_the_rate() -> None:
    slept: list[float] = []
    limiter = RateLimiter.per_second(2.0, 4, sleep=slept.append, clock=lambda: 50.0)  # 2 msg/s, requests of 4
    assert limiter.acquire(count=4) == 0.0
    assert limiter.acquire(count=4) == pytest.approx(2.0)
    # the sleep only records (the clock does not move): the limiter trusts it instead of spinning
    assert len(slept) <= 3 and sum(slept) == pytest.approx(2.0)


def batch(*texts: str) -> list[list[OutgoingMessage]]:
    return [[OutgoingMessage(f"+3361234000{i}", text, f"m{i}")] for i, text in enumerate(texts)]


def scripted(*answers: Exception | None) -> Callable[[Sequence[OutgoingMessage]], list[RecipientResult]]:
    left = list(answers)

    def post(chunk: Sequence[OutgoingMessage]) -> list[RecipientResult]:
        answer = left.pop(0)
        if answer is not None:
            raise answer
        return [RecipientResult(m.recipient, Outcome.SENT) for m in chunk]

    return post


def outcomes(results: list[RecipientResult]) -> list[Outcome]:
    return [r.outcome for r in results]


def test_nothing_accepted_yet_raises_the_whole_batch() -> None:
    for error in (RetryableError("503"), CredentialsError("401"), ConfigError("404")):
        with pytest.raises(type(error)):
            send_requests(batch("a", "b"), scripted(error, None), can_reconcile=False)


def test_in_doubt_first_raises_only_where_it_can_be_reconciled_or_is_the_whole_batch() -> None:
    with pytest.raises(InDoubtError):
        send_requests(batch("a", "b"), scripted(InDoubtError("drop"), None), can_reconcile=True)
    with pytest.raises(InDoubtError):
        send_requests(batch("a"), scripted(InDoubtError("drop")), can_reconcile=False)
    results = send_requests(batch("a", "b"), scripted(InDoubtError("drop"), None), can_reconcile=False)
    assert outcomes(results) == [Outcome.IN_DOUBT, Outcome.RETRY]  # the untried one is not in doubt


def test_once_one_went_through_nothing_is_raised() -> None:
    results = send_requests(batch("a", "b", "c"), scripted(None, RetryableError("503"), None),
                            can_reconcile=True)
    assert outcomes(results) == [Outcome.SENT, Outcome.RETRY, Outcome.RETRY]
    results = send_requests(batch("a", "b", "c"), scripted(None, InDoubtError("drop"), None),
                            can_reconcile=True)
    assert outcomes(results) == [Outcome.SENT, Outcome.IN_DOUBT, Outcome.RETRY]


def test_a_refused_request_rejects_its_own_messages_only() -> None:
    results = send_requests(batch("a", "b"), scripted(PermanentError("400"), None), can_reconcile=True)
    assert outcomes(results) == [Outcome.REJECTED, Outcome.SENT]
    with pytest.raises(PermanentError):
        send_requests(batch("a"), scripted(PermanentError("400")), can_reconcile=True)
    before = [RecipientResult("+1", Outcome.REJECTED, reason="not E.164")]
    results = send_requests(batch("a"), scripted(PermanentError("400")), can_reconcile=False, before=before)
    assert outcomes(results) == [Outcome.REJECTED, Outcome.REJECTED]
