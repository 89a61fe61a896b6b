"""`smsrun ovh lists` and `smsrun ovh lists push` against the loopback OVHcloud fake."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.fake_ovh import FakeOvh
from tests.support.repo import Repo, french_mobiles

N = french_mobiles(5, start=700)


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as f:
        yield f


def env(fake: FakeOvh) -> dict[str, str]:
    return {**fake.credentials, "OVH_REQUESTS_PER_MINUTE": "0"}


def writes(fake: FakeOvh) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.method != "GET"]


def test_lists_shows_the_slots(repo: Repo, fake: FakeOvh) -> None:
    fake.add_receivers_slot(1, N[:3], description="VIP")
    fake.add_receivers_slot(4, N[:2], description="Newsletter", auto_update=True)
    data = json.loads(repo.run("ovh", "lists", "--json", timeout=120, **env(fake)).out)
    assert data["service"] == fake.service_name
    assert [(s["slot_id"], s["description"], s["records"], s["auto_update"]) for s in data["lists"]] == [
        (1, "VIP", 3, False), (4, "Newsletter", 2, True)]
    text = repo.run("ovh", "lists", timeout=120, **env(fake))
    assert text.code == 0, text.both
    assert "VIP" in text.out and "3 receiver(s)" in text.out and "auto-update" in text.out
    assert "2 of 9 slots used" in text.err
    empty = FakeOvh().start()
    try:
        assert json.loads(repo.run("ovh", "lists", "--json", timeout=120, **env(empty)).out)["lists"] == []
    finally:
        empty.stop()


def test_push_a_url(repo: Repo, fake: FakeOvh) -> None:
    fake.add_receivers_slot(1, N[:1], description="old")
    url = fake.host_file("news.csv", "number\n" + "\n".join(N) + "\n")
    result = repo.run("ovh", "lists", "push", "Newsletter", url, "--auto-update", "--json", timeout=120, **env(fake))
    assert result.code == 0, result.both
    data = json.loads(result.out)
    assert data["via"] == "csvUrl" and data["replaced"] is None
    assert (data["list"]["slot_id"], data["list"]["records"], data["list"]["auto_update"]) == (2, 5, True)
    (post,) = [r for r in fake.requests if r.method == "POST"]
    assert post.body == {"slotId": 2, "description": "Newsletter", "autoUpdate": True, "csvUrl": url}


def test_push_a_local_file_uploads_it(repo: Repo, fake: FakeOvh) -> None:
    content = "number;name\n" + "".join(f"{n};x\n" for n in N[:4])
    repo.write("vip.csv", content)
    result = repo.run("ovh", "lists", "push", "VIP clients", "vip.csv", "--slot", "7", timeout=120, **env(fake))
    assert result.code == 0, result.both
    assert "stored in slot 7" in result.out and "4 receiver(s)" in result.out
    assert fake.state.receivers[7]["csv"] == content
    assert fake.state.receivers[7]["slot"]["description"] == "VIP clients"
    assert [w[1] for w in writes(fake)] == ["/me/document", f"/sms/{fake.service_name}/receivers"]
    (post,) = [r for r in fake.requests if r.path.endswith("/receivers") and r.method == "POST"]
    assert post.body["documentId"].startswith("doc-") and post.body["autoUpdate"] is False


def test_push_checks_the_file_before_sending_anything(repo: Repo, fake: FakeOvh) -> None:
    repo.write("bad.csv", "phone\n" + "\n".join(N) + "\n")
    bad = repo.run("ovh", "lists", "push", "X", "bad.csv", timeout=120, **env(fake))
    assert bad.code == 1 and "`number` column" in bad.err
    missing = repo.run("ovh", "lists", "push", "X", "nope.csv", timeout=120, **env(fake))
    assert missing.code == 1 and "no such file" in missing.err
    repo.write("ok.csv", "number\n" + N[0] + "\n")
    auto = repo.run("ovh", "lists", "push", "X", "ok.csv", "--auto-update", timeout=120, **env(fake))
    assert auto.code == 1 and "--auto-update needs a URL" in auto.err
    long = repo.run("ovh", "lists", "push", "x" * 41, "ok.csv", timeout=120, **env(fake))
    assert long.code == 1 and "40 characters" in long.err
    slot = repo.run("ovh", "lists", "push", "X", "ok.csv", "--slot", "10", timeout=120, **env(fake))
    assert slot.code == 1 and "between 1 and 9" in slot.err
    assert writes(fake) == []


def test_push_replaces_only_when_asked(repo: Repo, fake: FakeOvh) -> None:
    fake.add_receivers_slot(3, N[:1], description="Newsletter")
    repo.write("new.csv", "number\n" + "\n".join(N[:3]) + "\n")
    same = repo.run("ovh", "lists", "push", "Newsletter", "new.csv", timeout=120, **env(fake))
    assert same.code == 1 and "--replace" in same.err and writes(fake) == []
    replaced = repo.run("ovh", "lists", "push", "Newsletter", "new.csv", "--replace", "--json", timeout=120,
                        **env(fake))
    assert replaced.code == 0, replaced.both
    data = json.loads(replaced.out)
    assert data["replaced"] == 3 and data["list"]["slot_id"] == 1  # the new list first, then the old one goes
    assert sorted(fake.state.receivers) == [1]
    assert fake.state.receivers[1]["slot"]["records"] == 3
    occupied = repo.run("ovh", "lists", "push", "Other", "new.csv", "--slot", "1", timeout=120, **env(fake))
    assert occupied.code == 1 and "slot 1 holds the list 'Newsletter'" in occupied.err
    forced = repo.run("ovh", "lists", "push", "Other", "new.csv", "--slot", "1", "--replace", "--json", timeout=120,
                      **env(fake))
    assert forced.code == 0, forced.both
    assert fake.state.receivers[1]["slot"]["description"] == "Other" and sorted(fake.state.receivers) == [1]


def test_credentials_come_from_the_environment(repo: Repo) -> None:
    result = repo.run("ovh", "lists")
    assert result.code == 1 and "OVH_APPLICATION_KEY is not set" in result.err and "Traceback" not in result.both
