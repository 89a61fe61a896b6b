"""OvhProvider.send against the loopback fake, whose record is the truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.campaign.model import Sender
from runner.errors import ConfigError, InDoubtError, PermanentError, RetryableError
from runner.providers import create_provider
from runner.providers.base import Batch, Outcome, OutgoingMessage, Provider
from runner.providers.ovh import STOP_MENTION, OvhClient, OvhProvider, job_tag
from tests.providers.conformance import Peer, ProviderConformance
from tests.support.fake_ovh import FakeOvh

ACME = Sender("alphanumeric", "ACME")
SHORT = Sender("short-code")


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


def make_provider(fake: FakeOvh, *, timeout: float = 5.0, **settings: Any) -> OvhProvider:
    client = OvhClient(
        fake.base_url,
        fake.application_key,
        fake.application_secret,
        fake.consumer_key,
        timeout=timeout,
        requests_per_minute=None,
        sleep=lambda _: None,
    )
    return OvhProvider(settings, env=fake.credentials, client=client)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+336{i:08d}" for i in range(start, start + count)]


def make_batch(
    recipients: Sequence[str],
    text: str | Callable[[str], str] = "Hello from ACME",
    *,
    sender: Sender = ACME,
    commercial: bool = False,
    encoding: str = "GSM-7",
    batch_id: str = "b0001",
    campaign_id: str = "spring-sale",
    not_before: datetime | None = None,
) -> Batch:
    messages = [OutgoingMessage(r, text(r) if callable(text) else text, f"{campaign_id}:{r}") for r in recipients]
    return Batch(campaign_id, batch_id, sender, commercial, encoding, messages, not_before)


def test_capabilities_and_settings(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    caps = provider.capabilities
    assert caps.max_recipients_per_request == 500
    assert caps.one_text_many_recipients and caps.can_reconcile
    assert caps.stop_mention == STOP_MENTION == "\nSTOP:36111" and len(caps.stop_mention) == 11
    assert make_provider(fake, batch_size=100).capabilities.max_recipients_per_request == 100
    with pytest.raises(ConfigError):
        make_provider(fake, priority="urgent")
    with pytest.raises(ConfigError, match="only from the environment"):
        OvhProvider({"consumer_key": "x"})


def test_registry_builds_it_from_the_environment(
    fake: FakeOvh, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in fake.credentials.items():
        monkeypatch.setenv(key, value)
    provider = create_provider("ovh", {"requests_per_minute": 0}, state_dir=tmp_path)
    assert isinstance(provider, OvhProvider)
    with provider:
        [result] = provider.send(make_batch(["+33612345678"]))
    assert result.outcome is Outcome.SENT
    assert fake.sent_receivers() == ["+33612345678"]


def test_missing_credentials_is_a_config_error_naming_the_variable(fake: FakeOvh) -> None:
    env = {k: v for k, v in fake.credentials.items() if k != "OVH_CONSUMER_KEY"}
    provider = OvhProvider({}, env=env)
    with pytest.raises(ConfigError, match="OVH_CONSUMER_KEY") as info:
        provider.send(make_batch(["+33612345678"]))
    assert fake.application_secret not in str(info.value)
    assert fake.jobs == []
    assert fake.application_secret not in repr(provider)


def test_full_send_of_5000_recipients_in_batches_of_500(fake: FakeOvh) -> None:
    recipients = numbers(5000)
    provider = make_provider(fake)
    size = provider.capabilities.max_recipients_per_request
    results = []
    tags = set()
    for index in range(0, len(recipients), size):
        batch = make_batch(recipients[index : index + size], batch_id=f"b{index // size:04d}")
        tags.add(job_tag(batch.campaign_id, batch.batch_id))
        got = provider.send(batch)
        assert len(got) == len(batch.messages)
        results.extend(got)

    # the fake's record is the truth: every recipient exactly once, in 10 requests
    assert len(fake.jobs) == 10
    assert Counter(fake.sent_receivers()) == Counter(recipients)
    by_receiver = {o["receiver"]: o for o in fake.outgoing}
    assert all(r.outcome is Outcome.SENT for r in results)
    assert {r.recipient: r.provider_id for r in results} == {n: str(o["id"]) for n, o in by_receiver.items()}
    assert all(r.cost == 1.0 for r in results)
    assert {o["tag"] for o in fake.outgoing} == tags and len(tags) == 10
    assert all(len(tag) <= 20 for tag in tags)
    assert fake.credits == 1_000_000 - 5000
    for job in fake.jobs:
        assert job.body["charset"] == "UTF-8" and job.body["coding"] == "7bit"
        assert len(job.body["receivers"]) == 500


def test_invalid_receivers_are_rejected_the_others_sent() -> None:
    with FakeOvh(invalid_numbers={"+33699999999"}) as fake:
        provider = make_provider(fake)
        recipients = ["+33612345678", "+33699999999", "0612345678", "+33698765432"]
        results = {r.recipient: r for r in provider.send(make_batch(recipients))}
    assert results["+33612345678"].outcome is Outcome.SENT
    assert results["+33698765432"].outcome is Outcome.SENT
    for bad in ("+33699999999", "0612345678"):
        reason = results[bad].reason
        assert results[bad].outcome is Outcome.REJECTED
        assert reason is not None and "invalid" in reason
    assert sorted(fake.sent_receivers()) == ["+33612345678", "+33698765432"]
    assert results["+33612345678"].cost == 1.0  # credits shared among the valid receivers only


def test_short_code_alphanumeric_and_number_senders(fake: FakeOvh) -> None:
    fake.add_sender("+33700000000")
    provider = make_provider(fake)
    provider.send(make_batch(["+33612345678"], sender=SHORT, batch_id="s"))
    provider.send(make_batch(["+33612345679"], sender=ACME, batch_id="a"))
    provider.send(make_batch(["+33612345670"], sender=Sender("number", "+33700000000"), batch_id="n"))
    short, alpha, number = (job.body for job in fake.jobs)
    assert short["senderForResponse"] is True and "sender" not in short
    assert alpha["sender"] == "ACME" and "senderForResponse" not in alpha
    assert number["sender"] == "+33700000000" and "senderForResponse" not in number
    assert [o["sender"] for o in fake.outgoing] == ["", "ACME", "+33700000000"]


def test_commercial_means_no_stop_clause_false(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    provider.send(make_batch(["+33612345678"], commercial=True, batch_id="c"))
    provider.send(make_batch(["+33612345679"], commercial=False, batch_id="t"))
    commercial, transactional = (job.body for job in fake.jobs)
    assert commercial["noStopClause"] is False
    assert transactional["noStopClause"] is True


def test_personalised_texts_are_grouped_per_text(fake: FakeOvh) -> None:
    recipients = numbers(9)
    texts = {r: f"Bonjour client {int(r[-1]) % 3}" for r in recipients}
    results = make_provider(fake).send(make_batch(recipients, lambda r: texts[r]))
    assert len(fake.jobs) == 3
    for job in fake.jobs:
        assert {texts[r] for r in job.body["receivers"]} == {job.body["message"]}
    assert sorted(r for job in fake.jobs for r in job.body["receivers"]) == recipients
    assert {o["receiver"]: o["message"] for o in fake.outgoing} == texts
    assert all(r.outcome is Outcome.SENT for r in results) and len(results) == 9
    assert len({job.body["tag"] for job in fake.jobs}) == 1  # one tag per batch


def test_unicode_batch_coding(fake: FakeOvh) -> None:
    make_provider(fake).send(make_batch(["+33612345678"], "Zoë ✓", encoding="UCS-2"))
    assert fake.jobs[0].body["coding"] == "8bit"
    assert fake.outgoing[0]["message"] == "Zoë ✓"


def test_differed_period_when_not_before_is_in_the_future(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    later = datetime.now(UTC) + timedelta(minutes=90)
    provider.send(make_batch(["+33612345678"], not_before=later, batch_id="later"))
    provider.send(make_batch(["+33612345679"], not_before=datetime.now(UTC) - timedelta(hours=1), batch_id="now"))
    deferred, immediate = (job.body for job in fake.jobs)
    assert deferred["differedPeriod"] == 90
    assert "differedPeriod" not in immediate
    assert [p["receiver"] for p in fake.pending] == ["+33612345678"]
    assert [o["receiver"] for o in fake.outgoing] == ["+33612345679"]
    fake.release_pending()
    assert sorted(o["receiver"] for o in fake.outgoing) == ["+33612345678", "+33612345679"]


def test_validity_and_priority_settings(fake: FakeOvh) -> None:
    make_provider(fake, validity_period=120, priority="low").send(make_batch(["+33612345678"]))
    body = fake.jobs[0].body
    assert body["validityPeriod"] == 120 and body["priority"] == "low"


def test_429_is_raised_for_the_engine_to_retry(fake: FakeOvh) -> None:
    fake.fail_next("http_429", where="POST", retry_after=5)
    provider = make_provider(fake)
    batch = make_batch(numbers(3))
    with pytest.raises(RetryableError) as info:
        provider.send(batch)
    assert info.value.retry_after == 5
    assert fake.jobs == []
    assert all(r.outcome is Outcome.SENT for r in provider.send(batch))
    assert sorted(fake.sent_receivers()) == numbers(3)


def test_500_is_raised_as_retryable(fake: FakeOvh) -> None:
    fake.fail_next("http_500", where="POST")
    with pytest.raises(RetryableError):
        make_provider(fake).send(make_batch(numbers(2)))
    assert fake.outgoing == []


def test_400_is_permanent(fake: FakeOvh) -> None:
    with pytest.raises(PermanentError, match="URL"):
        make_provider(fake).send(make_batch(numbers(2), "See https://example.test", sender=SHORT))
    with pytest.raises(PermanentError, match="NOSUCH"):
        make_provider(fake).send(make_batch(numbers(2), sender=Sender("alphanumeric", "NOSUCH")))


def test_unknown_service_is_a_config_error(fake: FakeOvh) -> None:
    provider = make_provider(fake, service_name="sms-zz99999-9")
    with pytest.raises(ConfigError, match=r"sms-zz99999-9.*not found"):
        provider.send(make_batch(numbers(1)))


def test_a_later_group_failing_does_not_resend_the_accepted_one(fake: FakeOvh) -> None:
    recipients = numbers(4)
    texts = {r: ("A" if i < 2 else "B") for i, r in enumerate(recipients)}
    fake.fail_next("http_503", where="POST", after=1)
    results = {r.recipient: r for r in make_provider(fake).send(make_batch(recipients, lambda r: texts[r]))}
    assert [results[r].outcome for r in recipients] == [Outcome.SENT, Outcome.SENT, Outcome.RETRY, Outcome.RETRY]
    assert sorted(fake.sent_receivers()) == recipients[:2]


def test_a_later_group_in_doubt_is_reported_in_doubt(fake: FakeOvh) -> None:
    recipients = numbers(6)
    texts = {r: "ABC"[i // 2] for i, r in enumerate(recipients)}
    fake.fail_next("drop_after_accept", where="POST", after=1)
    results = {r.recipient: r for r in make_provider(fake).send(make_batch(recipients, lambda r: texts[r]))}
    assert [results[r].outcome for r in recipients] == [
        Outcome.SENT,
        Outcome.SENT,
        Outcome.IN_DOUBT,
        Outcome.IN_DOUBT,
        Outcome.RETRY,
        Outcome.RETRY,
    ]
    assert sorted(fake.sent_receivers()) == recipients[:4]  # the in-doubt group was in fact accepted


def test_first_group_in_doubt_raises(fake: FakeOvh) -> None:
    recipients = numbers(4)
    fake.fail_next("drop_after_accept", where="POST")
    with pytest.raises(InDoubtError):
        make_provider(fake).send(make_batch(recipients, lambda r: "A" if r < recipients[2] else "B"))
    assert len(fake.jobs) == 1  # stopped at the first doubtful request


def test_one_group_refused_for_good_the_others_sent(fake: FakeOvh) -> None:
    recipients = numbers(4)
    texts = {r: ("Hello" if i % 2 else "Go to https://example.test") for i, r in enumerate(recipients)}
    results = make_provider(fake).send(make_batch(recipients, lambda r: texts[r], sender=SHORT))
    outcomes = {r.recipient: r.outcome for r in results}
    assert outcomes == {r: (Outcome.SENT if i % 2 else Outcome.REJECTED) for i, r in enumerate(recipients)}


def test_number_spelling_in_the_report_is_matched(fake: FakeOvh) -> None:
    results = make_provider(fake).send(make_batch(["0033612345678"]))
    assert results[0].outcome is Outcome.SENT and results[0].provider_id


def test_empty_batch(fake: FakeOvh) -> None:
    assert make_provider(fake).send(make_batch([])) == []
    assert fake.requests == []


# -- the conformance suite (tests/providers/conformance.py) over the loopback OVHcloud fake -------------------
class OvhPeer(Peer):
    def __init__(self, fake: FakeOvh) -> None:
        self.fake = fake

    def provider(self, state_dir: Path, **settings: Any) -> Provider:
        provider = make_provider(self.fake, reconcile_delay=0, service_name=self.fake.service_name, **settings)
        provider.state_dir = state_dir
        return provider

    def received(self) -> list[tuple[str, str]]:
        out = []
        for job in self.fake.jobs:
            if job.accepted and job.response:
                mention = "" if job.body.get("noStopClause") else self.fake.stop_clause
                out += [(r, str(job.body["message"]) + mention) for r in job.response.get("validReceivers", [])]
        return out

    def fail_next(self, kind: str, *, after: int = 0) -> None:
        fault = {"retryable": "http_503", "in_doubt": "drop_after_accept"}[kind]
        self.fake.fail_next(fault, where=r"^POST /sms/[^/]+/jobs$", after=after)

    def refuse(self, recipient: str) -> None:
        self.fake.invalid_numbers.add(recipient)

    def deliver(self, provider_ids: Sequence[str]) -> None:
        self.fake.deliver([int(i) for i in provider_ids])


class TestOvhConformance(ProviderConformance):
    @pytest.fixture
    def peer(self) -> Iterator[Peer]:
        with FakeOvh() as server:
            yield OvhPeer(server)
