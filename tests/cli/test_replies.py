"""`smsrun replies` against the loopback OVHcloud fake: new replies are pulled once, opt-outs and the
account's STOP list reach the suppression list, and stored replies (the receiver's too) are listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from runner.ledger.store import Ledger
from runner.optout.store import list_optouts
from runner.receiver.store import Reply, store_reply
from tests.support.fake_ovh import FakeOvh
from tests.support.repo import Repo, french_mobiles

N = french_mobiles(6, start=500)


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as f:
        yield f


def env(fake: FakeOvh) -> dict[str, str]:
    return {**fake.credentials, "OVH_REQUESTS_PER_MINUTE": "0"}


def incoming_reads(fake: FakeOvh) -> list[str]:
    return [r.path for r in fake.requests if r.method == "GET" and r.path.count("/") == 4
            and "/incoming/" in r.path]


def test_replies_are_pulled_once_and_opt_outs_suppressed(repo: Repo, fake: FakeOvh) -> None:
    fake.add_incoming(N[0], "STOP")
    fake.add_incoming(N[1], "Arrêt svp")
    fake.add_incoming(N[2], "Merci, à bientôt")
    fake.add_incoming(N[3], "Je voudrais arrêter de recevoir ça")  # not an opt-out: flagged for review
    fake.add_blacklist(N[0])  # OVHcloud stopped this one itself after the STOP
    fake.add_blacklist(N[4])
    first = repo.run("replies", "--provider", "ovh", "--json", timeout=120, **env(fake))
    assert first.code == 0, first.both
    data = json.loads(first.out)
    assert data["provider"] == "ovh" and data["service"] == fake.service_name
    assert [(r["text"], r["opt_out"], r["review"]) for r in data["new"]] == [
        ("STOP", True, False), ("Arrêt svp", True, False), ("Merci, à bientôt", False, False),
        ("Je voudrais arrêter de recevoir ça", False, True)]
    assert [r["sender"] for r in data["new"]] == ["+336••••••00", "+336••••••01", "+336••••••02", "+336••••••03"]
    assert (data["opt_outs"], data["blacklist"], data["suppressed"], data["already_known"]) == (2, 2, 3, 0)
    assert {o.number: o.source for o in list_optouts(repo.state)} == {
        N[0]: "reply:ovh", N[1]: "reply:ovh", N[4]: "ovh:blacklists"}
    assert len(incoming_reads(fake)) == 4

    again = json.loads(repo.run("replies", "--provider", "ovh", "--json", timeout=120, **env(fake)).out)
    assert (again["new"], again["already_known"], again["suppressed"]) == ([], 4, 0)
    assert len(incoming_reads(fake)) == 4  # stored replies are never read again

    fake.add_incoming(N[5], "stop")
    text = repo.run("replies", "--provider", "ovh", "--show-numbers", timeout=120, **env(fake))
    assert text.code == 0, text.both
    assert N[5] in text.out and "STOP" in text.out and "stop" in text.out
    assert "1 new reply" in text.err and "4 already stored" in text.err and "1 number(s) added" in text.err
    with Ledger(repo.state) as ledger:
        assert ledger.db.execute("SELECT count(*), sum(opt_out) FROM replies").fetchone() == (5, 3)


def test_since_narrows_the_listing(repo: Repo, fake: FakeOvh) -> None:
    fake.add_incoming(N[0], "STOP", created=datetime.now(UTC) - timedelta(days=3))
    fake.add_incoming(N[1], "hello")
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    data = json.loads(repo.run("replies", "--provider", "ovh", "--since", since, "--json", timeout=120,
                               **env(fake)).out)
    assert [r["text"] for r in data["new"]] == ["hello"]
    assert any("creationDatetime.from=" in r.query for r in fake.requests if r.path.endswith("/incoming"))
    bad = repo.run("replies", "--provider", "ovh", "--since", "yesterday", timeout=120, **env(fake))
    assert bad.code == 1 and "--since" in bad.err


def test_a_campaign_file_gives_the_provider_and_the_plan_then_suppresses(repo: Repo, fake: FakeOvh) -> None:
    repo.write("list.csv", "phone\n" + "\n".join(N[:3]) + "\n")
    repo.write("c.yaml", f"""\
id: promo
sender: ACME
message: Hello
commercial: false
recipients:
  - csv: list.csv
provider: {{name: ovh, service_name: {fake.service_name}}}
""")
    fake.add_incoming(N[2], "STOP SMS")
    credentials = {k: v for k, v in env(fake).items() if k != "OVH_SERVICE_NAME"}
    result = repo.run("replies", "c.yaml", "--json", timeout=120, **credentials)
    assert result.code == 0, result.both
    assert json.loads(result.out)["service"] == fake.service_name
    plan = json.loads(repo.run("plan", "c.yaml", "--json", timeout=120, **credentials).out)
    assert plan["recipients"]["suppressed"] == 1 and plan["recipients"]["to_send"] == 2


def test_stored_lists_what_the_receiver_and_the_pull_recorded(repo: Repo, fake: FakeOvh) -> None:
    with Ledger(repo.state) as ledger:
        store_reply(ledger, Reply("kannel", "k1", N[0], "STOP", "2026-11-24T10:00:00+00:00"), who="test")
        store_reply(ledger, Reply("twilio", "SM1", N[1], "Don't stop", "2026-11-24T11:00:00+00:00"), who="test")
    fake.add_incoming(N[2], "ok")
    assert repo.run("replies", "--provider", "ovh", timeout=120, **env(fake)).code == 0
    rows = json.loads(repo.run("replies", "--stored", "--json").out)
    assert [(r["provider"], r["text"], r["opt_out"], r["review"]) for r in rows] == [
        ("kannel", "STOP", True, False), ("twilio", "Don't stop", False, True), ("ovh", "ok", False, False)]
    assert all("••••••" in r["sender"] for r in rows)
    only = json.loads(repo.run("replies", "--stored", "--provider", "twilio", "--json", "--show-numbers").out)
    assert [r["sender"] for r in only] == [N[1]]
    last = json.loads(repo.run("replies", "--stored", "--limit", "1", "--json").out)
    assert [r["provider"] for r in last] == ["ovh"]
    text = repo.run("replies", "--stored")
    assert text.code == 0 and "3 replies stored" in text.err and "review" in text.out
    assert N[0] not in text.out


def test_errors_are_clear(repo: Repo, fake: FakeOvh) -> None:
    nothing = repo.run("replies")
    assert nothing.code == 1 and "--provider ovh" in nothing.err
    kannel = repo.run("replies", "--provider", "kannel")
    assert kannel.code == 1 and "smsrun receive" in kannel.err and "Traceback" not in kannel.both
    no_creds = repo.run("replies", "--provider", "ovh")
    assert no_creds.code == 1 and "OVH_APPLICATION_KEY is not set" in no_creds.err
    both = repo.run("replies", "c.yaml", "--provider", "ovh", timeout=120, **env(fake))
    assert both.code == 1
