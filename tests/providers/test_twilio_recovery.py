"""Issue 11: Twilio reconciles the batches a dead run left in doubt with one listing page, not one list
request per recipient; its history (the lost-ledger guard) is the sender's messages intersected with
the plan. Counted in requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from runner.campaign.model import Sender
from runner.providers.base import Outcome
from tests.providers.test_twilio import batch, number, provider
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support.openapi_check import SpecUnavailable, TwilioSpec


@pytest.fixture(scope="module")
def spec() -> TwilioSpec:
    try:
        return TwilioSpec()
    except SpecUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def fake(spec: TwilioSpec) -> Iterator[FakeTwilio]:
    with FakeTwilio(spec=spec) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)


def list_requests(fake: FakeTwilio) -> int:
    return sum(1 for r in fake.requests if r.method == "GET")


@pytest.mark.usefixtures("creds")
def test_64_in_doubt_batches_of_a_dead_run_are_reconciled_with_one_listing_page(fake: FakeTwilio) -> None:
    since = datetime.now(UTC)
    with provider(fake) as sender:  # the run that died: 40 of its 64 claimed batches were sent
        for i in range(40):
            sender.send(batch([number(i)], batch_id=f"c1.dead.{i}"))
    with provider(fake) as twilio:  # the next run
        accepted = set()
        for i in range(64):
            found = twilio.reconcile(batch([number(i)], batch_id=f"c1.dead.{i}"), since)
            assert found is not None
            accepted |= {r for r, result in found.items() if result.outcome is Outcome.SENT}
    assert accepted == {number(i) for i in range(40)}
    assert list_requests(fake) == 1  # was 64: one `To=` listing per recipient


@pytest.mark.usefixtures("creds")
def test_a_request_in_doubt_after_the_listing_is_listed_again(fake: FakeTwilio) -> None:
    since = datetime.now(UTC)
    with provider(fake) as twilio:
        assert twilio.reconcile(batch([number(1)], batch_id="c1.a.1"), since) == {}
        fake.drop_next()
        from runner.errors import InDoubtError

        with pytest.raises(InDoubtError):
            twilio.send(batch([number(2)], batch_id="c1.a.2"))
        found = twilio.reconcile(batch([number(2)], batch_id="c1.a.2"), since)
    assert found is not None and found[number(2)].outcome is Outcome.SENT  # not the stale listing
    assert list_requests(fake) == 2


@pytest.mark.usefixtures("creds")
def test_history_is_the_senders_messages_with_the_plans_recipients_and_texts(fake: FakeTwilio) -> None:
    text = "Sale ends Sunday"
    fake.add_message(number(1), text, created=datetime.now(UTC) - timedelta(days=40))  # before the window
    fake.add_message(number(2), "another campaign")  # another text
    fake.add_message(number(3), text, from_="+15005550009")  # another sender
    with provider(fake) as twilio:
        twilio.send(batch([number(4), number(5)], text))
        history = twilio.history("c1", Sender("short-code"), {number(i): text for i in range(1, 8)},
                                 datetime.now(UTC) - timedelta(days=30))
    assert history is not None
    assert {t.recipient for t in history.traces} == {number(4), number(5)}
    assert history.count == 2 and history.provider == "Twilio" and history.requests == 1
    assert all(t.provider_id and t.provider_id.startswith("SM") for t in history.traces)
