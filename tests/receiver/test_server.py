"""`smsrun receive`: delivery reports and replies reach the ledger, and nothing else does.

The receiver runs on a free 127.0.0.1 port, in a thread of the test (most tests) or as the real
`smsrun receive` command (restart safety, signals, logs). Ledger rows are made through the Ledger API
(``add_pending`` / ``claim`` / ``settle``) or by sending a campaign with the real `smsrun send`
(Twilio's loopback fake; a real Kannel in the ``kannel`` test).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.ledger.status import campaign_status
from runner.ledger.store import Ledger
from runner.optout.store import list_optouts
from runner.receiver import Receiver, ReceiverConfig
from runner.receiver.server import MAX_BODY
from tests.support import fake_twilio, ledgerdb
from tests.support.fake_twilio import FakeTwilio
from tests.support.repo import Repo, french_mobiles

TOKEN = "r3ceiver-t0ken-for-tests-0123456789"
AUTH = fake_twilio.AUTH_TOKEN
SID = "SM" + "0" * 31 + "1"
N = french_mobiles(6)


# -- helpers ------------------------------------------------------------------------------------------


def seed(state: Path, campaign: str, recipients: list[str], *, batch_id: str, status: str = "sent",
         provider_ids: list[str | None] | None = None) -> None:
    """Ledger rows as a send leaves them: pending, claimed in ``batch_id``, then settled as ``status``."""
    with Ledger(state) as ledger:
        ledger.add_pending(campaign, [(r, "Hello", 1) for r in recipients])
        rows = {r.recipient: r.rowid for r in ledger.rows(campaign, ["pending"])}
        rowids = [rows[r] for r in recipients]
        ledger.claim(rowids, batch_id)
        if status != "claimed":
            ids = provider_ids or [None] * len(recipients)
            ledger.settle([(status, pid, None, None, rowid) for pid, rowid in zip(ids, rowids, strict=True)])


def statuses(state: Path, campaign: str) -> dict[str, str]:
    with Ledger(state) as ledger:
        return ledger.statuses(campaign)


def table(state: Path, name: str) -> list[tuple[object, ...]]:
    return ledgerdb.table(state, name)


def start(state: Path, **options: object) -> Receiver:
    settings: dict[str, object] = {"host": "127.0.0.1", "port": 0, "token": TOKEN, "state_dir": state,
                                   "secrets": {"TWILIO_AUTH_TOKEN": AUTH}}
    settings.update(options)
    return Receiver(ReceiverConfig(**settings)).start()  # type: ignore[arg-type]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def receiver(state: Path) -> Iterator[Receiver]:
    r = start(state)
    yield r
    r.stop()


def twilio_post(url: str, form: dict[str, str], *, signed_url: str | None = None,
                signature: str | None = None) -> httpx.Response:
    sig = signature if signature is not None else fake_twilio.signature(AUTH, signed_url or url, form)
    return httpx.post(url, data=form, headers={"X-Twilio-Signature": sig}, timeout=10)


# -- Kannel delivery reports ----------------------------------------------------------------------------


def test_kannel_reports_set_delivered_and_failed_and_status_counts_them(state: Path, receiver: Receiver) -> None:
    seed(state, "promo", N[:3], batch_id="promo.abc1234567.1")  # one request shared by three recipients
    seed(state, "promo", N[3:4], batch_id="promo.abc1234567.2")  # a request of its own: id = campaign:number
    dlr = receiver.url("kannel/dlr")
    # exactly what Kannel calls: the standard query the provider appends, %p expanded to the handset
    shared = "id=&batch=promo.abc1234567.1&to={to}&status={st}&answer=&ts=1795551899"
    answers = [
        httpx.get(f"{dlr}?" + shared.format(to=urllib.parse.quote(N[0]), st=8)),  # SMSC submit: still sent
        httpx.get(f"{dlr}?" + shared.format(to=urllib.parse.quote(N[0]), st=1)),
        httpx.get(f"{dlr}?" + shared.format(to=N[1], st=2)),  # '+' unencoded reads back as a space
        httpx.get(f"{dlr}?" + shared.format(to=urllib.parse.quote(N[2]), st=4)),  # buffered: pending
        httpx.get(dlr, params={"id": f"promo:{N[3]}", "batch": "promo.abc1234567.2", "to": N[3], "status": "16",
                               "answer": "NACK/0x0000000b/Invalid Destination Address"}),
    ]
    assert [a.status_code for a in answers] == [200] * 5
    assert statuses(state, "promo") == {N[0]: "delivered", N[1]: "failed", N[2]: "sent", N[3]: "failed"}
    counts = campaign_status(state, "promo")
    assert (counts["sent"], counts["delivered"], counts["failed"]) == (1, 1, 2)
    reports = table(state, "reports")
    assert len(reports) == 5 and {r[1] for r in reports} == {"kannel"}
    with Ledger(state) as ledger:
        reason = ledger.db.execute("SELECT reason FROM messages WHERE recipient = ?", (N[3],)).fetchone()[0]
    assert "rejected by the SMSC" in reason and "Invalid Destination Address" in reason
    assert receiver.stats["reports_delivered"] == 1 and receiver.stats["reports_failed"] == 2


def test_a_report_settles_an_in_doubt_row_but_never_a_claimed_one(state: Path, receiver: Receiver) -> None:
    seed(state, "c", N[:2], batch_id="c.run0000001.1", status="in_doubt")
    seed(state, "c", N[2:4], batch_id="c.run0000001.2", status="claimed")  # a send in flight
    dlr = receiver.url("kannel/dlr")
    assert httpx.get(dlr, params={"batch": "c.run0000001.1", "to": N[0], "status": "8"}).status_code == 200
    assert httpx.get(dlr, params={"batch": "c.run0000001.1", "to": N[1], "status": "1"}).status_code == 200
    for number, kinds in ((N[2], ("8", "1")), (N[3], ("1", "8"))):  # Kannel does not keep the order
        for kind in kinds:
            assert httpx.get(dlr, params={"batch": "c.run0000001.2", "to": number, "status": kind}).status_code == 200
    assert statuses(state, "c") == {N[0]: "sent", N[1]: "delivered", N[2]: "claimed", N[3]: "claimed"}
    assert receiver.stats["reports_deferred"] == 4
    # the reports overtook the run's settle: kept, and applied once the run settles the rows
    receiver.flush_backlog()
    assert statuses(state, "c")[N[2]] == "claimed"
    with Ledger(state) as ledger:
        ledger.settle([("sent", None, None, None, row.rowid) for row in ledger.rows("c", ["claimed"])])
    receiver.flush_backlog()
    assert statuses(state, "c") == {N[0]: "sent", N[1]: "delivered", N[2]: "delivered", N[3]: "delivered"}
    assert table(state, "report_backlog") == []


def test_a_report_that_overtakes_its_send_is_applied_by_the_running_receiver(state: Path, receiver: Receiver) -> None:
    """OVHcloud's callback can come before the ledger knows the SMS id; the receiver applies it when it does."""
    assert httpx.get(receiver.url("ovh/dlr"), params={"id": "4242", "description": "1"}).status_code == 200
    seed(state, "o", N[:1], batch_id="o.r.1", provider_ids=["4242"])
    deadline = time.monotonic() + 60  # a hang guard, generous for a busy machine
    while statuses(state, "o")[N[0]] != "delivered" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert statuses(state, "o") == {N[0]: "delivered"}
    assert receiver.stats["backlog_applied"] == 1


