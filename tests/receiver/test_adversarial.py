"""The receiver under abuse: garbage values, huge values, slow clients, hostile senders, oversized bodies.

Whatever a client sends, the receiver answers 2xx or 4xx (never 5xx, never a traceback), records
nothing from a request it refused, keeps serving everybody else, and cuts a client that takes too long
to send a request. Slow-client tests bound bytes and steps, not seconds: a receiver with a 1 s request
deadline must cut a client long before that client could finish dripping its request.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.ledger.status import campaign_status
from runner.optout.store import list_optouts
from runner.receiver import Receiver, ReceiverConfig
from runner.receiver.app import MAX_BODY
from runner.receiver.params import BadValue, phone_or_short_code
from runner.receiver.server import MAX_HEAD
from tests.support import fake_twilio, ledgerdb
from tests.support.burst import burst, numbers, seed_sent

TOKEN = "adversarial-token-0123456789"
DEADLINE = 1.0  # the request deadline of the receivers here (seconds)


def table(state: Path, name: str) -> list[tuple[object, ...]]:
    return ledgerdb.table(state, name)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Receiver, Path]]:
    """One receiver for the property tests (hypothesis runs many examples against it)."""
    state = tmp_path_factory.mktemp("adversarial") / "state"
    seed_sent(state, "c", numbers(3))
    r = Receiver(ReceiverConfig("127.0.0.1", 0, TOKEN, state, secrets={"TWILIO_AUTH_TOKEN": fake_twilio.AUTH_TOKEN}),
                 request_timeout=DEADLINE).start()
    yield r, state
    r.stop()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    state = tmp_path / "state"
    r = Receiver(ReceiverConfig("127.0.0.1", 0, TOKEN, state, secrets={"TWILIO_AUTH_TOKEN": fake_twilio.AUTH_TOKEN}),
                 request_timeout=DEADLINE).start()
    yield r
    r.stop()


def get_raw(r: Receiver, route: str, raw_query: str) -> int:
    """GET with the query exactly as given (percent-escapes included)."""
    return httpx.get(httpx.URL(r.url(route), query=raw_query.encode("ascii")), timeout=30).status_code


# -- garbage and huge values --------------------------------------------------------------------------------

ANY_BYTES = st.binary(max_size=40).map(lambda b: urllib.parse.quote_from_bytes(b, safe=""))
VALUES = st.one_of(ANY_BYTES, st.text(max_size=30).map(lambda t: urllib.parse.quote(t, safe="")),
                   st.sampled_from(["%C2%B2", "%D9%A1", "%00", "%FF%FE", "1" * 5000, "-1", "%201", "1e3", "0x10",
                                    "+", "%2B"]))
PARAMS = {
    "kannel/dlr": ["id", "batch", "to", "status", "answer", "ts"],
    "ovh/dlr": ["id", "description", "ptt", "descriptionDlr", "date"],
    "kannel/mo": ["from", "to", "text", "id", "ts"],
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(sorted(PARAMS)), data=st.data())
def test_any_query_gets_2xx_or_4xx_never_5xx(shared: tuple[Receiver, Path], route: str, data: st.DataObject) -> None:
    r, _ = shared
    names = data.draw(st.lists(st.sampled_from(PARAMS[route]), max_size=6))
    query = "&".join(f"{name}={data.draw(VALUES)}" for name in names)
    status = get_raw(r, route, query)
    if len(query) > MAX_HEAD:
        assert status in (400, 431), (route, query[:200], status)  # head too large
    else:
        assert status in (200, 400), (route, query[:200], status)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sender=st.one_of(st.binary(min_size=1, max_size=20).map(lambda b: urllib.parse.quote_from_bytes(b, safe="")),
                        st.sampled_from(["%00", "%FF%FE", "%2B33612345678%00", "ACME", "%2B33%206%20CALL%20ME",
                                         "33612345678;ext=2", "1" * 40, "%E2%80%AE33612345678", "12"])))
def test_senders_that_are_not_numbers_or_short_codes_are_refused_and_not_stored(
    shared: tuple[Receiver, Path], sender: str
) -> None:
    r, state = shared
    decoded = urllib.parse.unquote(sender, errors="replace")
    try:
        phone_or_short_code(decoded, "from")
        acceptable = True
    except BadValue:
        acceptable = False
    before = len(table(state, "replies"))
    status = get_raw(r, "kannel/mo", f"from={sender}&text=STOP")
    if acceptable:
        assert status == 200
        return
    assert status == 400
    assert len(table(state, "replies")) == before
    assert "\x00" not in "".join(str(o.number) for o in list_optouts(state))


def test_hostile_senders_named_in_the_issue(receiver: Receiver) -> None:
    state = receiver.config.state_dir
    for raw in ("%00", "%FF%FE", "%2B33612345678%00", "ACME", "%0A33612345678%0A", "%2B33%206%20HELLO%20123"):
        assert get_raw(receiver, "kannel/mo", f"from={raw}&text=STOP") == 400, raw
    form = {"From": "+33612345678\x00", "Body": "STOP", "MessageSid": "SM" + "c" * 32}
    url = receiver.url("twilio/inbound")
    signed = fake_twilio.signature(fake_twilio.AUTH_TOKEN, url, form)
    assert httpx.post(url, data=form, headers={"X-Twilio-Signature": signed}).status_code == 400
    assert httpx.post(receiver.url("kannel/mo"), content=b"STOP", headers={"X-Kannel-From": "ACME"}).status_code == 400
    assert table(state, "replies") == [] and list_optouts(state) == []
    # what gateways really send still works: E.164, 33... without '+', national, short code
    for sender in ("%2B33612345678", "33612345679", "0612345670", "36180"):
        assert get_raw(receiver, "kannel/mo", f"from={sender}&text=hello") == 200, sender
    assert len(table(state, "replies")) == 4


def test_malformed_values_are_400_not_500(receiver: Receiver) -> None:
    state = receiver.config.state_dir
    seed_sent(state, "c", numbers(1))
    for route, query in [
        ("ovh/dlr", "id=1&description=%C2%B2"),  # "²".isdigit() is True, int("²") fails
        ("ovh/dlr", "id=1&description=" + "1" * 5000),  # past int()'s 4,300-digit limit
        ("ovh/dlr", "id=" + "9" * 5000 + "&description=1"),
        ("ovh/dlr", "id=1&description=1&ptt=%D9%A1"),  # Arabic-Indic one
        ("kannel/dlr", "id=c:%2B336100000000&status=%C2%B2"),
        ("kannel/dlr", "id=c:%2B336100000000&status=1&ts=%C2%B2"),
        ("kannel/dlr", "id=c:%2B336100000000&status=" + "1" * 5000),
        ("kannel/dlr", "id=c%00:%2B336100000000&status=1"),
        ("kannel/dlr", "batch=c.r.1&to=%FF%FE&status=1"),
    ]:
        assert get_raw(receiver, route, query) == 400, query[:80]
    assert table(state, "reports") == []
    assert campaign_status(state, "c")["delivered"] == 0
    # a free-text detail is cleaned and cut, never a reason to lose the report it comes with
    assert get_raw(receiver, "ovh/dlr", "id=77&description=1&descriptionDlr=" + "%07ok%00" * 300) == 200
    ((reason,),) = [(row[4],) for row in table(state, "reports")]
    assert isinstance(reason, str) and "\x07" not in reason and "\x00" not in reason and len(reason) <= 256
    assert receiver.stats.get("errors", 0) == 0


# -- sizes ---------------------------------------------------------------------------------------------------


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_oversized_heads_and_bodies_are_refused_without_reading_them(receiver: Receiver) -> None:
    port, path = receiver.port, f"/{TOKEN}/kannel/mo"
    huge_header = f"GET {path}?from=36180&text=x HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * (MAX_HEAD + 10)}\r\n\r\n"
    assert raw_exchange(port, huge_header.encode()).split(b" ")[1] in (b"400", b"431")
    many_headers = "".join(f"X-H{i}: v\r\n" for i in range(MAX_HEAD // 8))
    assert raw_exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n".encode()
                        ).split(b" ")[1] in (b"400", b"431")
    announced = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n".encode()
    assert raw_exchange(port, announced).startswith(b"HTTP/1.1 413")  # answered before any body byte
    over = b"text=" + b"A" * MAX_BODY
    assert httpx.post(receiver.url("kannel/mo") + "?from=36180", content=over,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    chunked = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    assert raw_exchange(port, chunked + b"10000\r\n" + b"A" * 0x10000 + b"\r\n0\r\n\r\n").startswith(b"HTTP/1.1 411")
    fields = "&".join(f"f{i}=1" for i in range(500))
    assert httpx.get(receiver.url("kannel/mo") + f"?from=36180&text=x&{fields}").status_code == 400
    assert table(receiver.config.state_dir, "replies") == []
    assert httpx.get(receiver.url("health")).status_code == 200


# -- slow clients ----------------------------------------------------------------------------------------------


def drip(port: int, data: bytes, step: float = 0.1, prefix: bytes = b"") -> tuple[int, bytes]:
    """Send ``prefix`` at once, then ``data`` one byte per ``step`` seconds until the server closes;
    returns how many dripped bytes were sent and what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(prefix)
        sent = 0
        for byte in data:
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            ready = s.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT) if _readable(s) else b"-"
            if ready != b"-":
                break
            time.sleep(step)
        try:
            answer = s.recv(65536)
        except ConnectionResetError:
            answer = b""
        return sent, answer


