"""Every provider request is bounded (issue 15): a loopback server that never answers, or that trickles
its answer one byte at a time (so that no single read ever times out), ends in a classified error after
the provider's ``timeout``, for the OVHcloud client, Twilio and Kannel. Nothing here measures time: a
request that were not bounded would hang until pytest-timeout fails the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from runner.campaign.model import Sender
from runner.errors import InDoubtError, RetryableError
from runner.providers.base import Batch, OutgoingMessage
from runner.providers.http import timeouts
from runner.providers.kannel.provider import KannelProvider
from runner.providers.ovh.client import OvhClient
from runner.providers.twilio.provider import TwilioProvider

ACCOUNT = "AC" + "0123456789abcdef" * 2


class Staller:
    """A loopback HTTP server that reads each request, then either says nothing (``mode="silent"``) or
    sends headers and then one body byte every 50 ms (``mode="trickle"``), until the client goes away."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.done = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.5)
            try:
                conn.recv(65536)
                if self.mode == "trickle":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                while not self.done.wait(0.05):
                    if self.mode == "trickle":
                        conn.sendall(b" ")
            except OSError:
                return  # the client gave up: that is the point

    def close(self) -> None:
        self.done.set()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture(params=["silent", "trickle"])
def staller(request: pytest.FixtureRequest) -> Iterator[Staller]:
    server = Staller(request.param)
    yield server
    server.close()


def batch() -> Batch:
    return Batch("c", "c.1.1", Sender("alphanumeric", "ACME"), False, "GSM-7",
                 [OutgoingMessage("+33612345678", "hi", "m1")], not_before=None)


def test_the_timeouts_bound_connect_read_and_pool() -> None:
    bounded = timeouts(30.0)
    assert (bounded.connect, bounded.read, bounded.write, bounded.pool) == (10.0, 30.0, 30.0, 30.0)
    assert timeouts(0.5).connect == 0.5


def test_ovh_client(staller: Staller) -> None:
    client = OvhClient(staller.url, "ak", "as", "ck", timeout=0.5, requests_per_minute=None, max_retries=0)
    with client, pytest.raises(RetryableError, match="no answer"):
        client.get("/auth/time", auth=False)  # a read: retryable
    with OvhClient(staller.url, "ak", "as", "ck", timeout=0.5, requests_per_minute=None) as writer, \
            pytest.raises(InDoubtError, match="may have been accepted"):
        writer.post("/sms/x/jobs", {"message": "hi"}, auth=False)  # a write: in doubt


def test_twilio(staller: Staller, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    with TwilioProvider({"base_url": staller.url, "timeout": 0.5}) as twilio, \
            pytest.raises(InDoubtError, match="may have accepted"):
        twilio.send(batch())
    assert staller.accepted >= 1


def test_kannel(staller: Staller, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANNEL_USERNAME", "u")
    monkeypatch.setenv("KANNEL_PASSWORD", "p")
    with KannelProvider({"url": staller.url + "/cgi-bin/sendsms", "timeout": 0.5}) as kannel, \
            pytest.raises(InDoubtError, match="may have been accepted"):
        kannel.send(batch())


def test_a_trickled_answer_within_the_deadline_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline covers the whole answer, not more: a normal answer goes through (sanity check)."""
    server = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{server.getsockname()[1]}"

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            body = str(int(datetime.now(UTC).timestamp())).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with OvhClient(url, "ak", "as", "ck", timeout=30, requests_per_minute=None) as client:
        assert isinstance(client.get("/auth/time", auth=False), int)
    thread.join(5)
    server.close()
