"""The loopback peers take a request as their real servers do: a body cut short by the client's death
(a kill -9 between the headers and the end of the body) is no request at all.

The proofs kill the sender at every moment, including during a call: a fake that answered the half it
had read would create a message (or record a spec violation) that no real server would.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.fake_kannel import FakeKannel
from tests.support.fake_ovh import FakeOvh
from tests.support.fake_twilio import ACCOUNT_SID, FakeTwilio

Fake = tuple[str, dict[str, str], Callable[[], int]]  # (url to POST to, headers, requests recorded)


@contextmanager
def _twilio() -> Iterator[Fake]:
    with FakeTwilio() as fake:
        yield (f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
               {"Content-Type": "application/x-www-form-urlencoded"}, lambda: len(fake.requests))


@contextmanager
def _ovh() -> Iterator[Fake]:
    with FakeOvh() as fake:
        yield f"{fake.base_url}/sms/x/jobs", {"Content-Type": "application/json"}, lambda: len(fake.requests)


@contextmanager
def _kannel() -> Iterator[Fake]:
    with FakeKannel("smsrun", "pw") as fake:
        headers = {"X-Kannel-Username": "smsrun", "X-Kannel-Password": "pw", "X-Kannel-To": "+33612345678",
                   "Content-Type": "text/plain"}
        yield fake.url, headers, lambda: fake.requests


def _post(url: str, headers: dict[str, str], body: bytes, declared: int) -> bytes:
    """POST ``body`` with ``Content-Length: declared``, stop writing, and read until the server closes."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"POST {parts.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {declared}\r\n"
               "Connection: close\r\n\r\n").encode() + body
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # as a killed client: nothing more will come
        answer = b""
        while chunk := sock.recv(65536):  # the server closes once its handler has returned
            answer += chunk
    return answer


@pytest.mark.parametrize("make", [_twilio, _ovh, _kannel], ids=["twilio", "ovh", "kannel"])
def test_a_body_cut_short_is_no_request(make: Callable[[], Any]) -> None:
    with make() as (url, headers, recorded):
        body = b"To=%2B33612345678&From=%2B33700000000&Body=hello"
        assert _post(url, headers, body[:10], declared=len(body)) == b""  # no answer: nothing was taken
        assert recorded() == 0
        _post(url, headers, body, declared=len(body))  # the same request whole is one (the check can fail)
        assert recorded() == 1