def _readable(s: socket.socket) -> bool:
    import select

    return bool(select.select([s], [], [], 0)[0])


def test_a_client_sending_its_head_a_byte_at_a_time_is_cut_and_others_are_served(receiver: Receiver) -> None:
    """At 10 bytes/s a 400-byte head would take 40 s; with a 1 s deadline the server closes long before.
    Meanwhile 300 reports from other clients are all answered."""
    seed_sent(receiver.config.state_dir, "s", numbers(300))
    head = (f"GET /{TOKEN}/kannel/dlr?id=s:%2B3361000000&status=1 HTTP/1.1\r\nHost: x\r\n"
            + "".join(f"X-Slow-{i}: {'v' * 20}\r\n" for i in range(12)) + "\r\n").encode()
    import threading

    outcome: list[tuple[int, bytes]] = []
    slow = threading.Thread(target=lambda: outcome.append(drip(receiver.port, head)))
    slow.start()
    result = burst("127.0.0.1", receiver.port, TOKEN, "s", numbers(300), concurrency=64, timeout=60)
    slow.join()
    sent, answer = outcome[0]
    assert sent < len(head)  # cut before it could finish
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    assert dict(result.outcomes) == {"200": 300}
    assert campaign_status(receiver.config.state_dir, "s")["delivered"] == 300
    assert campaign_status(receiver.config.state_dir, "s")["sent"] == 0