def test_kept_reports_expire(state: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from runner.receiver.store import MessageKey, apply_backlog, ensure_backlog, record_report

    seed(state, "c", N[:1], batch_id="c.r.1", status="claimed")  # a run that died: claims stay
    with Ledger(state) as ledger:
        ensure_backlog(ledger)
        assert record_report(ledger, "ovh", MessageKey(provider_id="1"), "delivered", None).deferred
        assert record_report(ledger, "kannel", MessageKey(campaign_id="c", recipient=N[0]), "failed", None).deferred
        soon = datetime.now(UTC) + timedelta(hours=1)
        assert (apply_backlog(ledger, now=soon).expired, apply_backlog(ledger, now=soon).waiting) == (1, 1)
        assert apply_backlog(ledger, now=soon + timedelta(days=8)).expired == 1
    assert table(state, "report_backlog") == []


def test_unknown_messages_are_acknowledged_logged_masked_and_counted(
    state: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    seed(state, "c", N[:1], batch_id="c.r.1")
    caplog.set_level("INFO", logger="smsrun.receiver")
    for params in ({"id": f"other:{N[5]}", "status": "1"}, {"batch": "nope.r.9", "to": N[5], "status": "2"}):
        assert httpx.get(receiver.url("kannel/dlr"), params=params).status_code == 200
    assert httpx.get(receiver.url("ovh/dlr"), params={"id": "999", "description": "1"}).status_code == 200
    assert statuses(state, "c") == {N[0]: "sent"}
    assert receiver.stats["reports_unknown"] == 3
    health = httpx.get(receiver.url("health")).json()
    assert health["ok"] is True and health["counts"]["reports_unknown"] == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("unknown message, ignored") == 3
    assert N[5] not in logged and "+336••••••05" in logged
    assert TOKEN not in logged


# -- the token --------------------------------------------------------------------------------------------


def test_wrong_or_missing_token_is_404_and_records_nothing(state: Path, receiver: Receiver) -> None:
    seed(state, "c", N[:1], batch_id="c.r.1")
    query = {"id": f"c:{N[0]}", "status": "1"}
    base = receiver.base_url
    for path in ("/kannel/dlr", f"/{TOKEN[:-1]}/kannel/dlr", f"/{TOKEN}x/kannel/dlr", f"/x{TOKEN}/kannel/dlr",
                 f"/kannel/{TOKEN}/dlr", "/", f"/{TOKEN.upper()}/kannel/dlr", f"/{TOKEN}/kannel/dlr/x"):
        assert httpx.get(base + path, params=query).status_code == 404, path
    assert httpx.get(f"{base}/{TOKEN[:5]}/kannel/mo", params={"from": N[1], "text": "STOP"}).status_code == 404
    assert httpx.get(f"{base}/wrong-token-wrong-token/health").status_code == 404
    assert statuses(state, "c") == {N[0]: "sent"}
    assert table(state, "reports") == [] and table(state, "replies") == [] and list_optouts(state) == []
    assert receiver.stats["not_found"] == 10


def test_the_token_is_required_and_must_be_long(state: Path) -> None:
    from runner.errors import ConfigError

    for bad in ("", "short", "has space in it, long enough", "é" * 20):
        with pytest.raises(ConfigError, match="SMSRUN_RECEIVER_TOKEN"):
            Receiver(ReceiverConfig("127.0.0.1", 0, bad, state))


# -- malformed requests ------------------------------------------------------------------------------------


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" not in b"".join(chunks):
                break
        return b"".join(chunks)


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(state: Path, receiver: Receiver) -> None:
    seed(state, "c", N[:1], batch_id="c.r.1")
    dlr, ovh, mo = receiver.url("kannel/dlr"), receiver.url("ovh/dlr"), receiver.url("kannel/mo")
    cases = [
        httpx.get(dlr),  # nothing
        httpx.get(dlr, params={"id": f"c:{N[0]}", "status": "%d"}),  # an unexpanded Kannel escape
        httpx.get(dlr, params={"batch": "c.r.1", "status": "1"}),  # batch without the handset
        httpx.get(ovh, params={"id": "abc", "description": "1"}),
        httpx.get(ovh, params={"id": "12"}),
        httpx.get(mo, params={"text": "STOP"}),  # no sender
        httpx.get(mo, params={"from": N[0]}),  # no text
        httpx.post(mo, content=b"from=%2B33612&text=\xff\xfe", headers={"Content-Type":
                                                                       "application/x-www-form-urlencoded"}),
    ]
    assert [c.status_code for c in cases] == [400] * 8
    assert httpx.delete(dlr).status_code == 405
    assert httpx.get(receiver.url("twilio/status")).status_code == 405
    assert httpx.post(mo, content=b"x" * (MAX_BODY + 1)).status_code == 413
    port = receiver.port
    assert b"400" in raw_request(port, b"GARBAGE\r\n\r\n")  # answered the HTTP/0.9 way, body only
    assert raw_request(port, b"GET /x y HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw_request(port, b"BREW / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")  # no Host
    assert raw_request(port, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert raw_request(port, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n").split(b" ")[1] in (b"414", b"400")
    chunked = (f"POST /{TOKEN}/kannel/mo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n0\r\n\r\n").encode()
    assert raw_request(port, chunked).startswith(b"HTTP/1.1 411")
    bad_length = f"POST /{TOKEN}/kannel/mo HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n".encode()
    assert raw_request(port, bad_length).startswith(b"HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", port)) as s:  # a client that says 100 bytes, sends 3 and leaves
        s.sendall(f"POST /{TOKEN}/kannel/mo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc".encode())
        s.shutdown(socket.SHUT_WR)
        assert not s.recv(100).startswith(b"HTTP/1.1 2")  # closed without an answer: nothing acknowledged
    assert statuses(state, "c") == {N[0]: "sent"} and table(state, "replies") == []
    assert httpx.get(receiver.url("health")).json()["ok"] is True
    assert httpx.get(dlr, params={"id": f"c:{N[0]}", "status": "1"}).status_code == 200
    assert statuses(state, "c") == {N[0]: "delivered"}


# -- Twilio -----------------------------------------------------------------------------------------------


def test_twilio_status_callback_needs_a_good_signature(state: Path, receiver: Receiver) -> None:
    seed(state, "t", N[:2], batch_id="t.r.1", provider_ids=[SID, None])
    url = receiver.url("twilio/status") + "?" + urllib.parse.urlencode({"smsrun_id": f"t:{N[0]}"})
    form = {"MessageSid": SID, "MessageStatus": "delivered", "To": N[0], "AccountSid": fake_twilio.ACCOUNT_SID}
    assert twilio_post(url, form, signature="").status_code == 403
    assert twilio_post(url, form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert twilio_post(url, {**form, "MessageStatus": "failed"}, signature=fake_twilio.signature(AUTH, url, form)
                       ).status_code == 403  # signed for other parameters
    assert twilio_post(url, form, signed_url=url.replace("t%3A", "u%3A")).status_code == 403  # another URL
    other = fake_twilio.signature("another-auth-token", url, form)
    assert twilio_post(url, form, signature=other).status_code == 403
    assert statuses(state, "t")[N[0]] == "sent" and table(state, "reports") == []
    assert receiver.stats["bad_signature"] == 5
    assert twilio_post(url, form).status_code == 200
    assert statuses(state, "t")[N[0]] == "delivered"
    # matched by smsrun_id when the ledger has no SID yet (the SID is kept)
    url2 = receiver.url("twilio/status") + "?" + urllib.parse.urlencode({"smsrun_id": f"t:{N[1]}"})
    sid2 = "SM" + "0" * 31 + "2"
    form2 = {"MessageSid": sid2, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert twilio_post(url2, form2).status_code == 200
    with Ledger(state) as ledger:
        row = ledger.db.execute("SELECT status, provider_id, reason FROM messages WHERE recipient = ?",
                                (N[1],)).fetchone()
    assert row == ("failed", sid2, "undelivered (30003)")


def test_twilio_signature_over_the_public_url_behind_a_proxy(state: Path) -> None:
    seed(state, "t", N[:1], batch_id="t.r.1", provider_ids=[SID])
    public = "https://sms.example.com/hooks"
    r = start(state, public_url=public)
    try:
        local = r.url("twilio/status")
        as_called = f"{public}/{TOKEN}/twilio/status"  # what Twilio called, and signed
        form = {"MessageSid": SID, "MessageStatus": "delivered"}
        assert twilio_post(local, form, signed_url=local).status_code == 403  # the local URL is not what was signed
        assert twilio_post(local, form, signed_url=as_called).status_code == 200
        assert statuses(state, "t") == {N[0]: "delivered"}
    finally:
        r.stop()


def test_twilio_paths_refuse_without_an_auth_token(state: Path) -> None:
    r = start(state, secrets={})
    try:
        response = twilio_post(r.url("twilio/inbound"), {"From": N[0], "Body": "STOP", "MessageSid": SID})
        assert response.status_code == 503 and table(state, "replies") == []
    finally:
        r.stop()


def test_twilio_inbound_stop_reaches_the_suppression_list_and_the_plan(repo: Repo) -> None:
    repo.write("list.csv", "phone\n" + "\n".join(N[:3]) + "\n")
    repo.write("c.yaml", "id: c\nsender: ACME\nmessage: Hi\ncommercial: false\nrecipients:\n  - csv: list.csv\n")
    r = start(repo.state)
    try:
        url = r.url("twilio/inbound")
        form = {"From": N[1], "To": "+15005550006", "Body": "Stop svp", "MessageSid": "SM" + "a" * 32,
                "AccountSid": fake_twilio.ACCOUNT_SID, "NumMedia": "0"}
        first = twilio_post(url, form)
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/xml")
        assert b"<Response></Response>" in first.content  # no auto-reply
        assert twilio_post(url, form).status_code == 200  # Twilio retried: stored once
        assert twilio_post(url, {**form, "Body": "hello?", "MessageSid": "SM" + "b" * 32}).status_code == 200
        assert twilio_post(url, {**form, "Body": "STOP"}, signature="x").status_code == 403
    finally:
        r.stop()
    (optout,) = list_optouts(repo.state)
    assert (optout.number, optout.source, optout.reason) == (N[1], "reply:twilio", "replied STOP")
    replies = table(repo.state, "replies")
    assert [(row[1], row[2], row[3], row[4], row[6]) for row in replies] == [
        ("twilio", "SM" + "a" * 32, N[1], "Stop svp", 1), ("twilio", "SM" + "b" * 32, N[1], "hello?", 0)]
    plan = json.loads(repo.run("plan", "c.yaml", "--json").out)
    assert plan["recipients"]["suppressed"] == 1 and plan["recipients"]["to_send"] == 2


def test_twilio_end_to_end_send_then_status_callbacks(repo: Repo) -> None:
    """`smsrun send` through Twilio's loopback fake with status_callback at the receiver; the fake's
    callbacks (signed by the fake's own code) make `status --json` count delivered and failed."""
    with FakeTwilio() as fake:
        r = start(repo.state)
        try:
            repo.write("list.csv", "phone\n" + "\n".join(N[:3]) + "\n")
            repo.write("c.yaml", f"""\
id: tw
sender: short-code
message: Hi
commercial: false
recipients:
  - csv: list.csv
provider:
  name: twilio
  base_url: {fake.url}
  from: "+15005550006"
  status_callback: {r.url("twilio/status")}
""")
            env = {"TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": fake.auth_token}
            sent = repo.run("send", "c.yaml", "--yes", "--json", timeout=120, **env)
            assert sent.code == 0, sent.both
            sids = {m["to"]: sid for sid, m in fake.messages.items()}
            for number, status in ((N[0], "delivered"), (N[1], "undelivered"), (N[2], "sent")):
                callback = fake.deliver(sids[number], status, error_code=30003 if status == "undelivered" else None)
                assert callback is not None and callback.status_code == 200
            data = json.loads(repo.run("status", "c.yaml", "--json").out)
            assert (data["sent"], data["delivered"], data["failed"]) == (1, 1, 1)
        finally:
            r.stop()


# -- OVHcloud -----------------------------------------------------------------------------------------------


def test_ovh_callback_sets_delivery_status(state: Path, receiver: Receiver) -> None:
    seed(state, "o", N[:3], batch_id="o.r.1", provider_ids=["26929926", "26929927", "26929928"])
    url = receiver.url("ovh/dlr")
    assert httpx.get(url, params={"id": "26929926", "ptt": "4", "date": "2026-11-24 10:00:00", "description": "1",
                                  "descriptionDlr": "Delivered"}).status_code == 200
    assert httpx.post(url, data={"id": "26929927", "ptt": "23", "description": "16",
                                 "descriptionDlr": "Error"}).status_code == 200
    assert httpx.post(url + "?id=26929928&description=4&ptt=3").status_code == 200  # waiting: pending
    assert statuses(state, "o") == {N[0]: "delivered", N[1]: "failed", N[2]: "sent"}
    with Ledger(state) as ledger:
        reason = ledger.db.execute("SELECT reason FROM messages WHERE recipient = ?", (N[1],)).fetchone()[0]
    assert reason == "Error; ptt 23 (invalid, barred or blacklisted number)"


# -- Kannel replies -----------------------------------------------------------------------------------------


def test_replies_from_national_numbers_use_the_region(state: Path) -> None:
    r = start(state, region="fr")
    try:
        national = "0" + N[4][3:]  # +33 6... -> 06...
        assert httpx.get(r.url("kannel/mo"), params={"from": national, "text": "STOP"}).status_code == 200
    finally:
        r.stop()
    assert [o.number for o in list_optouts(state)] == [N[4]]


def test_kannel_replies_are_stored_once_and_opt_outs_suppressed(state: Path, receiver: Receiver) -> None:
    mo = receiver.url("kannel/mo")
    sent = [
        httpx.get(mo, params={"from": N[0], "to": "36180", "text": "STOP", "smsc": "fake", "ts": "1795551899"}),
        httpx.get(mo, params={"from": N[0], "to": "36180", "text": "STOP", "smsc": "fake", "ts": "1795551899"}),
        httpx.get(mo, params={"from": N[1].lstrip("+"), "text": "Arrêt svp", "id": "k-1"}),  # 33… as some SMSCs
        httpx.get(mo, params={"from": N[1].lstrip("+"), "text": "Arrêt svp", "id": "k-1"}),
        httpx.get(mo, params={"from": N[2], "text": "Je voudrais arrêter"}),  # mentions it, is not an opt-out
        httpx.post(mo, content="Merci, ça va".encode(), headers={"X-Kannel-From": N[3], "Content-Type": "text/plain"}),
        httpx.get(mo, params={"from": "ACME", "text": "STOP"}),  # not a number: cannot be suppressed, refused
    ]
    assert [s.status_code for s in sent] == [200] * 6 + [400]
    assert all(s.content == b"" for s in sent[:6])  # Kannel would send a non-empty answer back as an SMS
    assert {o.number: (o.source, o.reason) for o in list_optouts(state)} == {
        N[0]: ("reply:kannel", "replied STOP"), N[1]: ("reply:kannel", "replied STOP")}
    rows = [(r[3], r[4], r[6]) for r in table(state, "replies")]
    assert rows == [(N[0], "STOP", 1), (N[1], "Arrêt svp", 1), (N[2], "Je voudrais arrêter", 0),
                    (N[3], "Merci, ça va", 0)]
    assert receiver.stats["replies"] == 4 and receiver.stats["replies_duplicate"] == 2


# -- the real command: restart safety, signals, logs -----------------------------------------------------------


def start_command(repo: Repo, **env: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Run `smsrun receive --listen 127.0.0.1:0`; return the process, its base URL and the stderr lines read."""
    proc = repo.popen("receive", "--listen", "127.0.0.1:0", **{"SMSRUN_RECEIVER_TOKEN": TOKEN,
                                                                 "TWILIO_AUTH_TOKEN": AUTH, **env})
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if m:
                return proc, m.group(1), lines
    proc.kill()
    raise AssertionError("smsrun receive did not start: " + "".join(lines) + proc.stderr.read())


def test_command_acknowledges_only_what_is_on_disk_kill_9_then_restart(repo: Repo) -> None:
    seed(repo.state, "c", N[:3], batch_id="c.r.1")
    proc, base, _ = start_command(repo)
    try:
        answer = httpx.get(f"{base}/{TOKEN}/kannel/dlr", params={"id": f"c:{N[0]}", "status": "1"})
        assert answer.status_code == 200
        answer = httpx.get(f"{base}/{TOKEN}/kannel/mo", params={"from": N[1], "text": "STOP", "id": "mo-1"})
        assert answer.status_code == 200
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no chance to flush anything after the 200
        proc.wait(10)
    assert statuses(repo.state, "c")[N[0]] == "delivered"
    assert [o.number for o in list_optouts(repo.state)] == [N[1]]
    # it starts again on the same ledger, and the gateway's retry of the same reply is not stored twice
    proc, base, _ = start_command(repo)
    try:
        assert httpx.get(f"{base}/{TOKEN}/kannel/mo",
                         params={"from": N[1], "text": "STOP", "id": "mo-1"}).status_code == 200
        assert httpx.get(f"{base}/{TOKEN}/kannel/dlr",
                         params={"id": f"c:{N[2]}", "status": "2"}).status_code == 200
        assert httpx.get(f"{base}/{TOKEN}/health").json()["counts"]["replies_duplicate"] == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert statuses(repo.state, "c") == {N[0]: "delivered", N[1]: "sent", N[2]: "failed"}
    assert len(table(repo.state, "replies")) == 1
    data = json.loads(repo.run("status", "c", "--json").out)
    assert (data["sent"], data["delivered"], data["failed"]) == (1, 1, 1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_stops_gracefully_and_logs_without_token_or_numbers(repo: Repo, signum: int) -> None:
    seed(repo.state, "c", N[:1], batch_id="c.r.1")
    proc, base, lines = start_command(repo)
    with httpx.Client() as client:  # a kept-alive connection must not hold the stop
        assert client.get(f"{base}/{TOKEN}/kannel/dlr", params={"id": f"c:{N[0]}", "status": "1"}).status_code == 200
        assert client.get(f"{base}/{TOKEN}/kannel/mo", params={"from": N[2], "text": "hi"}).status_code == 200
        assert client.get(f"{base}/not-the-token/kannel/mo", params={"from": N[3], "text": "STOP"}).status_code == 404
        proc.send_signal(signum)
        # the process ends while this client still holds its kept-alive connection open (a hang guard,
        # not a speed limit: the stop never waits for the client)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    log = "".join(lines) + err
    assert TOKEN not in log and "not-the-token" not in log
    assert not any(n in log for n in (N[0], N[2], N[3]))
    assert "GET /…/kannel/dlr 200" in log and "GET /…/kannel/mo 200" in log and "GET /… 404" in log
    assert f"stopped ({signal.Signals(signum).name})" in log
    assert statuses(repo.state, "c") == {N[0]: "delivered"}


def test_sigterm_finishes_a_request_in_flight_then_stops(repo: Repo) -> None:
    """SIGTERM while a gateway is half-way through sending a report: the listening socket closes at
    once, the request in flight is received, recorded and answered 200, then the process exits 0."""
    seed(repo.state, "c", N[:1], batch_id="c.r.1")
    proc, base, _ = start_command(repo)
    port = int(base.rsplit(":", 1)[1])
    body = urllib.parse.urlencode({"id": f"c:{N[0]}", "status": "1"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall((f"POST /{TOKEN}/kannel/dlr HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   f"application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                   "Expect: 100-continue\r\n\r\n").encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 100")  # the handler is reading the body: in flight
        s.sendall(body[:5])
        proc.send_signal(signal.SIGTERM)
        for _ in range(200):  # the listening socket closes: new connections are refused
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("still accepting connections after SIGTERM")
        s.sendall(body[5:])
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped (SIGTERM)" in err
    assert statuses(repo.state, "c") == {N[0]: "delivered"}


def test_command_refuses_to_start_without_a_token(repo: Repo) -> None:
    result = repo.run("receive", "--listen", "127.0.0.1:0", timeout=30)
    assert result.code == 1
    assert "SMSRUN_RECEIVER_TOKEN is not set" in result.err and "Traceback" not in result.both
    bad = repo.run("receive", "--listen", "nowhere", SMSRUN_RECEIVER_TOKEN=TOKEN, timeout=30)
    assert bad.code == 1 and "HOST:PORT" in bad.err
    region = repo.run("receive", "--listen", "127.0.0.1:0", "--region", "XX", SMSRUN_RECEIVER_TOKEN=TOKEN, timeout=30)
    assert region.code == 1 and "--region" in region.err


# -- a real Kannel ---------------------------------------------------------------------------------------------


@pytest.mark.kannel
def test_kannel_end_to_end_reports_and_a_stop_reply(repo: Repo, tmp_path: Path) -> None:
    """`smsrun send` through a real Kannel (fakesmsc) with the dlr-url at the receiver: every message ends
    delivered; a STOP typed on a handset reaches the receiver through Kannel's sms-service and the
    suppression list, and the next plan holds that number back."""
    from tests.support.kannel import KannelGateway, kannel_env, skip_if_kannel_missing, wait_until

    skip_if_kannel_missing()
    r = start(repo.state)
    try:
        with KannelGateway(tmp_path / "kannel", mo_url=r.url("kannel/mo")) as gateway:
            recipients = french_mobiles(5, start=100)
            repo.write("list.csv", "phone\n" + "\n".join(recipients) + "\n")
            repo.write("k.yaml", f"""\
id: kan
sender: ACME
message: Bonjour, nouvelle offre
commercial: false
recipients:
  - csv: list.csv
provider:
  name: kannel
  url: {gateway.sendsms_url}
  dlr_url: {r.url("kannel/dlr")}
""")
            sent = repo.run("send", "k.yaml", "--yes", "--json", timeout=120, **kannel_env(gateway))
            assert sent.code == 0, sent.both
            assert json.loads(sent.out)["sent"] == 5
            wait_until(lambda: campaign_status(repo.state, "kan")["delivered"] == 5, 20, "5 delivered reports")
            assert len(gateway.wait_for_messages(5)) == 5
            gateway.inject_mo(recipients[2], gateway.default_sender, "STOP")
            wait_until(lambda: bool(list_optouts(repo.state)), 10, "the STOP reply in the suppression list")
    finally:
        r.stop()
    (optout,) = list_optouts(repo.state)
    assert (optout.number, optout.source) == (recipients[2], "reply:kannel")
    data = json.loads(repo.run("status", "k.yaml", "--json").out)
    assert (data["delivered"], data["failed"], data["sent"]) == (5, 0, 0)
    plan = json.loads(repo.run("plan", "k.yaml", "--json").out)
    assert plan["recipients"]["suppressed"] == 1
    assert r.stats.get("reports_unknown", 0) == 0 and r.stats["reports_delivered"] == 5
