"""OVHcloud request signing: the reference's worked examples, the official ``ovh`` package, the fake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import ovh  # type: ignore[import-untyped]
import pytest

from runner.errors import CredentialsError
from runner.providers.ovh import OvhClient, api, sign
from runner.providers.ovh.client import encode_body, encode_query
from tests.support.fake_ovh import FakeOvh

AK = "7kbG7Bk7S9Nt7ZSV"
AS = "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF"
CK = "MtSwSrPpNjqfVSmJhLbPyr2i45lSDRk3"
TS = 1366560945


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


def ours(method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> tuple[str, str, str]:
    client = OvhClient("ovh-eu", AK, AS, CK, requests_per_minute=None)
    try:
        request = client.build_request(method, path, params, body, timestamp=TS)
        return str(request.url), request.content.decode(), request.headers["X-Ovh-Signature"]
    finally:
        client.close()


class _Captured:
    status_code = 200

    def json(self) -> Any:
        return {}


def official(
    monkeypatch: pytest.MonkeyPatch, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
) -> tuple[str, str, str]:
    """What python-ovh sends for the same call, captured at its HTTP layer with a frozen clock."""
    client = ovh.Client(endpoint="ovh-eu", application_key=AK, application_secret=AS, consumer_key=CK)
    client._time_delta = 0
    seen: dict[str, Any] = {}

    def request(method: str, url: str, headers: dict[str, str], data: str, timeout: Any) -> _Captured:
        seen.update(url=url, headers=dict(headers), data=data)
        return _Captured()

    monkeypatch.setattr(client._session, "request", request)
    monkeypatch.setattr(time, "time", lambda: float(TS))
    if method == "GET":
        client.get(path, **(params or {}))
    elif method == "DELETE":
        client.delete(path)
    elif method == "POST":
        client.post(path, **(body or {}))
    else:
        client.put(path, **(body or {}))
    monkeypatch.undo()
    return seen["url"], seen["data"], seen["headers"]["X-Ovh-Signature"]


def test_reference_worked_examples() -> None:
    # ovh-sms-api.md §1.5, (a), (b) and (c)
    url, body, signature = ours(
        "POST",
        "/sms/sms-ab12345-1/jobs",
        body={
            "message": "Hello",
            "receivers": ["+33600000000"],
            "sender": "MYSHOP",
            "noStopClause": False,
            "priority": "high",
        },
    )
    assert url == "https://eu.api.ovh.com/1.0/sms/sms-ab12345-1/jobs"
    assert body == (
        '{"message":"Hello","receivers":["+33600000000"],"sender":"MYSHOP","noStopClause":false,"priority":"high"}'
    )
    assert signature == "$1$5385e274b2cadc4f5676a9068e3f5177aa20cb10"

    url, body, signature = ours(
        "GET", "/sms/sms-ab12345-1/outgoing", {"tag": "campaign-42", "receiver": "+33600000000"}
    )
    assert url == "https://eu.api.ovh.com/1.0/sms/sms-ab12345-1/outgoing?tag=campaign-42&receiver=%2B33600000000"
    assert body == ""
    assert signature == "$1$cc60c59ad7c334e15f884458fca193cf0f141541"

    _, body, signature = ours(
        "POST", "/sms/estimate", body={"message": "Café €", "noStopClause": False, "senderType": "alpha"}
    )
    assert body == '{"message":"Caf\\u00e9 \\u20ac","noStopClause":false,"senderType":"alpha"}'
    assert signature == "$1$6c5879f786857d27aa9c646a81f13194ae546d39"


def test_python_ovh_test_vectors() -> None:
    secret, consumer, stamp = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk", "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY", 1457018875
    url = "https://eu.api.ovh.com/1.0/auth"
    assert sign(secret, consumer, "GET", url, "", stamp) == "$1$e9556054b6309771395efa467c22e627407461ad"
    assert (
        sign(secret, consumer, "POST", url, encode_body({"a": "b", "c": "d"}), stamp)
        == "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1"
    )


CALLS: list[tuple[str, str, dict[str, Any] | None, Any]] = [
    ("GET", "/sms", None, None),
    ("GET", "/sms/sms-ab12345-1/outgoing", {"tag": "campaign-42", "receiver": "+33600000000"}, None),
    (
        "GET",
        "/sms/sms-ab12345-1/outgoing",
        {"creationDatetime.from": "2026-11-24T10:00:00+01:00", "deliveryReceipt": 1},
        None,
    ),
    ("GET", "/sms/sms-ab12345-1/blacklists", {"batchID": "a b&c=d/é"}, None),
    ("GET", "/sms/sms-ab12345-1/senders/%2B33612345678", None, None),
    (
        "POST",
        "/sms/sms-ab12345-1/jobs",
        None,
        {
            "message": "Bonjour Zoé, -20 % ce week-end ! {promo} €\nà bientôt",
            "receivers": ["+33612345678", "+33698765432"],
            "senderForResponse": True,
            "noStopClause": False,
            "charset": "UTF-8",
            "coding": "8bit",
            "tag": "spring-0123456789ab",
            "differedPeriod": 90,
        },
    ),
    ("PUT", "/sms/sms-ab12345-1/receivers/3", None, {"description": "clients", "autoUpdate": True}),
    ("DELETE", "/sms/sms-ab12345-1/receivers/3", None, None),
]


@pytest.mark.parametrize(("method", "path", "params", "body"), CALLS)
def test_signatures_equal_the_official_package(
    monkeypatch: pytest.MonkeyPatch, method: str, path: str, params: dict[str, Any] | None, body: Any
) -> None:
    their_url, their_body, their_signature = official(monkeypatch, method, path, params, body)
    our_url, our_body, our_signature = ours(method, path, params, body)
    assert our_url == their_url
    assert our_body == their_body
    assert our_signature == their_signature


def test_query_encoding_matches_python_ovh() -> None:
    assert encode_query({"a": True, "b": None, "c": "+33 6"}) == "a=true&b=null&c=%2B33+6"


def test_the_fake_accepts_the_official_package_and_refuses_a_wrong_secret(fake: FakeOvh) -> None:
    good = ovh.Client(
        endpoint="ovh-eu",
        application_key=fake.application_key,
        application_secret=fake.application_secret,
        consumer_key=fake.consumer_key,
    )
    good._endpoint = fake.base_url
    assert good.get("/sms") == [fake.service_name]
    assert good.get(f"/sms/{fake.service_name}/outgoing", tag="x", receiver="+33600000000") == []

    bad = ovh.Client(
        endpoint="ovh-eu",
        application_key=fake.application_key,
        application_secret="not-the-secret",
        consumer_key=fake.consumer_key,
    )
    bad._endpoint = fake.base_url
    with pytest.raises(ovh.exceptions.APIError):
        bad.get("/sms")


def test_clock_offset_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOvh(clock_skew=7200, time_tolerance=30) as fake:
        client = OvhClient(
            fake.base_url, fake.application_key, fake.application_secret, fake.consumer_key, requests_per_minute=None
        )
        with client:
            for _ in range(3):
                assert api.list_services(client) == [fake.service_name]
            assert 7199 <= client.time_delta() <= 7201
        assert [r.path for r in fake.requests].count("/auth/time") == 1


def test_secrets_never_in_reprs_or_messages() -> None:
    with FakeOvh() as fake:
        client = OvhClient(fake.base_url, fake.application_key, "wrong-secret-value", fake.consumer_key)
        assert fake.consumer_key not in repr(client) and "wrong-secret-value" not in repr(client)
        with client, pytest.raises(CredentialsError) as info:
            api.list_services(client)
        text = str(info.value)
        assert "OVH_APPLICATION_SECRET" in text
        for secret in ("wrong-secret-value", fake.consumer_key, fake.application_key, fake.application_secret):
            assert secret not in text
        assert info.value.query_id and info.value.query_id.startswith("FAKE.")