def test_a_body_dripped_a_byte_at_a_time_is_cut_and_nothing_is_recorded(receiver: Receiver) -> None:
    body = b"from=%2B33612345678&text=STOP&id=slow-1" + b"&pad=" + b"x" * 400
    prefix = (f"POST /{TOKEN}/kannel/mo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              f"Content-Length: {len(body)}\r\n\r\n").encode()
    sent, answer = drip(receiver.port, body, prefix=prefix)
    assert sent < len(body)
    assert not answer.startswith(b"HTTP/1.1 2")
    assert table(receiver.config.state_dir, "replies") == [] and list_optouts(receiver.config.state_dir) == []
    assert httpx.get(receiver.url("health")).status_code == 200


def test_a_kept_alive_connection_gets_a_new_deadline_for_each_request(receiver: Receiver) -> None:
    """The first request is served; the second, dripped on the same connection, is cut."""
    first = f"GET /{TOKEN}/health HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    second = (f"GET /{TOKEN}/health HTTP/1.1\r\nHost: x\r\n" + "X-Pad: " + "p" * 300 + "\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as s:
        s.sendall(first)
        answer = b""
        while not answer.endswith(b"}\n"):  # the whole first answer (head and JSON body)
            answer += s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        sent = 0
        for byte in second:
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            if _readable(s):
                break
            time.sleep(0.1)
        assert sent < len(second)
        try:
            answer = s.recv(65536)
        except ConnectionResetError:
            answer = b""
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


def test_many_idle_connections_do_not_stop_reports(receiver: Receiver) -> None:
    """400 connections opened and left silent (or with half a head): reports still all get through."""
    seed_sent(receiver.config.state_dir, "i", numbers(100))
    idle = []
    try:
        for i in range(400):
            s = socket.create_connection(("127.0.0.1", receiver.port), timeout=30)
            if i % 2:
                s.sendall(b"GET /" + TOKEN.encode() + b"/health HTTP/1.1\r\nHo")
            idle.append(s)
        result = burst("127.0.0.1", receiver.port, TOKEN, "i", numbers(100), concurrency=50, timeout=60)
    finally:
        for s in idle:
            s.close()
    assert dict(result.outcomes) == {"200": 100}
    assert campaign_status(receiver.config.state_dir, "i")["delivered"] == 100
