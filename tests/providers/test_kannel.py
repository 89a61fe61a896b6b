"""KannelProvider: unit tests against httpx mock transports and loopback sockets, and tests against a
real Kannel (bearerbox + smsbox + fakesmsc, marked ``kannel``) where fakesmsc's output is the truth about
what was sent."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.campaign.model import Sender
from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    PermanentError,
    RetryableError,
)
from runner.providers import provider_class
from runner.providers.base import Batch, Outcome, OutgoingMessage, Provider, RecipientResult
from runner.providers.kannel import (
    NOT_E164,
    KannelProvider,
    parse_dlr,
)
from tests.providers.conformance import Peer, ProviderConformance
from tests.support.fake_kannel import FakeKannel
from tests.support.kannel import (  # noqa: F401 - fixtures register by import
    MO_PATH,
    KannelGateway,
    RecordingHttpServer,
    inject_mo,
    kannel_env,
    kannel_fixture,
    kannel_listener_fixture,
    reassemble,
    skip_if_kannel_missing,
)
from tests.support.smsc_sim import SmscSimulator, kannel_smpp_fixture  # noqa: F401

URL = "http://127.0.0.1:13013/cgi-bin/sendsms"
PASSWORD = "s3cret-pw"


def number(i: int) -> str:
    return f"+33612{i:06d}"


def batch(
    texts: Sequence[str] | str,
    recipients: Sequence[str],
    *,
    sender: Sender | None = None,
    encoding: str = "GSM-7",
    batch_id: str = "b1",
    campaign_id: str = "camp",
) -> Batch:
    if isinstance(texts, str):
        texts = [texts] * len(recipients)
    messages = [OutgoingMessage(r, t, f"{campaign_id}:{r}") for r, t in zip(recipients, texts, strict=True)]
    return Batch(campaign_id, batch_id, sender or Sender("short-code"), False, encoding, messages)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANNEL_USERNAME", "smsrun")
    monkeypatch.setenv("KANNEL_PASSWORD", PASSWORD)


class Recorder:
    """An httpx mock transport answering with a scripted list of responses (or exceptions)."""

    def __init__(self, *answers: tuple[int, str] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, text=body, headers={"Content-type": "text/html"})

    def provider(self, **settings: object) -> KannelProvider:
        return KannelProvider({"url": URL, **settings}, transport=httpx.MockTransport(self))


def outcomes(results: Sequence[RecipientResult]) -> dict[str, Outcome]:
    return {r.recipient: r.outcome for r in results}


# --------------------------------------------------------------------------------------------------
# settings


def test_registry_finds_kannel() -> None:
    assert provider_class("kannel") is KannelProvider


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({}, "settings.url is required"),
        ({"url": "ftp://x/cgi-bin/sendsms"}, "http(s) URL"),
        ({"url": "http://u:p@127.0.0.1:13013/cgi-bin/sendsms"}, "must not carry credentials"),
        ({"url": URL, "max_recipients_per_request": 0}, "max_recipients_per_request"),
        ({"url": URL, "dlr_mask": 64}, "dlr_mask"),
        ({"url": URL, "timeout": -1}, "timeout"),
        ({"url": URL, "dlr_url": "http://127.0.0.1:1/dlr?id={msg}"}, "unknown placeholder"),
        ({"url": URL, "dlr_url": "http://127.0.0.1:1/dlr?b={batch_id}"}, "must contain {message_id}"),
        ({"url": URL, "dlr_url": "/relative"}, "http(s) URL"),
        ({"url": URL, "short_code": "1é"}, "printable ASCII"),
    ],
)
def test_bad_settings_are_config_errors(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        KannelProvider(settings)


def test_capabilities() -> None:
    caps = KannelProvider({"url": URL}).capabilities
    assert caps.max_recipients_per_request == 100
    assert caps.one_text_many_recipients is True
    assert caps.stop_mention is None
    assert caps.can_reconcile is False
    assert KannelProvider({"url": URL, "max_recipients_per_request": 7}).capabilities.max_recipients_per_request == 7


def test_message_id_only_template_sends_one_message_per_request() -> None:
    p = KannelProvider({"url": URL, "dlr_url": "http://127.0.0.1:8080/kannel/dlr?id=<message_id>&status=%d"})
    assert p.capabilities.max_recipients_per_request == 1
    assert p.capabilities.one_text_many_recipients is False


@pytest.mark.parametrize("var", ["KANNEL_USERNAME", "KANNEL_PASSWORD"])
def test_missing_environment_variable_is_named(var: str, creds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(var)
    rec = Recorder((202, "0: Accepted for delivery"))
    with pytest.raises(ConfigError, match=var):
        rec.provider().send(batch("hi", [number(1)]))
    assert rec.requests == []
    assert any(var in w for w in rec.provider().preflight(sender=Sender("short-code"), total_parts=1))


# --------------------------------------------------------------------------------------------------
# requests


def test_request_shape_and_no_secret_in_url(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"))
    p = rec.provider(short_code="36180", dlr_url="http://127.0.0.1:8080/kannel/dlr", smsc="smpp1")
    results = p.send(batch("Bonjour ç", [number(1), number(2)], encoding="UCS-2", batch_id="B 7/x"))
    assert outcomes(results) == {number(1): Outcome.SENT, number(2): Outcome.SENT}
    (req,) = rec.requests
    assert req.method == "POST"
    assert PASSWORD not in str(req.url)
    assert req.headers["content-type"] == "text/plain; charset=UTF-8"
    assert req.content == "Bonjour ç".encode()
    assert req.headers["x-kannel-password"] == PASSWORD
    assert req.headers["x-kannel-username"] == "smsrun"
    assert req.headers["x-kannel-to"] == f"{number(1)} {number(2)}"
    assert req.headers["x-kannel-from"] == "36180"
    assert req.headers["x-kannel-coding"] == "2"
    assert req.headers["x-kannel-smsc"] == "smpp1"
    assert req.headers["x-kannel-dlr-mask"] == "31"
    # shared request: no message id; batch id (URL-encoded, % doubled for Kannel) + Kannel's %p
    assert req.headers["x-kannel-dlr-url"] == (
        "http://127.0.0.1:8080/kannel/dlr?id=&batch=B%%207%%2Fx&to=%p&status=%d&answer=%A&ts=%T"
    )


def test_single_recipient_dlr_url_carries_the_message_id(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"))
    p = rec.provider(dlr_url="http://127.0.0.1:8080/dlr?x=1", dlr_mask=3)
    p.send(batch("hi", [number(1)], sender=Sender("alphanumeric", "ACME Shop")))
    req = rec.requests[0]
    assert req.headers["x-kannel-from"] == "ACME Shop"
    assert req.headers["x-kannel-coding"] == "0"
    assert req.headers["x-kannel-dlr-mask"] == "3"
    assert req.headers["x-kannel-dlr-url"] == (
        "http://127.0.0.1:8080/dlr?x=1&id=camp%%3A%%2B33612000001&batch=b1&to=%%2B33612000001&status=%d&answer=%A&ts=%T"
    )


def test_short_code_without_setting_lets_kannel_choose(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"))
    rec.provider().send(batch("hi", [number(1)]))
    assert "x-kannel-from" not in rec.requests[0].headers
    assert "x-kannel-dlr-url" not in rec.requests[0].headers
    rec.provider(**{"from": "555"}).send(batch("hi", [number(1)], sender=Sender("number", "+33600000000")))
    assert rec.requests[1].headers["x-kannel-from"] == "+33600000000"


def test_same_text_shares_requests_up_to_the_limit(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"))
    recipients = [number(i) for i in range(7)]
    texts = ["A", "B", "A", "A", "B", "A", "A"]
    results = rec.provider(max_recipients_per_request=2).send(batch(texts, recipients))
    assert sorted(r.recipient for r in results) == recipients
    sent = [(r.content.decode(), r.headers["x-kannel-to"].split()) for r in rec.requests]
    assert sent == [
        ("A", [number(0), number(2)]),
        ("A", [number(3), number(5)]),
        ("A", [number(6)]),
        ("B", [number(1), number(4)]),
    ]


def test_non_e164_recipients_are_rejected_and_never_sent(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"))
    bad = ["0612345678", "+0612345678", "33612345678", "+33 6 12 34 56 78", "+336abc", "+12345"]
    results = rec.provider().send(batch("hi", [*bad, number(1)]))
    for r in results:
        if r.recipient in bad:
            assert (r.outcome, r.reason) == (Outcome.REJECTED, NOT_E164)
    assert outcomes(results)[number(1)] is Outcome.SENT
    assert [r.headers["x-kannel-to"] for r in rec.requests] == [number(1)]
    only_bad = Recorder((202, "0: Accepted for delivery"))
    assert {r.outcome for r in only_bad.provider().send(batch("hi", bad))} == {Outcome.REJECTED}
    assert only_bad.requests == []


# --------------------------------------------------------------------------------------------------
# answers


def test_queued_for_later_is_sent(creds: None) -> None:
    (r,) = Recorder((202, "3: Queued for later delivery")).provider().send(batch("hi", [number(1)]))
    assert r.outcome is Outcome.SENT
    assert r.reason == "3: Queued for later delivery"


@pytest.mark.parametrize(
    "answer, error, fragment",
    [
        ((403, "Authorization failed for sendsms"), CredentialsError, "refused the credentials"),
        ((400, "Number(s) has/have been denied by white- and/or black-lists."), PermanentError, "denied"),
        ((400, "Coding field misformed, rejected"), PermanentError, "Coding field misformed"),
        ((503, "Temporal failure, try again later."), RetryableError, "temporarily unavailable"),
        ((404, "Unknown request."), ConfigError, "not a sendsms URL"),
        ((500, "boom"), InDoubtError, "may have been accepted"),
        (httpx.ConnectError("[Errno 111] Connection refused"), RetryableError, "not reachable"),
        (httpx.ReadTimeout("timed out"), InDoubtError, "may have been accepted"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            InDoubtError,
            "in doubt",
        ),
    ],
)
def test_whole_request_failures_are_classified(
    creds: None, answer: tuple[int, str] | Exception, error: type[Exception], fragment: str
) -> None:
    p = Recorder(answer).provider()
    with pytest.raises(error) as info:
        p.send(batch("hi", [number(1), number(2)]))
    text = str(info.value)
    assert fragment in text or fragment in text.replace("no answer", "in doubt")
    assert PASSWORD not in text


def test_retry_after_is_read(creds: None) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="Temporal failure", headers={"Retry-After": "7"})

    p = KannelProvider({"url": URL}, transport=httpx.MockTransport(answer))
    with pytest.raises(RetryableError) as info:
        p.send(batch("hi", [number(1)]))
    assert info.value.retry_after == 7.0


def test_failure_after_an_accepted_request_is_reported_per_recipient(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"), (503, "Temporal failure"), (202, "0: Accepted"))
    results = rec.provider(max_recipients_per_request=2).send(batch("hi", [number(i) for i in range(6)]))
    assert outcomes(results) == {
        number(0): Outcome.SENT,
        number(1): Outcome.SENT,
        number(2): Outcome.RETRY,
        number(3): Outcome.RETRY,
        number(4): Outcome.RETRY,
        number(5): Outcome.RETRY,
    }
    assert len(rec.requests) == 2  # nothing sent after the failure


def test_in_doubt_request_among_several_marks_only_its_recipients(creds: None) -> None:
    rec = Recorder((202, "0: Accepted for delivery"), httpx.ReadTimeout("timed out"), (202, "0: Accepted"))
    results = rec.provider(max_recipients_per_request=2).send(batch("hi", [number(i) for i in range(6)]))
    assert outcomes(results) == {
        number(0): Outcome.SENT,
        number(1): Outcome.SENT,
        number(2): Outcome.IN_DOUBT,
        number(3): Outcome.IN_DOUBT,
        number(4): Outcome.RETRY,
        number(5): Outcome.RETRY,
    }
    first = Recorder(httpx.ReadTimeout("timed out"))
    results = first.provider(max_recipients_per_request=2).send(batch("hi", [number(i) for i in range(4)]))
    assert outcomes(results) == {
        number(0): Outcome.IN_DOUBT,
        number(1): Outcome.IN_DOUBT,
        number(2): Outcome.RETRY,
        number(3): Outcome.RETRY,
    }


def test_rejected_request_among_several_does_not_stop_the_others(creds: None) -> None:
    rec = Recorder(
        (400, "Number(s) has/have been denied by white- and/or black-lists."),
        (202, "0: Accepted for delivery"),
    )
    results = rec.provider(max_recipients_per_request=1).send(batch("hi", [number(1), number(2)]))
    by = {r.recipient: r for r in results}
    assert by[number(1)].outcome is Outcome.REJECTED
    assert "black-lists" in (by[number(1)].reason or "")
    assert by[number(2)].outcome is Outcome.SENT


def test_credentials_refused_first_stops_the_run(creds: None) -> None:
    rec = Recorder((403, "Authorization failed for sendsms"))
    with pytest.raises(CredentialsError):
        rec.provider(max_recipients_per_request=1).send(batch("hi", [number(1), number(2)]))
    assert len(rec.requests) == 1


# --------------------------------------------------------------------------------------------------
# real sockets: refused connection, no answer, dropped connection


def _serve_once(behaviour: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def run() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            behaviour(conn)
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def test_connection_refused_is_retryable(creds: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    p = KannelProvider({"url": f"http://127.0.0.1:{port}/cgi-bin/sendsms", "timeout": 2})
    with pytest.raises(RetryableError, match="not reachable"):
        p.send(batch("hi", [number(1)]))


def test_no_answer_in_time_is_in_doubt(creds: None) -> None:
    release = threading.Event()

    def hang(conn: socket.socket) -> None:
        release.wait(5)

    port, thread = _serve_once(hang)
    p = KannelProvider({"url": f"http://127.0.0.1:{port}/cgi-bin/sendsms", "timeout": 0.3})
    with pytest.raises(InDoubtError, match="may have been accepted"):
        p.send(batch("hi", [number(1)]))
    release.set()
    thread.join(5)
    p.close()


def test_connection_dropped_after_sending_is_in_doubt(creds: None) -> None:
    port, thread = _serve_once(lambda conn: None)  # read the request, close without answering
    p = KannelProvider({"url": f"http://127.0.0.1:{port}/cgi-bin/sendsms", "timeout": 5})
    with pytest.raises(InDoubtError):
        p.send(batch("hi", [number(1)]))
    thread.join(5)
    p.close()


# --------------------------------------------------------------------------------------------------
# parse_dlr


def test_parse_dlr_shared_and_single() -> None:
    shared = parse_dlr({"id": "", "batch": "b1", "to": "+33612000001", "status": "1", "answer": "", "ts": "17"})
    assert (shared.message_id, shared.batch_id, shared.recipient) == (None, "b1", "+33612000001")
    assert (shared.status, shared.kannel_type, shared.timestamp) == ("delivered", 1, 17)
    single = parse_dlr(
        {
            "id": "camp:+33612000001",
            "batch": "b1",
            "to": "33612000001",
            "status": "16",
            "answer": "NACK/0x0000000b/Invalid Destination Address",
        }
    )
    assert single.message_id == "camp:+33612000001"
    assert single.recipient == "+33612000001"
    assert single.status == "failed"
    assert "Invalid Destination Address" in (single.reason or "")
    assert parse_dlr({"id": "x", "status": "8"}).status == "pending"
    with pytest.raises(ValueError):
        parse_dlr({"batch": "b1", "status": "1"})
    with pytest.raises(ValueError):
        parse_dlr({"id": "x", "status": "%d"})


def test_missing_kannel_gives_a_clear_skip_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tests.support.kannel as harness

    monkeypatch.setattr(harness, "BEARERBOX", tmp_path / "bearerbox")
    reason = harness.kannel_missing()
    assert reason is not None
    assert "bearerbox" in reason and ".ci/install-kannel.sh" in reason
    with pytest.raises(pytest.skip.Exception, match="Kannel is not installed"):
        harness.skip_if_kannel_missing()


# --------------------------------------------------------------------------------------------------
# against a real Kannel (fakesmsc's output is the truth)

kannel_test = pytest.mark.kannel


@pytest.fixture
def kannel_creds(kannel: KannelGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in kannel_env(kannel).items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def provider(kannel: KannelGateway, kannel_creds: None) -> Iterator[KannelProvider]:
    p = KannelProvider({"url": kannel.sendsms_url, "short_code": "36180"})
    yield p
    p.close()


@kannel_test
def test_campaign_of_thousands_reaches_every_recipient_exactly_once(
    kannel: KannelGateway, provider: KannelProvider
) -> None:
    recipients = [number(i) for i in range(3000)]
    # mostly one shared text, every 7th recipient a personalised one
    texts = [f"Hi #{i}, sale -20% today" if i % 7 == 0 else "Sale -20% today at ACME, see you!" for i in range(3000)]
    since = kannel.mark()
    results: list[RecipientResult] = []
    for start in range(0, 3000, 500):
        results += provider.send(
            batch(texts[start : start + 500], recipients[start : start + 500], batch_id=f"big-{start}")
        )
    assert len(results) == 3000
    assert {r.outcome for r in results} == {Outcome.SENT}
    got = kannel.wait_for_messages(3000, since=since, timeout=30)
    assert len(got) == 3000, "fakesmsc received extra messages"
    counts = Counter(m.receiver for m in got)
    assert set(counts) == set(recipients)
    assert max(counts.values()) == 1
    expected = dict(zip(recipients, texts, strict=True))
    assert all(m.kind == "text" and m.text == expected[m.receiver] and m.sender == "36180" for m in got)


@kannel_test
def test_gsm7_text_arrives_as_written(kannel: KannelGateway, provider: KannelProvider) -> None:
    text = "Hello ö é à € [x] {y} ~ | ^ \\ @ $ _ £ Ç"
    since = kannel.mark()
    provider.send(batch(text, [number(1), number(2)]))
    got = kannel.wait_for_messages(2, since=since)
    assert [(m.kind, m.text) for m in got] == [("text", text), ("text", text)]


@kannel_test
def test_ucs2_text_arrives_as_written(kannel: KannelGateway, provider: KannelProvider) -> None:
    text = "Merci ç 😀 — à bientôt ✓"
    since = kannel.mark()
    (r,) = provider.send(batch(text, [number(1)], encoding="UCS-2"))
    assert r.outcome is Outcome.SENT
    (m,) = kannel.wait_for_messages(1, since=since)
    assert m.kind == "ucs-2"
    assert m.text == text


@kannel_test
def test_alphanumeric_sender(kannel: KannelGateway, provider: KannelProvider) -> None:
    since = kannel.mark()
    provider.send(batch("hi", [number(1)], sender=Sender("alphanumeric", "ACME Shop")))
    (m,) = kannel.wait_for_messages(1, since=since)
    assert (m.sender, m.receiver, m.text) == ("ACME Shop", number(1), "hi")


@kannel_test
def test_long_texts_are_concatenated(kannel: KannelGateway, provider: KannelProvider) -> None:
    gsm = ("Dear customer, our spring sale starts tomorrow at 9:00 in every ACME store. " * 5).strip()
    assert 2 * 153 < len(gsm) <= 3 * 153  # 3 parts of at most 153 septets
    since = kannel.mark()
    provider.send(batch(gsm, [number(1), number(2)]))
    parts = kannel.wait_for_messages(6, since=since)
    assert len(parts) == 6
    assert reassemble(parts) == [("36180", number(1), gsm, 3), ("36180", number(2), gsm, 3)]

    ucs2 = "Soldes d'été ☀️ dès demain, ça commence ! " * 4  # 2 × 67-unit parts + a rest
    since = kannel.mark()
    provider.send(batch(ucs2, [number(3)], encoding="UCS-2"))
    parts = kannel.wait_for_messages(3, since=since)
    assert len(parts) == 3
    assert reassemble(parts, ucs2=True) == [("36180", number(3), ucs2, 3)]


@kannel_test
def test_wrong_password_is_a_credentials_error(
    kannel: KannelGateway, kannel_creds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANNEL_PASSWORD", "wrong-password")
    since = kannel.mark()
    with KannelProvider({"url": kannel.sendsms_url}) as p, pytest.raises(CredentialsError) as info:
        p.send(batch("hi", [number(1)]))
    assert "Authorization failed" in str(info.value)
    assert "wrong-password" not in str(info.value)
    time.sleep(0.3)
    assert kannel.messages(since) == []


@kannel_test
def test_black_listed_number_is_rejected_with_kannels_reason(kannel: KannelGateway, provider: KannelProvider) -> None:
    with pytest.raises(PermanentError, match="denied by white- and/or black-lists"):
        provider.send(batch("hi", ["+9991234567"]))


@kannel_test
def test_wrong_path_is_a_config_error(kannel: KannelGateway, kannel_creds: None) -> None:
    with (
        KannelProvider({"url": kannel.sendsms_url.replace("sendsms", "nope")}) as p,
        pytest.raises(ConfigError, match="not a sendsms URL"),
    ):
        p.send(batch("hi", [number(1)]))


@kannel_test
def test_delivery_reports_reach_the_listener_with_the_message_id(
    kannel: KannelGateway, kannel_listener: RecordingHttpServer, kannel_creds: None
) -> None:
    since = kannel_listener.mark()
    with KannelProvider({"url": kannel.sendsms_url, "dlr_url": kannel_listener.url("/dlr")}) as p:
        shared = p.send(batch("hi", [number(1), number(2), number(3)], batch_id="dlr-shared"))
        single = p.send(batch("hello", [number(4)], batch_id="dlr-single", campaign_id="spring/2026 ç%"))
    assert {r.outcome for r in shared + single} == {Outcome.SENT}
    # fake SMSC: type 8 (SMSC submit) then 1 (delivered) for each message (order not guaranteed)
    hits = kannel_listener.wait_for(lambda h: h.path == "/dlr", count=8, since=since)
    reports = [parse_dlr(h.query) for h in hits]
    delivered = {(d.message_id, d.batch_id, d.recipient) for d in reports if d.status == "delivered"}
    assert delivered == {
        (None, "dlr-shared", number(1)),
        (None, "dlr-shared", number(2)),
        (None, "dlr-shared", number(3)),
        (f"spring/2026 ç%:{number(4)}", "dlr-single", number(4)),
    }
    assert Counter(d.kannel_type for d in reports) == {1: 4, 8: 4}


@kannel_test
def test_template_dlr_url_carries_awkward_message_ids(
    kannel: KannelGateway, kannel_listener: RecordingHttpServer, kannel_creds: None
) -> None:
    template = kannel_listener.url("/kannel/dlr") + "?id=<message_id>&status=%d&answer=%A"
    since = kannel_listener.mark()
    with KannelProvider({"url": kannel.sendsms_url, "dlr_url": template, "dlr_mask": 1}) as p:
        assert p.capabilities.max_recipients_per_request == 1
        b = batch("hi", [number(1), number(2)], campaign_id="c%d %A+&=é")
        assert {r.outcome for r in p.send(b)} == {Outcome.SENT}
    hits = kannel_listener.wait_for(lambda h: h.path == "/kannel/dlr", count=2, since=since)
    assert {h.query["id"] for h in hits} == {m.message_id for m in b.messages}
    assert {h.query["status"] for h in hits} == {"1"}


@kannel_test
def test_stop_reply_reaches_the_mo_listener(kannel: KannelGateway, kannel_listener: RecordingHttpServer) -> None:
    hit = inject_mo(kannel, kannel_listener, number(42), "STOP")
    assert hit.path == MO_PATH
    assert hit.query["from"] == number(42)
    assert hit.query["to"] == kannel.default_sender
    assert hit.query["text"] == "STOP"
    assert hit.query["smsc"] == "fake"
    # a later test can relay the MOs to its own server (e.g. smsrun receive)
    other = RecordingHttpServer()
    try:
        kannel_listener.relay(MO_PATH, other.url("/kannel/mo"))
        inject_mo(kannel, kannel_listener, number(43), "Stop svp")
        (relayed,) = other.wait_for(lambda h: True)
        assert relayed.path == "/kannel/mo"
        assert (relayed.query["from"], relayed.query["text"]) == (number(43), "Stop svp")
    finally:
        kannel_listener.unrelay(MO_PATH)
        other.close()


@kannel_test
def test_gateway_can_run_per_test_with_its_own_mo_url(tmp_path: Path) -> None:
    """A test may start a private Kannel (e.g. with smsrun receive's URL as MO target)."""
    skip_if_kannel_missing()
    listener = RecordingHttpServer()
    try:
        with KannelGateway(tmp_path / "k", mo_url=listener.url("/in")) as gw:
            gw.inject_mo(number(5), "36180", "STOP")
            (hit,) = listener.wait_for(lambda h: h.path == "/in")
            assert hit.query["text"] == "STOP"
            assert hit.query["to"] == "36180"
    finally:
        listener.close()


@kannel_test
def test_failure_delivery_reports_through_smpp(
    kannel_smpp: tuple[KannelGateway, SmscSimulator],
    kannel_listener: RecordingHttpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kannel's SMPP client against the smpp34 simulator: delivered (1), undelivered (2), SMSC reject
    (16), all in one shared request that Kannel still answers with 202."""
    gateway, sim = kannel_smpp
    for key, value in kannel_env(gateway).items():
        monkeypatch.setenv(key, value)
    ok, undeliverable, invalid = "+31600000001", "+8881234567", "+9991234567"
    since = kannel_listener.mark()
    with KannelProvider(
        {"url": gateway.sendsms_url, "dlr_url": kannel_listener.url("/smpp-dlr"), "short_code": "36180"}
    ) as p:
        results = p.send(batch("Bonjour ç", [ok, undeliverable, invalid], encoding="UCS-2", batch_id="smpp"))
    assert {r.outcome for r in results} == {Outcome.SENT}
    final = {1, 2, 16}
    hits = kannel_listener.wait_for(
        lambda h: h.path == "/smpp-dlr" and int(h.query["status"]) in final, count=3, since=since
    )
    reports = {d.recipient: d for d in (parse_dlr(h.query) for h in hits)}
    assert {k: (d.batch_id, d.kannel_type, d.status) for k, d in reports.items()} == {
        ok: ("smpp", 1, "delivered"),
        undeliverable: ("smpp", 2, "failed"),
        invalid: ("smpp", 16, "failed"),
    }
    assert "stat:UNDELIV" in (reports[undeliverable].reason or "")
    assert "Invalid Destination Address" in (reports[invalid].reason or "")
    submitted = {s.destination: s for s in sim.submits}
    assert submitted[ok.lstrip("+")].data_coding == 8  # UCS-2
    assert submitted[ok.lstrip("+")].short_message.decode("utf-16-be") == "Bonjour ç"
    # and an MO through SMPP reaches the MO listener too
    mo_since = kannel_listener.mark()
    sim.send_mo(ok, "36180", "STOP")
    (mo,) = kannel_listener.wait_for(lambda h: h.path == MO_PATH, since=mo_since)
    assert (mo.query["from"], mo.query["text"], mo.query["smsc"]) == (ok, "STOP", "smpp1")


# -- the conformance suite (tests/providers/conformance.py) over a loopback sendsms (tests/support/fake_kannel.py)
class KannelPeer(Peer):
    def __init__(self, fake: FakeKannel) -> None:
        self.fake = fake

    def provider(self, state_dir: Path, **settings: Any) -> Provider:
        return KannelProvider({"url": self.fake.url, "timeout": 10, **settings}, state_dir=state_dir)

    def received(self) -> list[tuple[str, str]]:
        return list(self.fake.received)

    def fail_next(self, kind: str, *, after: int = 0) -> None:
        self.fake.fail_next(kind, after=after)

    def refuse(self, recipient: str) -> None:
        self.fake.refused.add(recipient)


class TestKannelConformance(ProviderConformance):
    pulls_delivery_reports = False  # Kannel calls the receiver's dlr-url

    @pytest.fixture
    def peer(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Peer]:
        monkeypatch.setenv("KANNEL_USERNAME", "smsrun")
        monkeypatch.setenv("KANNEL_PASSWORD", PASSWORD)
        with FakeKannel("smsrun", PASSWORD) as fake:
            yield KannelPeer(fake)
