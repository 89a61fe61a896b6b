"""In-doubt sends and OvhProvider.reconcile: what OVHcloud accepted is found again, so nothing is
sent twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from runner.campaign.model import Sender
from runner.errors import InDoubtError
from runner.providers.base import Batch, Outcome, OutgoingMessage
from runner.providers.ovh import OvhClient, OvhProvider
from tests.support.fake_ovh import FakeOvh


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


def make_provider(fake: FakeOvh, *, timeout: float = 5.0, max_retries: int = 2) -> OvhProvider:
    client = OvhClient(
        fake.base_url,
        fake.application_key,
        fake.application_secret,
        fake.consumer_key,
        timeout=timeout,
        requests_per_minute=None,
        max_retries=max_retries,
        sleep=lambda _: None,
    )
    return OvhProvider({"reconcile_delay": 0}, env=fake.credentials, client=client)


def make_batch(
    recipients: Sequence[str], *, batch_id: str = "b1", text: str = "Hello", not_before: datetime | None = None
) -> Batch:
    messages = [OutgoingMessage(r, text, f"c:{r}") for r in recipients]
    return Batch("spring-sale", batch_id, Sender("alphanumeric", "ACME"), False, "GSM-7", messages, not_before)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+336{i:08d}" for i in range(start, start + count)]


def resend_what_is_missing(provider: OvhProvider, batch: Batch, since: datetime) -> None:
    """What the engine will do: reconcile, then send only the recipients OVHcloud does not know."""
    found = provider.reconcile(batch, since)
    assert found is not None
    rest = [m for m in batch.messages if m.recipient not in found]
    if rest:
        retry = Batch(batch.campaign_id, batch.batch_id, batch.sender, batch.commercial, batch.encoding, rest)
        provider.send(retry)


def test_timeout_after_acceptance_then_reconcile_finds_everything(fake: FakeOvh) -> None:
    recipients = numbers(50)
    batch = make_batch(recipients)
    provider = make_provider(fake, timeout=0.3)
    since = datetime.now(UTC)
    fake.fail_next("slow", where="POST", delay=1.5)
    with pytest.raises(InDoubtError):
        provider.send(batch)
    found = provider.reconcile(batch, since)
    assert found is not None and set(found) == set(recipients)
    ids = {o["receiver"]: str(o["id"]) for o in fake.outgoing}
    assert all(r.outcome is Outcome.SENT and r.provider_id == ids[n] for n, r in found.items())
    resend_what_is_missing(provider, batch, since)
    assert Counter(fake.sent_receivers()) == Counter(recipients)  # nothing sent twice


def test_dropped_connection_after_acceptance_then_reconcile(fake: FakeOvh) -> None:
    recipients = numbers(20)
    batch = make_batch(recipients)
    provider = make_provider(fake)
    since = datetime.now(UTC)
    fake.fail_next("drop_after_accept", where="POST")
    with pytest.raises(InDoubtError):
        provider.send(batch)
    assert [j.answered for j in fake.jobs] == [False]
    found = provider.reconcile(batch, since)
    assert found is not None and set(found) == set(recipients)


def test_nothing_accepted_reconciles_to_nothing(fake: FakeOvh) -> None:
    recipients = numbers(5)
    batch = make_batch(recipients)
    provider = make_provider(fake)
    since = datetime.now(UTC)
    fake.fail_next("drop_before_accept", where="POST")
    with pytest.raises(InDoubtError):
        provider.send(batch)
    assert provider.reconcile(batch, since) == {}
    resend_what_is_missing(provider, batch, since)
    assert Counter(fake.sent_receivers()) == Counter(recipients)


def test_partially_accepted_batch(fake: FakeOvh) -> None:
    # A batch with two texts: the first POST went through, the second was never made.
    recipients = numbers(4)
    provider = make_provider(fake)
    since = datetime.now(UTC)
    first = make_batch(recipients[:2], text="A")
    provider.send(first)
    whole = Batch(
        "spring-sale",
        "b1",
        first.sender,
        False,
        "GSM-7",
        [*first.messages, *(OutgoingMessage(r, "B", f"c:{r}") for r in recipients[2:])],
    )
    found = provider.reconcile(whole, since)
    assert found is not None and set(found) == set(recipients[:2])
    resend_what_is_missing(provider, whole, since)
    assert Counter(fake.sent_receivers()) == Counter(recipients)


def test_reconcile_only_sees_its_own_batch(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    since = datetime.now(UTC)
    provider.send(make_batch(numbers(3), batch_id="other"))
    mine = make_batch(numbers(3), batch_id="mine")  # same recipients, another batch: another tag
    assert provider.reconcile(mine, since) == {}


def test_reconcile_a_deferred_batch_reads_pending_jobs(fake: FakeOvh) -> None:
    recipients = numbers(3)
    batch = make_batch(recipients, not_before=datetime.now(UTC) + timedelta(hours=2))
    provider = make_provider(fake)
    since = datetime.now(UTC)
    fake.fail_next("drop_after_accept", where="POST")
    with pytest.raises(InDoubtError):
        provider.send(batch)
    assert fake.outgoing == [] and len(fake.pending) == 3
    found = provider.reconcile(batch, since)
    assert found is not None and set(found) == set(recipients)


def test_reconcile_returns_none_when_the_listing_fails(fake: FakeOvh) -> None:
    batch = make_batch(numbers(2))
    fake.fail_next("http_500", 10, where="GET .*/outgoing")
    assert make_provider(fake, max_retries=1).reconcile(batch, datetime.now(UTC)) is None


def test_reconcile_with_naive_since_and_local_clock_offset() -> None:
    with FakeOvh(clock_skew=-1800) as fake:  # OVHcloud's clock half an hour behind ours
        provider = make_provider(fake)
        since = datetime.now()  # naive local time
        batch = make_batch(numbers(2))
        provider.send(batch)
        found = provider.reconcile(batch, since)
    assert found is not None and len(found) == 2


def test_reconcile_waits_a_little_after_its_own_in_doubt_request(fake: FakeOvh,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait is checked by the sleeps asked for, not by the wall clock (a busy machine stretches that)."""
    import runner.providers.ovh.provider as provider_module

    slept: list[float] = []
    monkeypatch.setattr(provider_module, "time", SimpleNamespace(monotonic=time.monotonic, sleep=slept.append))
    batch = make_batch(numbers(2))
    provider = make_provider(fake)
    provider.reconcile_delay = 3600.0  # not really slept: the recorded request is what the test reads
    since = datetime.now(UTC)
    fake.fail_next("drop_after_accept", where="POST")
    with pytest.raises(InDoubtError):
        provider.send(batch)
    assert provider.reconcile(batch, since) is not None
    assert len(slept) == 1 and 3000 < slept[0] <= 3600, slept
    # a second reconcile (or one for a dead run's batch) does not wait
    assert provider.reconcile(batch, since) is not None
    assert len(slept) == 1, slept
