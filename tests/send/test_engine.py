"""The send engine's decisions, with a scripted provider at the interface seam and a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runner.check import load_campaign
from runner.errors import (
    CredentialsError,
    InDoubtError,
    PermanentError,
    RetryableError,
    TooManyFailuresError,
)
from runner.ledger.store import Ledger
from runner.plan import PlanOptions, build_plan
from runner.providers.base import Batch, Capabilities, Outcome, Provider, RecipientResult
from runner.send import SendOptions, send_plan
from tests.support.repo import Repo, french_mobiles

Step = Callable[[Batch], list[RecipientResult]]


class Scripted(Provider):
    """Answers each send() with the next scripted step; records what it accepted (its own truth)."""

    name = "scripted"

    def __init__(self, steps: list[Any], *, size: int = 2, reconcilable: bool = True) -> None:
        super().__init__({})
        self.capabilities = Capabilities(size, True, None, reconcilable)
        self.steps = list(steps)
        self.accepted: list[str] = []
        self.batches: list[Batch] = []
        self.reconciled_since: list[datetime] = []

    def send(self, batch: Batch) -> list[RecipientResult]:
        self.batches.append(batch)
        step = self.steps.pop(0) if self.steps else "ok"
        if step == "ok":
            return self._accept(batch.messages)
        if step == "accept-then-drop":
            self._accept(batch.messages)
            raise InDoubtError("connection dropped after the request was sent")
        if step == "accept-first-then-drop":
            self._accept(batch.messages[:1])
            raise InDoubtError("connection dropped")
        if isinstance(step, Exception):
            raise step
        result: list[RecipientResult] = step(batch)
        return result

    def _accept(self, messages: Any) -> list[RecipientResult]:
        out = []
        for m in messages:
            self.accepted.append(m.recipient)
            out.append(RecipientResult(m.recipient, Outcome.SENT, provider_id=f"id-{len(self.accepted)}"))
        return out

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        self.reconciled_since.append(since)
        if not self.capabilities.can_reconcile:
            return None
        mine = {m.recipient for m in batch.messages}
        return {r: RecipientResult(r, Outcome.SENT, provider_id="found") for r in self.accepted if r in mine}


def _plan(repo: Repo, numbers: list[str], extra: str = "", message: str = "Hello") -> Any:
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    path = repo.write("c.yaml", f"id: c\nmessage: '{message}'\ncommercial: false\nrecipients:\n  - csv: list.csv\n"
                      + extra)
    return build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, check_provider=False))


def _statuses(repo: Repo) -> dict[str, str]:
    with Ledger(repo.state) as ledger:
        return ledger.statuses("c")


NO_SLEEP = SendOptions(sleep=lambda s: None, handle_sigint=False)


def test_all_sent_and_settled(repo: Repo) -> None:
    numbers = french_mobiles(5)
    provider = Scripted([])
    report = send_plan(_plan(repo, numbers), NO_SLEEP, provider=provider)
    assert report.sent == 5 and report.requests == 3
    assert sorted(provider.accepted) == sorted(numbers)
    assert set(_statuses(repo).values()) == {"sent"}


def test_retryable_is_retried_with_retry_after(repo: Repo) -> None:
    slept: list[float] = []
    provider = Scripted([RetryableError("429", retry_after=7.0), "ok", "ok"])
    options = SendOptions(sleep=slept.append, handle_sigint=False)
    report = send_plan(_plan(repo, french_mobiles(4)), options, provider=provider)
    assert report.sent == 4 and report.retries == 1
    assert slept == [7.0]
    assert provider.accepted.count(french_mobiles(1)[0]) == 1


def test_backoff_has_jitter_and_a_cap(repo: Repo) -> None:
    slept: list[float] = []
    provider = Scripted([RetryableError("500")] * 5 + ["ok"] * 3)
    options = SendOptions(sleep=slept.append, handle_sigint=False, backoff_base=1.0, backoff_cap=3.0)
    report = send_plan(_plan(repo, french_mobiles(2)), options, provider=provider)
    assert report.sent == 2 and len(slept) == 5
    assert all(0 <= s <= 3.0 for s in slept)
    assert len(set(slept)) > 1


def test_consecutive_failures_stop_the_run_and_lose_nothing(repo: Repo) -> None:
    provider = Scripted([RetryableError("503")] * 50)
    plan = _plan(repo, french_mobiles(4), "limits: {max_consecutive_failures: 3}\n")
    with pytest.raises(TooManyFailuresError, match="3 failed request"):
        send_plan(plan, NO_SLEEP, provider=provider)
    assert set(_statuses(repo).values()) == {"pending"}
    assert provider.accepted == []


def test_permanent_error_rejects_the_batch(repo: Repo) -> None:
    provider = Scripted([PermanentError("invalid sender"), "ok"])
    report = send_plan(_plan(repo, french_mobiles(4)), NO_SLEEP, provider=provider)
    assert report.rejected == 2 and report.sent == 2
    assert report.rejections == {"invalid sender": 2}


def test_credentials_error_stops_and_puts_rows_back(repo: Repo) -> None:
    provider = Scripted(["ok", CredentialsError("bad key")])
    with pytest.raises(CredentialsError):
        send_plan(_plan(repo, french_mobiles(4)), NO_SLEEP, provider=provider)
    values = sorted(_statuses(repo).values())
    assert values == ["pending", "pending", "sent", "sent"]


def test_in_doubt_batch_is_reconciled_not_resent(repo: Repo) -> None:
    numbers = french_mobiles(4)
    provider = Scripted(["accept-then-drop", "ok"])
    report = send_plan(_plan(repo, numbers), NO_SLEEP, provider=provider)
    assert sorted(provider.accepted) == sorted(numbers)  # each exactly once
    assert report.in_doubt == 0 and report.reconciled == 2
    assert set(_statuses(repo).values()) == {"sent"}
    since = provider.reconciled_since[0]
    assert since <= datetime.now(since.tzinfo)  # asked about the batch since its claim


def test_partly_accepted_batch_sends_the_rest_in_the_same_run(repo: Repo) -> None:
    numbers = french_mobiles(4)
    provider = Scripted(["accept-first-then-drop"])
    report = send_plan(_plan(repo, numbers), NO_SLEEP, provider=provider)
    assert sorted(provider.accepted) == sorted(numbers)
    assert len(provider.accepted) == len(set(provider.accepted))
    assert report.in_doubt == 0
    assert set(_statuses(repo).values()) == {"sent"}


def test_in_doubt_without_reconciliation_is_never_resent(repo: Repo) -> None:
    numbers = french_mobiles(4)
    provider = Scripted(["accept-then-drop"], reconcilable=False)
    report = send_plan(_plan(repo, numbers), NO_SLEEP, provider=provider)
    assert report.in_doubt == 2 and report.sent == 2
    again = Scripted([], reconcilable=False)
    second = send_plan(_plan(repo, numbers), NO_SLEEP, provider=again)
    assert again.accepted == [] and second.sent == 0
    assert sorted(_statuses(repo).values()) == ["in_doubt", "in_doubt", "sent", "sent"]


def test_resend_in_doubt_is_explicit(repo: Repo) -> None:
    numbers = french_mobiles(2)
    send_plan(_plan(repo, numbers), NO_SLEEP, provider=Scripted(["accept-then-drop"], reconcilable=False))
    again = Scripted([], reconcilable=False)
    options = SendOptions(sleep=lambda s: None, handle_sigint=False, resend_in_doubt=True)
    assert send_plan(_plan(repo, numbers), options, provider=again).sent == 2


def test_crash_between_claim_and_settle_is_reconciled_next_run(repo: Repo) -> None:
    numbers = french_mobiles(4)

    class Crash(BaseException):
        pass

    def crash(batch: Batch) -> list[RecipientResult]:
        provider._accept(batch.messages)
        raise Crash  # an unexpected exception after the provider accepted, before settle

    provider = Scripted(["ok", crash])
    with pytest.raises(Crash):
        send_plan(_plan(repo, numbers), NO_SLEEP, provider=provider)
    # issue 15: an unclassified exception leaves no row claimed behind: in doubt, reconciled next run
    assert sorted(_statuses(repo).values()) == ["in_doubt", "in_doubt", "sent", "sent"]
    report = send_plan(_plan(repo, numbers), NO_SLEEP, provider=provider)
    assert report.reconciled == 2 and report.sent == 0
    assert sorted(provider.accepted) == sorted(numbers)
    assert set(_statuses(repo).values()) == {"sent"}


def test_recipient_missing_from_the_answer_is_in_doubt(repo: Repo) -> None:
    def half(batch: Batch) -> list[RecipientResult]:
        m = batch.messages[0]
        return [RecipientResult(m.recipient, Outcome.SENT, "x")]

    report = send_plan(_plan(repo, french_mobiles(2)), NO_SLEEP, provider=Scripted([half]))
    assert report.sent == 1 and report.in_doubt == 1


def test_rejected_recipients_keep_their_reason(repo: Repo) -> None:
    def reject(batch: Batch) -> list[RecipientResult]:
        return [RecipientResult(m.recipient, Outcome.REJECTED, reason="blacklisted") for m in batch.messages]

    report = send_plan(_plan(repo, french_mobiles(2)), NO_SLEEP, provider=Scripted([reject]))
    assert report.rejected == 2 and report.rejections == {"blacklisted": 2}
    with Ledger(repo.state) as ledger:
        assert {r.reason for r in ledger.rows("c", ["rejected"])} == {"blacklisted"}


def test_rate_limit_spaces_requests(repo: Repo) -> None:
    slept: list[float] = []
    options = SendOptions(sleep=slept.append, handle_sigint=False)
    send_plan(_plan(repo, french_mobiles(6), "limits: {rate: 2}\n"), options, provider=Scripted([]))
    assert sum(slept) >= 1.5  # 3 requests of 2 messages at 2 msg/s


def test_held_recipients_stay_pending(repo: Repo, tmp_path: Path) -> None:
    plan = _plan(repo, french_mobiles(2), "schedule: {not_before: '2099-01-01T00:00:00+00:00'}\n")
    report = send_plan(plan, NO_SLEEP, provider=Scripted([]))
    assert report.sent == 0 and report.held == 2
    assert set(_statuses(repo).values()) == {"pending"}


def test_provider_reported_opt_out_joins_the_suppression_list(repo: Repo) -> None:
    numbers = french_mobiles(2)

    def unsubscribed(batch: Batch) -> list[RecipientResult]:
        first, second = batch.messages
        return [RecipientResult(first.recipient, Outcome.REJECTED, reason="unsubscribed (21610)", opted_out=True),
                RecipientResult(second.recipient, Outcome.SENT, "sid")]

    send_plan(_plan(repo, numbers), NO_SLEEP, provider=Scripted([unsubscribed]))
    with Ledger(repo.state) as ledger:
        rows = list(ledger.db.execute("SELECT number, source FROM optouts"))
    assert rows == [(numbers[0], "provider:scripted")]
    assert _plan(repo, [*numbers, *french_mobiles(1, start=5)]).audience.suppressed == 1


def test_wait_sends_each_group_when_its_window_opens(repo: Repo) -> None:
    from datetime import UTC, timedelta

    paris, reunion = "+33612345678", "+262692123456"
    now = [datetime(2026, 11, 28, 18, 30, tzinfo=UTC)]  # Saturday 19:30 in Paris, 22:30 in Réunion
    sent_at: dict[str, datetime] = {}

    def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    def record(batch: Batch) -> list[RecipientResult]:
        for m in batch.messages:
            sent_at[m.recipient] = now[0]
        return [RecipientResult(m.recipient, Outcome.SENT, "id") for m in batch.messages]

    repo.write("list.csv", f"phone\n{paris}\n{reunion}\n")
    path = repo.write("c.yaml", "id: c\nmessage: promo\ncommercial: true\nopt_out_text: STOP 36111\n"
                                "recipients:\n  - csv: list.csv\n")
    plan = build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, at=now[0], check_provider=False))
    assert plan.window["held"] == 1
    options = SendOptions(sleep=sleep, clock=lambda: now[0], wait=True, handle_sigint=False)
    report = send_plan(plan, options, provider=Scripted([record, record], size=10))
    assert report.sent == 2
    assert sent_at[paris] == datetime(2026, 11, 28, 18, 30, tzinfo=UTC)
    assert sent_at[reunion] == datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # Monday 08:00 in Réunion


def test_without_wait_held_recipients_are_left_for_a_later_run(repo: Repo) -> None:
    from datetime import UTC

    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # Sunday: commercial messages are held
    repo.write("list.csv", "phone\n+33612345678\n")
    path = repo.write("c.yaml", "id: c\nmessage: promo\ncommercial: true\nopt_out_text: STOP 36111\n"
                                "recipients:\n  - csv: list.csv\n")
    plan = build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, at=now, check_provider=False))
    options = SendOptions(sleep=lambda s: None, clock=lambda: now, handle_sigint=False)
    report = send_plan(plan, options, provider=Scripted([]))
    assert report.sent == 0 and report.held == 1
    assert _statuses(repo) == {"+33612345678": "pending"}


def test_a_provider_that_cannot_reconcile_risks_one_request_per_crash(repo: Repo) -> None:
    import os

    numbers = french_mobiles(6)

    def die(batch: Batch) -> list[RecipientResult]:
        os._exit(9)  # like kill -9 during the second request: no cleanup at all

    repo.write("list.csv", "phone,name\n" + "\n".join(f"{n},N{i}" for i, n in enumerate(numbers)) + "\n")
    path = repo.write("c.yaml", "id: c\nmessage: 'Hi {{ name }}'\ncommercial: false\nrecipients:\n  - csv: list.csv\n")
    plan = build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, check_provider=False))
    # personalised texts: one small request per recipient, which a reconcilable provider claims in groups
    provider = Scripted(["ok", die], size=10, reconcilable=False)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child dies in the provider
        try:
            send_plan(plan, NO_SLEEP, provider=provider)
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 9
    values = sorted(_statuses(repo).values())
    assert values == ["claimed", "sent"], values  # at most the request in flight is in doubt
    # the other four were never claimed: not in the ledger yet, and counted pending by `status`
    from runner.ledger.status import campaign_status

    reported = campaign_status(repo.state, "c")
    assert (reported["pending"], reported["unrecorded"], reported["in_doubt"], reported["sent"]) == (4, 4, 1, 1)


def test_a_dead_ledger_writer_stops_the_send_instead_of_hanging(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.send import writer as writer_module

    def broken(self: Any) -> None:
        raise RuntimeError("the writer thread broke")

    monkeypatch.setattr(writer_module.LedgerWriter, "_run_jobs", broken)
    plan = _plan(repo, french_mobiles(5))
    provider = Scripted([])
    with pytest.raises(RuntimeError, match="writer thread broke"):
        send_plan(plan, NO_SLEEP, provider=provider)
    assert provider.accepted == []  # nothing was claimed, so nothing was sent


def test_rate_limit_never_bunches_small_requests(repo: Repo) -> None:
    """One message per request (personalised texts) under 2 msg/s: each waits its turn, none go together
    (a window as wide as the provider's batch would let a whole batch of them leave at once). The pacing
    clock moves only when the engine sleeps, so a slow ledger cannot shorten a wait."""
    slept: list[float] = []
    now = [1000.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    options = SendOptions(sleep=sleep, monotonic=lambda: now[0], handle_sigint=False)
    numbers = french_mobiles(6)
    plan = _plan(repo, numbers, "limits: {rate: 2}\n", message="Hi {{ phone }}")
    send_plan(plan, options, provider=Scripted([]))
    assert [s for s in slept if s > 0] == [0.5] * 5, slept
