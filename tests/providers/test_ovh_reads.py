"""Read-only OVHcloud calls: delivery reports, preflight, incoming, blacklists, receivers slots,
phonebooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runner.campaign.model import Sender
from runner.errors import ConfigError, CredentialsError
from runner.providers.base import Batch, OutgoingMessage
from runner.providers.ovh import OvhClient, OvhProvider, api
from tests.support.fake_ovh import FakeOvh


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


def make_client(fake: FakeOvh, **overrides: Any) -> OvhClient:
    options: dict[str, Any] = {"requests_per_minute": None, "sleep": lambda _: None, "max_retries": 2}
    options.update(overrides)
    return OvhClient(fake.base_url, fake.application_key, fake.application_secret, fake.consumer_key, **options)


def make_provider(fake: FakeOvh, **settings: Any) -> OvhProvider:
    return OvhProvider(settings, env=fake.credentials, client=make_client(fake))


def send(provider: OvhProvider, recipients: list[str]) -> list[str]:
    batch = Batch(
        "camp",
        "b1",
        Sender("alphanumeric", "ACME"),
        False,
        "GSM-7",
        [OutgoingMessage(r, "Hi", f"camp:{r}") for r in recipients],
    )
    results = provider.send(batch)
    by_recipient = {r.recipient: r.provider_id for r in results}
    return [str(by_recipient[r]) for r in recipients]


def numbers(count: int) -> list[str]:
    return [f"+336{i:08d}" for i in range(count)]


# -- delivery reports --------------------------------------------------------------------------------


def test_delivery_reports_by_filtered_listings(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    ids = send(provider, numbers(10))
    fake.deliver([int(i) for i in ids[:4]], receipt=1)
    fake.deliver([int(i) for i in ids[4:6]], receipt=2, ptt=24)
    fake.deliver([int(i) for i in ids[6:7]], receipt=16, ptt=23)
    before = len(fake.requests)
    reports = {r.provider_id: r for r in provider.delivery_reports([*ids, "not-an-id", "999"])}
    used = fake.requests[before:]
    # 3 listings (deliveryReceipt 1, 2, 16) + one read per failed SMS for its reason: not one per SMS
    assert len(used) == 3 + 3
    assert sum(1 for r in used if r.path.endswith("/outgoing")) == 3
    assert [reports[i].status for i in ids] == ["delivered"] * 4 + ["failed"] * 3 + ["pending"] * 3
    assert reports[ids[4]].reason == "ptt 24 (subscriber absent)"
    reason = reports[ids[6]].reason
    assert reason is not None and "blacklisted" in reason
    assert reports["999"].status == "pending"


def test_delivery_reports_detail_limit(fake: FakeOvh) -> None:
    provider = make_provider(fake, dlr_detail_limit=1)
    ids = send(provider, numbers(6))
    fake.deliver([int(i) for i in ids], receipt=2, ptt=5)
    reports = provider.delivery_reports(ids)
    assert [r.status for r in reports] == ["failed"] * 6
    assert sum(1 for r in reports if r.reason) == 1


def test_delivery_reports_few_ids_read_one_by_one(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    ids = send(provider, numbers(2))
    fake.deliver([int(ids[0])], receipt=1)
    before = len(fake.requests)
    first, second = provider.delivery_reports(ids)
    assert len(fake.requests) - before == 2
    assert first.status == "delivered" and first.at is not None
    assert second.status == "pending" and second.at is None


def test_delivery_reports_of_a_deferred_sms_are_pending(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    batch = Batch(
        "camp",
        "later",
        Sender("alphanumeric", "ACME"),
        False,
        "GSM-7",
        [OutgoingMessage("+33612345678", "Hi", "m")],
        datetime.now(UTC) + timedelta(hours=1),
    )
    [result] = provider.send(batch)
    assert result.provider_id
    assert [r.status for r in provider.delivery_reports([result.provider_id])] == ["pending"]


# -- preflight ---------------------------------------------------------------------------------------


def test_preflight_without_credentials_warns() -> None:
    warnings = OvhProvider({}, env={}).preflight(sender=Sender("alphanumeric", "ACME"), total_parts=10)
    assert len(warnings) == 1 and "OVH_APPLICATION_KEY" in warnings[0] and "not checked" in warnings[0]


def test_preflight_all_good(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    assert provider.preflight(sender=Sender("alphanumeric", "ACME"), total_parts=10) == []
    assert provider.preflight(sender=Sender("short-code"), total_parts=10) == []
    paths = [r.path for r in fake.requests]
    assert f"/sms/{fake.service_name}/senders/ACME" in paths
    assert f"/sms/{fake.service_name}" in paths


def test_preflight_low_credits_warns(fake: FakeOvh) -> None:
    fake.set_account(creditsLeft=5.0)
    [warning] = make_provider(fake).preflight(sender=Sender("short-code"), total_parts=12)
    assert "5 credits left" in warning and "12" in warning


@pytest.mark.parametrize(
    ("status", "comment"), [("disable", None), ("waitingValidation", None), ("refused", "no proof")]
)
def test_preflight_sender_not_enabled(fake: FakeOvh, status: str, comment: str | None) -> None:
    fake.add_sender("SHOP", status=status, comment=comment)
    with pytest.raises(ConfigError, match=status) as info:
        make_provider(fake).preflight(sender=Sender("alphanumeric", "SHOP"), total_parts=1)
    if comment:
        assert comment in str(info.value)


def test_preflight_sender_unknown_and_number_sender(fake: FakeOvh) -> None:
    with pytest.raises(ConfigError, match="not registered"):
        make_provider(fake).preflight(sender=Sender("alphanumeric", "NOPE"), total_parts=1)
    fake.add_sender("+33700000000")
    assert make_provider(fake).preflight(sender=Sender("number", "+33700000000"), total_parts=1) == []
    assert f"/sms/{fake.service_name}/senders/+33700000000" in [r.path for r in fake.requests]


def test_preflight_unknown_service_and_disabled_account(fake: FakeOvh) -> None:
    with pytest.raises(ConfigError, match="not found"):
        make_provider(fake, service_name="sms-zz1-1").preflight(sender=Sender("short-code"), total_parts=1)
    fake.set_account(status="disable")
    with pytest.raises(ConfigError, match="disable"):
        make_provider(fake).preflight(sender=Sender("short-code"), total_parts=1)


def test_preflight_refused_credentials(fake: FakeOvh) -> None:
    env = {**fake.credentials, "OVH_CONSUMER_KEY": "wrong"}
    client = OvhClient(fake.base_url, fake.application_key, fake.application_secret, "wrong", requests_per_minute=None)
    with pytest.raises(CredentialsError):
        OvhProvider({}, env=env, client=client).preflight(sender=Sender("short-code"), total_parts=1)


def test_preflight_unreachable_is_a_warning(fake: FakeOvh) -> None:
    fake.fail_next("http_503", 10, where="GET")
    [warning] = make_provider(fake).preflight(sender=Sender("short-code"), total_parts=1)
    assert warning.startswith("could not check")


def test_service_name_is_found_when_only_one(fake: FakeOvh) -> None:
    env = {k: v for k, v in fake.credentials.items() if k != "OVH_SERVICE_NAME"}
    provider = OvhProvider({}, env=env, client=make_client(fake))
    assert provider.service_name == fake.service_name


# -- incoming, blacklists ----------------------------------------------------------------------------


def test_incoming_replies(fake: FakeOvh) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    first = fake.add_incoming("+33612345678", "STOP", created=old)
    second = fake.add_incoming("+33612345679", "Oui merci", tag="camp")
    third = fake.add_incoming("+33612345678", "Arrêt svp")
    with make_client(fake) as client:
        sn = fake.service_name
        assert api.list_incoming(client, sn) == [first, second, third]
        replies = api.fetch_incoming(client, sn)
        assert [m.id for m in replies] == [first, second, third]
        assert replies[0].sender == "+33612345678" and replies[0].message == "STOP"
        assert replies[0].created is not None and replies[0].created < replies[1].created  # type: ignore[operator]
        assert [m.id for m in api.fetch_incoming(client, sn, sender="+33612345678")] == [first, third]
        assert [m.id for m in api.fetch_incoming(client, sn, since=datetime.now(UTC) - timedelta(hours=1))] == [
            second,
            third,
        ]
        assert [m.id for m in api.fetch_incoming(client, sn, exclude_ids=[first, second])] == [third]
        one = api.get_incoming(client, sn, second)
        assert (one.tag, one.message, one.credits) == ("camp", "Oui merci", 1.0)


def test_blacklists(fake: FakeOvh) -> None:
    fake.add_blacklist("+33612345678", sms_outgoing_id=42)
    fake.add_blacklist("+33612345679")
    with make_client(fake) as client:
        sn = fake.service_name
        assert api.list_blacklists(client, sn) == ["+33612345678", "+33612345679"]
        assert api.list_blacklists(client, sn, sms_outgoing_id=42) == ["+33612345678"]
        entry = api.get_blacklist(client, sn, "+33612345678")
        assert entry.number == "+33612345678" and entry.sms_outgoing_id == 42 and entry.created is not None


def test_a_blacklisted_number_is_accepted_then_fails(fake: FakeOvh) -> None:
    fake.add_blacklist("+33612345678")
    provider = make_provider(fake)
    [ident] = send(provider, ["+33612345678"])
    [report] = provider.delivery_reports([ident])
    assert report.status == "failed" and report.reason and "ptt 23" in report.reason


# -- receivers slots ---------------------------------------------------------------------------------


def test_receivers_slots(fake: FakeOvh) -> None:
    fake.add_receivers_slot(1, ["+33612345678", "+33612345679"], description="existing")
    url = fake.host_file("clients.csv", "number;name\n+33600000001;Ann\n+33600000002;Bob\n")
    with make_client(fake) as client:
        sn = fake.service_name
        created = api.create_receiver_slot(client, sn, description="clients", csv_url=url, auto_update=True)
        assert created.slot_id == 2  # first free slot
        assert created.records == 2 and created.auto_update
        assert [s.slot_id for s in api.list_receiver_slots(client, sn)] == [1, 2]
        text = api.receiver_slot_csv(client, sn, 2)
        lines = api.parse_receivers_csv(text)
        assert [(x.line, x.number, x.fields) for x in lines] == [
            (2, "+33600000001", {"name": "Ann"}),
            (3, "+33600000002", {"name": "Bob"}),
        ]
        api.delete_receiver_slot(client, sn, 1)
        assert api.list_receiver_slot_ids(client, sn) == [2]
        with pytest.raises(ConfigError, match="40"):
            api.create_receiver_slot(client, sn, description="x" * 41, csv_url=url)
        with pytest.raises(ConfigError, match="http"):
            api.create_receiver_slot(client, sn, description="x", csv_url="ftp://example.test/a.csv")


def test_receivers_slots_all_used(fake: FakeOvh) -> None:
    for slot in range(1, 10):
        fake.add_receivers_slot(slot, ["+33612345678"])
    with make_client(fake) as client, pytest.raises(ConfigError, match="9"):
        api.create_receiver_slot(client, fake.service_name, description="one more", csv_url="http://127.0.0.1/x")


def test_parse_receivers_csv_variants() -> None:
    assert [(x.line, x.number) for x in api.parse_receivers_csv("+33612345678\n\n+33612345679\n")] == [
        (1, "+33612345678"),
        (3, "+33612345679"),
    ]
    lines = api.parse_receivers_csv("name,tel\nAnn,+33612345678\n", column="tel")
    assert [(x.number, x.fields) for x in lines] == [("+33612345678", {"name": "Ann"})]
    assert api.parse_receivers_csv("") == []


def test_fake_rejects_a_csv_without_number_column(fake: FakeOvh) -> None:
    url = fake.host_file("bad.csv", "phone\n+33612345678\n")
    with make_client(fake) as client, pytest.raises(Exception, match="number"):
        api.create_receiver_slot(client, fake.service_name, description="bad", csv_url=url)


# -- phonebooks --------------------------------------------------------------------------------------


def test_phonebooks_and_contacts(fake: FakeOvh) -> None:
    book = fake.add_phonebook("Clients")
    fake.add_phonebook("Staff")
    a = fake.add_contact(book, name="Ann", surname="Martin", group="vip", home_mobile="+33612345678")
    b = fake.add_contact(book, name="Bob", surname="Durand", group="std", work_mobile="+33612345679")
    c = fake.add_contact(book, name="Cy", surname="Petit", group="vip", home_phone="+33140000000")
    with make_client(fake) as client:
        sn = fake.service_name
        assert sorted(p.name for p in api.list_phonebooks(client, sn)) == ["Clients", "Staff"]
        assert api.find_phonebook(client, sn, "Clients").book_key == book
        assert api.find_phonebook(client, sn, book).name == "Clients"
        with pytest.raises(ConfigError, match="no OVHcloud phonebook"):
            api.find_phonebook(client, sn, "Nope")
        contacts = api.list_contacts(client, sn, book)
        assert [x.id for x in contacts] == [a, b, c]
        assert [x.mobile for x in contacts] == ["+33612345678", "+33612345679", None]
        assert [x.id for x in api.list_contacts(client, sn, book, groups=["vip"])] == [a, c]
