"""``provider: twilio`` against the loopback Twilio fake (tests/support/fake_twilio.py).

Every request the provider makes is validated against Twilio's official OpenAPI spec by the fake;
each test ends with ``fake.violations == []``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from runner.campaign.model import Sender
from runner.errors import ConfigError, CredentialsError, InDoubtError, RetryableError
from runner.providers import create_provider
from runner.providers.base import Batch, Outcome, OutgoingMessage, Provider, RecipientResult
from runner.providers.twilio import (
    UNSUBSCRIBED_REASON,
    TwilioProvider,
    is_unsubscribed,
    twilio_signature,
    verify_twilio_signature,
)
from tests.providers.conformance import Peer, ProviderConformance
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support.openapi_check import SpecUnavailable, TwilioSpec

FROM = "+15005550006"
SERVICE = "MG" + "fedcba9876543210" * 2


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


def provider(fake: FakeTwilio, **settings: Any) -> TwilioProvider:
    settings.setdefault("from", FROM)
    return TwilioProvider({"base_url": fake.url, **settings})


def batch(
    recipients: list[str],
    text: str = "Hello from smsrun",
    *,
    sender: Sender = Sender("short-code"),
    not_before: datetime | None = None,
    batch_id: str = "c1.run.1",
) -> Batch:
    return Batch(
        campaign_id="c1",
        batch_id=batch_id,
        sender=sender,
        commercial=False,
        encoding="GSM-7",
        messages=[OutgoingMessage(r, text, f"c1:{r}") for r in recipients],
        not_before=not_before,
    )


def reconciled(twilio: TwilioProvider, the_batch: Batch, since: datetime) -> dict[str, RecipientResult]:
    found = twilio.reconcile(the_batch, since)
    assert found is not None, "the provider could not tell"
    return found


def number(i: int) -> str:
    return f"+1415555{i:04d}"


# -- sending ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
def test_a_campaign_of_three_hundred_recipients(fake: FakeTwilio) -> None:
    texts = {
        number(i): f"Hi #{i}, sale ends Sunday. STOP au 36180" if i % 3 else f"Été -{i}% 😀"
        for i in range(300)
    }
    results = []
    with provider(fake) as twilio:
        for seq, (recipient, text) in enumerate(texts.items()):  # the engine's batches of one
            results += twilio.send(batch([recipient], text, batch_id=f"c1.run.{seq}"))

    assert [r.outcome for r in results] == [Outcome.SENT] * 300
    sids = [r.provider_id for r in results]
    assert len(set(sids)) == 300
    # the fake's record is the truth: one message per recipient, exactly the text, with our SID
    assert len(fake.messages) == 300
    for result in results:
        assert result.provider_id is not None
        message = fake.messages[result.provider_id]
        assert message["to"] == result.recipient
        assert message["body"] == texts[result.recipient]
        assert message["from"] == FROM
    requests = fake.create_requests()
    assert len(requests) == 300
    assert all(r.status == 201 and r.authorized for r in requests)
    assert all(r.form["SmartEncoded"] == "false" and "StatusCallback" not in r.form for r in requests)
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_invalid_and_unsubscribed_numbers_are_rejected_per_recipient(fake: FakeTwilio) -> None:
    fake.invalid_numbers.add(number(2))
    fake.unsubscribed.add(number(4))
    with provider(fake) as twilio:
        results = {r.recipient: r for r in twilio.send(batch([number(i) for i in range(1, 6)]))}

    assert {r: res.outcome for r, res in results.items()} == {
        number(1): Outcome.SENT,
        number(2): Outcome.REJECTED,
        number(3): Outcome.SENT,
        number(4): Outcome.REJECTED,
        number(5): Outcome.SENT,
    }
    assert (results[number(2)].reason or "").startswith("invalid number (21211)")
    assert results[number(4)].reason == UNSUBSCRIBED_REASON == "unsubscribed (21610)"
    assert is_unsubscribed(results[number(4)]) and not is_unsubscribed(results[number(2)])
    assert len(fake.messages) == 3
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_other_client_errors(fake: FakeTwilio) -> None:
    fake.refuse(number(1), code=21408, message="Permission to send an SMS has not been enabled")
    fake.refuse(number(2), code=21212, message="Invalid From Number")
    fake.refuse(number(3), code=21611, message="This 'From' number has exceeded the maximum queue size")
    fake.refuse(number(4), code=20005, message="Account not active", status=403)
    with provider(fake) as twilio:
        [result] = twilio.send(batch([number(1)]))
        assert result.outcome is Outcome.REJECTED
        assert result.reason == (
            "Twilio refused it: HTTP 400, error 21408: Permission to send an SMS has not been enabled"
        )
        with pytest.raises(ConfigError, match="21212"):
            twilio.send(batch([number(2)]))
        with pytest.raises(RetryableError, match="queue") as queue_full:
            twilio.send(batch([number(3)]))
        assert queue_full.value.retry_after == 60.0
        with pytest.raises(CredentialsError, match="20005"):
            twilio.send(batch([number(4)]))
    assert fake.messages == {}
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_throttling_is_retryable_and_honours_retry_after(fake: FakeTwilio) -> None:
    fake.throttle_next(retry_after=7)
    with provider(fake) as twilio:
        with pytest.raises(RetryableError) as caught:
            twilio.send(batch([number(1)]))
        assert caught.value.retry_after == 7.0
        assert caught.value.query_id and caught.value.query_id.startswith("RQ")
        assert fake.messages == {}  # 20429: never processed
        [result] = twilio.send(batch([number(1)]))  # the same request again
    assert result.outcome is Outcome.SENT
    assert len(fake.sent_to(number(1))) == 1
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_throttling_in_the_middle_of_a_batch_keeps_what_was_accepted(fake: FakeTwilio) -> None:
    fake.throttle_next(after=1)
    with provider(fake) as twilio:
        results = twilio.send(batch([number(1), number(2), number(3)]))
    assert [(r.recipient, r.outcome) for r in results] == [
        (number(1), Outcome.SENT),
        (number(2), Outcome.RETRY),
        (number(3), Outcome.RETRY),
    ]
    assert [m["to"] for m in fake.messages.values()] == [number(1)]
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_wrong_credentials_stop_the_run(fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token-s3cr3t")
    with provider(fake) as twilio, pytest.raises(CredentialsError) as caught:
        twilio.send(batch([number(1), number(2)]))
    message = str(caught.value)
    assert "TWILIO_AUTH_TOKEN" in message and "20003" in message
    assert "s3cr3t" not in message and "s3cr3t" not in repr(twilio.__dict__)
    assert fake.messages == {}
    assert len(fake.create_requests()) == 1  # stopped at once
    assert [r.status for r in fake.requests] == [401]
    assert fake.violations == []


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
@pytest.mark.usefixtures("creds")
def test_missing_credentials_name_the_variable(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    with provider(fake) as twilio, pytest.raises(ConfigError, match=missing):
        twilio.send(batch([number(1)]))
    assert fake.requests == []


@pytest.mark.usefixtures("creds")
def test_malformed_account_sid_is_not_echoed(fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "ACnot-a-sid-s3cr3t")
    with provider(fake) as twilio, pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID") as caught:
        twilio.send(batch([number(1)]))
    assert "s3cr3t" not in str(caught.value)


# -- in doubt and reconciliation --------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
def test_dropped_connection_after_acceptance_is_in_doubt_and_reconcile_prevents_a_resend(
    fake: FakeTwilio,
) -> None:
    claimed = datetime.now(UTC)
    fake.drop_next()
    the_batch = batch([number(1), number(2)], batch_id="c1.run.7")
    with provider(fake) as twilio:
        with pytest.raises(InDoubtError, match="may have accepted"):
            twilio.send(the_batch)
        found = reconciled(twilio, the_batch, claimed)
        [created] = fake.sent_to(number(1))
        assert found == {number(1): found[number(1)]}
        assert found[number(1)].outcome is Outcome.SENT
        assert found[number(1)].provider_id == created["sid"]
        # the engine resends only what reconcile did not find
        resend = [m.recipient for m in the_batch.messages if m.recipient not in found]
        assert resend == [number(2)]
        twilio.send(batch(resend, batch_id="c1.run.8"))
    assert len(fake.sent_to(number(1))) == 1  # no duplicate
    assert len(fake.sent_to(number(2))) == 1
    # one listing of the sender's messages for the whole batch (issue 11), without DateSent: the queued
    # message has no date_sent yet
    lists = [dict(r.query) for r in fake.requests if r.method == "GET"]
    assert lists == [{"From": twilio.from_ or "", "PageSize": "1000"}]
    assert fake.messages[created["sid"]]["date_sent"] is None
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_drop_in_the_middle_of_a_batch(fake: FakeTwilio) -> None:
    fake.drop_next(after=1)
    with provider(fake) as twilio:
        results = twilio.send(batch([number(1), number(2), number(3)]))
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.IN_DOUBT, Outcome.RETRY]
    assert len(fake.messages) == 2
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_read_timeout_is_in_doubt(fake: FakeTwilio) -> None:
    fake.hang_next(seconds=5)
    since = datetime.now(UTC)
    with provider(fake, timeout=0.5) as twilio:
        with pytest.raises(InDoubtError, match="ReadTimeout"):
            twilio.send(batch([number(1)]))
        found = reconciled(twilio, batch([number(1)]), since)
    assert found[number(1)].outcome is Outcome.SENT
    assert fake.violations == []


@pytest.mark.parametrize("created", [True, False])
@pytest.mark.usefixtures("creds")
def test_server_error_is_in_doubt_and_reconcile_decides(fake: FakeTwilio, created: bool) -> None:
    since = datetime.now(UTC)
    fake.fail_next(status=500, create=created)
    with provider(fake) as twilio:
        with pytest.raises(InDoubtError, match="HTTP 500") as caught:
            twilio.send(batch([number(1)]))
        assert caught.value.query_id
        found = reconciled(twilio, batch([number(1)]), since)
    if created:
        assert found[number(1)].provider_id == fake.sent_to(number(1))[0]["sid"]
    else:
        assert found == {}  # not accepted: safe to send again
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_service_unavailable_is_in_doubt(fake: FakeTwilio) -> None:
    fake.fail_next(status=503)
    with provider(fake) as twilio, pytest.raises(InDoubtError, match="503"):
        twilio.send(batch([number(1)]))


@pytest.mark.usefixtures("creds")
def test_connection_refused_is_retryable(fake: FakeTwilio) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    twilio = TwilioProvider({"base_url": f"http://127.0.0.1:{port}", "from": FROM, "timeout": 2})
    with twilio, pytest.raises(RetryableError, match="nothing was sent"):
        twilio.send(batch([number(1)]))


@pytest.mark.usefixtures("creds")
def test_reconcile_pages_and_matches_body_sender_and_time(fake: FakeTwilio) -> None:
    text = "Your code expires tonight"
    since = datetime.now(UTC)
    old = since - timedelta(days=2)
    for i in range(5):  # older history of the same number
        fake.add_message(number(1), f"older message {i}", created=old)
    fake.add_message(number(1), text, created=old)  # same text, long before the claim
    fake.add_message(number(1), text, from_="+15005550009")  # same text, another sender
    for i in range(5):
        fake.add_message(number(1), f"newer message {i}")
    twilio = provider(fake)
    twilio.page_size = 2
    with twilio:
        [sent] = twilio.send(batch([number(1), number(2)], text))[:1]
        fake.add_message(number(1), f"even newer {text}")
        found = reconciled(twilio, batch([number(1), number(2), number(3)], text), since)
    assert set(found) == {number(1), number(2)}
    assert found[number(1)].provider_id == sent.provider_id
    pages = [r for r in fake.requests if r.method == "GET" and dict(r.query).get("From") == FROM]
    assert len(pages) > 3  # followed next_page_uri...
    assert len(pages) < 7  # ...and stopped at the first page older than the claim (not 7 pages of 2)
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_reconcile_cannot_tell_past_max_pages(fake: FakeTwilio) -> None:
    for i in range(5):
        fake.add_message(number(1), f"message {i}")
    twilio = provider(fake)
    twilio.page_size, twilio.max_pages = 2, 2
    with twilio:
        assert twilio.reconcile(batch([number(1)]), datetime.now(UTC)) is None
    assert fake.violations == []


def test_the_fakes_date_sent_filters_skip_queued_messages(fake: FakeTwilio) -> None:
    # why reconcile does not narrow its listing with DateSent: a queued message has no date_sent
    queued = fake.add_message(number(1), "still queued", status="queued")
    sent = fake.add_message(number(1), "already sent", status="sent")
    today = datetime.now(UTC).date().isoformat()
    url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    with httpx.Client(auth=(ACCOUNT_SID, AUTH_TOKEN)) as client:
        by_day = client.get(url, params={"To": number(1), "DateSent>": today}).json()
        everything = client.get(url, params={"To": number(1)}).json()
    assert [m["sid"] for m in by_day["messages"]] == [sent["sid"]]
    assert {m["sid"] for m in everything["messages"]} == {queued["sid"], sent["sid"]}
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_reconcile_reports_canceled_messages_as_rejected(fake: FakeTwilio) -> None:
    since = datetime.now(UTC)
    with provider(fake) as twilio:
        [result] = twilio.send(batch([number(1)]))
        assert result.provider_id
        fake.messages[result.provider_id]["status"] = "canceled"
        found = reconciled(twilio, batch([number(1)]), since)
    assert found[number(1)].outcome is Outcome.REJECTED
    assert found[number(1)].reason == "canceled at Twilio"


# -- scheduling, callbacks, validity ----------------------------------------------------------------


@pytest.mark.usefixtures("creds")
def test_scheduled_batch_uses_send_at_through_the_messaging_service(fake: FakeTwilio) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    claimed = datetime.now(UTC)
    with provider(fake, messaging_service_sid=SERVICE, **{"from": None}) as twilio:
        the_batch = batch([number(1)], not_before=when)
        [result] = twilio.send(the_batch)
        found = reconciled(twilio, the_batch, claimed)
    [request] = fake.create_requests()
    assert request.form["SendAt"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert request.form["ScheduleType"] == "fixed"
    assert request.form["MessagingServiceSid"] == SERVICE
    assert "From" not in request.form
    assert result.outcome is Outcome.SENT
    assert result.provider_id is not None
    assert fake.messages[result.provider_id]["status"] == "scheduled"
    assert found[number(1)].provider_id == result.provider_id  # found although it has no date_sent yet
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_scheduling_limits(fake: FakeTwilio) -> None:
    now = datetime.now(UTC)
    with provider(fake) as twilio, pytest.raises(ConfigError, match="messaging_service_sid"):
        twilio.send(batch([number(1)], not_before=now + timedelta(hours=1)))
    with provider(fake, messaging_service_sid=SERVICE) as twilio:
        with pytest.raises(ConfigError, match="35 days"):
            twilio.send(batch([number(1)], not_before=now + timedelta(days=40)))
        with pytest.raises(RetryableError, match="less than 5 minutes") as soon:
            twilio.send(batch([number(1)], not_before=now + timedelta(minutes=2)))
        assert soon.value.retry_after is not None and 100 < soon.value.retry_after <= 120
        [result] = twilio.send(batch([number(1)], not_before=now - timedelta(minutes=1)))  # past: now
    assert result.outcome is Outcome.SENT
    [request] = fake.create_requests()
    assert "SendAt" not in request.form and request.form["From"] == FROM
    assert request.form["MessagingServiceSid"] == SERVICE
    assert fake.violations == []


@pytest.mark.usefixtures("creds")
def test_status_callback_and_validity_period_are_sent_when_configured(fake: FakeTwilio) -> None:
    with provider(
        fake, status_callback="https://hooks.example.org/twilio?k=1", validity_period=3600
    ) as twilio:
        twilio.send(batch([number(1)]))
    with provider(fake) as twilio:
        twilio.send(batch([number(2)]))
    first, second = fake.create_requests()
    assert (
        first.form["StatusCallback"] == "https://hooks.example.org/twilio?k=1&smsrun_id=c1%3A%2B14155550001"
    )
    assert first.form["ValidityPeriod"] == "3600"
    assert "StatusCallback" not in second.form and "ValidityPeriod" not in second.form
    assert fake.violations == []


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], str]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        url = f"http://{self.headers['Host']}{self.path}"
        self.received.append((url, dict(parse_qsl(body)), self.headers.get("X-Twilio-Signature", "")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], str]]]]:
    received: list[tuple[str, dict[str, str], str]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/twilio", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.usefixtures("creds")
def test_signed_status_callbacks_reach_the_receiver(
    fake: FakeTwilio, receiver: tuple[str, list[tuple[str, dict[str, str], str]]]
) -> None:
    url, received = receiver
    with provider(fake, status_callback=url) as twilio:
        [result] = twilio.send(batch([number(1)]))
    assert result.provider_id
    callback = fake.deliver(result.provider_id, "delivered")
    assert callback is not None and callback.status_code == 204
    [(called, params, signature)] = received
    assert urlsplit(called).path == "/hooks/twilio"
    assert parse_qs(urlsplit(called).query) == {"smsrun_id": [f"c1:{number(1)}"]}
    assert params["MessageSid"] == result.provider_id
    assert params["MessageStatus"] == "delivered"
    assert params["To"] == number(1) and params["From"] == FROM
    assert verify_twilio_signature(AUTH_TOKEN, called, params, signature)
    assert not verify_twilio_signature("another-token", called, params, signature)
    assert not verify_twilio_signature(AUTH_TOKEN, called, {**params, "MessageStatus": "failed"}, signature)


def test_signature_matches_twilios_documented_examples() -> None:
    # Twilio's signature-validation snippets (TwilioDevEd/api-snippets, security/signature_validation)
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    params.update(Caller="+14158675310", From="+14158675310")
    assert twilio_signature("12345", url, params) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert twilio_signature("12345", url, list(params.items())[::-1]) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    # a proxy that adds or strips the default port does not break verification
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_twilio_signature("12345", with_port, params, "GvWf1cFY/Q7PnoempGyD5oXAezc=")
    assert verify_twilio_signature("12345", url, params, twilio_signature("12345", with_port, params))


# -- delivery reports -------------------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
def test_delivery_reports_fetch_each_status(fake: FakeTwilio) -> None:
    with provider(fake) as twilio:
        results = twilio.send(batch([number(i) for i in range(1, 6)]))
        sids = [r.provider_id for r in results if r.provider_id]
        fake.deliver(sids[0], "delivered")
        fake.deliver(sids[1], "undelivered", error_code=30003)
        fake.deliver(sids[2], "failed", error_code=30007)
        fake.deliver(sids[3], "sent")
        unknown = "SM" + "0" * 32
        reports = {r.provider_id: r for r in twilio.delivery_reports([*sids, unknown, "not-a-sid"])}
    assert set(reports) == set(sids)
    assert [reports[s].status for s in sids] == ["delivered", "failed", "failed", "pending", "pending"]
    assert reports[sids[1]].reason == "undelivered (30003): fake error 30003"
    assert reports[sids[2]].reason == "failed (30007): fake error 30007"
    assert reports[sids[0]].reason is None and reports[sids[0]].at is not None
    assert fake.violations == []


# -- settings ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
def test_the_campaigns_sender_wins_unless_it_is_the_short_code(fake: FakeTwilio) -> None:
    with provider(fake) as twilio:
        twilio.send(batch([number(1)], sender=Sender("alphanumeric", "ACME")))
        twilio.send(batch([number(2)], sender=Sender("number", "+15005550001")))
        twilio.send(batch([number(3)], sender=Sender("short-code")))
    assert [r.form["From"] for r in fake.create_requests()] == ["ACME", "+15005550001", FROM]
    assert fake.violations == []
    with provider(fake, **{"from": None}) as twilio:
        assert any("short code" in w for w in twilio.preflight(sender=Sender("short-code"), total_parts=1))
        assert twilio.preflight(sender=Sender("alphanumeric", "ACME"), total_parts=1) == []
        with pytest.raises(ConfigError, match=r"settings\.from or settings\.messaging_service_sid"):
            twilio.send(batch([number(4)]))


def test_preflight_warns_about_missing_credentials() -> None:
    twilio = TwilioProvider({"from": FROM})
    warnings = twilio.preflight(sender=Sender("short-code"), total_parts=10)
    assert any("TWILIO_ACCOUNT_SID" in w for w in warnings)
    assert any("TWILIO_AUTH_TOKEN" in w for w in warnings)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"form": FROM}, "unknown setting"),
        ({"messaging_service_sid": "MG123"}, "messaging_service_sid"),
        ({"validity_period": 0}, "validity_period"),
        ({"validity_period": 36001}, "validity_period"),
        ({"status_callback": "https://my_host.example.org/cb"}, "underscores"),
        ({"status_callback": "ftp://example.org/cb"}, "status_callback"),
        ({"from": "not a sender!"}, "settings.from"),
        ({"base_url": "api.twilio.com"}, "base_url"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_invalid_settings(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TwilioProvider(settings)


def test_registry_and_capabilities(tmp_path: Any) -> None:
    twilio = create_provider("twilio", {"from": FROM}, state_dir=tmp_path)
    assert isinstance(twilio, TwilioProvider)
    caps = twilio.capabilities
    assert caps.max_recipients_per_request == 1
    assert caps.one_text_many_recipients is False
    assert caps.stop_mention is None
    assert caps.can_reconcile is True


# -- the fake itself --------------------------------------------------------------------------------


def test_the_fake_catches_requests_that_break_the_spec(fake: FakeTwilio) -> None:
    url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    with httpx.Client(auth=auth) as client:
        assert client.post(url, data={"From": FROM, "Body": "x"}).json()["code"] == 21604
        client.post(url, data={"To": number(1), "From": FROM, "Body": "x", "ScheduleType": "later"})
        client.post(url, data={"To": number(1), "Body": "x"})  # neither From nor MessagingServiceSid
        client.post(url, data={"To": number(1), "From": FROM, "Body": "x", "ValidityPeriod": "soon"})
        client.post(url, data={"To": number(1), "From": FROM, "Body": "x", "Tag": "campaign-1"})
        client.post(url, json={"To": number(1), "From": FROM, "Body": "x"})
        assert client.post(url, data={"To": "0612345678", "From": FROM, "Body": "x"}).json()["code"] == 21211
        client.get(url, params={"To": number(1), "PageSize": "5000"})
        unauthorized = httpx.post(
            url, data={"To": number(1), "From": FROM, "Body": "x"}, auth=("AC" + "1" * 32, "x")
        )
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {
        "code": 20003,
        "message": "Authentication Error - invalid username",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    text = "\n".join(fake.violations)
    for expected in (
        "'To' is a required property",
        "'later' is not one of",
        "From, MessagingServiceSid",
        "ValidityPeriod",
        "'Tag' is not defined",
        "application/json",
        "0612345678",
        "PageSize",
    ):
        assert expected in text, expected
    assert fake.messages == {}


# -- the conformance suite (tests/providers/conformance.py) over the loopback Twilio fake ---------------------
class TwilioPeer(Peer):
    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake

    def provider(self, state_dir: Path, **settings: Any) -> Provider:
        return TwilioProvider({"base_url": self.fake.url, "from": FROM, **settings}, state_dir=state_dir)

    def received(self) -> list[tuple[str, str]]:
        return [(m["to"], m["body"]) for m in list(self.fake.messages.values())]

    def fail_next(self, kind: str, *, after: int = 0) -> None:
        if kind == "retryable":
            self.fake.throttle_next(after=after, retry_after=0)
        else:
            self.fake.drop_next(after=after)

    def refuse(self, recipient: str) -> None:
        self.fake.invalid_numbers.add(recipient)

    def opt_out(self, recipient: str) -> None:
        self.fake.unsubscribed.add(recipient)

    def deliver(self, provider_ids: Sequence[str]) -> None:
        for sid in provider_ids:
            self.fake.deliver(sid)


class TestTwilioConformance(ProviderConformance):
    @pytest.fixture
    def peer(self, spec: TwilioSpec, monkeypatch: pytest.MonkeyPatch) -> Iterator[Peer]:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        with FakeTwilio(spec=spec) as server:
            yield TwilioPeer(server)
        assert server.errors == [] and server.violations == []
