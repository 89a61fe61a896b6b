"""`smsrun send CAMPAIGN --test-to NUMBER [--as ROW]`: the real message to the author's phone, apart from the
campaign: counted for nobody, blocking nothing, shown in `status`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import ledgerdb
from tests.support.repo import Repo

ME, COLLEAGUE = "+33699999991", "+33699999992"
CSV = "phone,first_name\n+33611111111,Alice\n+33622222222,Bruno\n"
CAMPAIGN = """\
id: promo
sender: ACME Shop
message: "Hi {{ first_name }}, -20% this week"
commercial: true
region: FR
opt_out_text: "STOP au 36111"
recipients:
  - csv: list.csv
window:
  days: [sun]
  start: "03:00"
  end: "03:01"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.write("list.csv", CSV)
    r.write("c.yaml", CAMPAIGN)
    return r


def messages(repo: Repo) -> int:
    found = ledgerdb.query(repo.state, "SELECT count(*) FROM messages")
    return int(found[0][0]) if found else 0


def test_the_first_recipients_message_with_its_stop_mention_goes_to_the_test_number(repo: Repo) -> None:
    result = repo.run("send", "c.yaml", "--test-to", ME, "--json", "--show-numbers")
    assert result.code == 0, result.both
    data = json.loads(result.out)
    assert data["test"] and data["ok"] and data["as"] == "+33611111111" and data["origin"] == "list.csv:2"
    assert data["results"] == [{"to": ME, "status": "sent", "provider_id": data["results"][0]["provider_id"],
                                "reason": None}]
    assert repo.outbox() == [("promo", ME, "Hi Alice, -20% this week\nSTOP au 36111")]
    assert messages(repo) == 0  # nobody counted as sent; the window (closed) does not hold a test


def test_as_a_chosen_recipient_to_several_numbers(repo: Repo) -> None:
    for as_row in ("2", "list.csv:3", "+33622222222", "06 22 22 22 22"):
        result = repo.run("send", "c.yaml", "--test-to", ME, "--test-to", COLLEAGUE, "--as", as_row, "--json")
        assert result.code == 0, result.both
    texts = {text for _, _, text in repo.outbox()}
    assert texts == {"Hi Bruno, -20% this week\nSTOP au 36111"}
    assert {to for _, to, _ in repo.outbox()} == {ME, COLLEAGUE}
    bad = repo.run("send", "c.yaml", "--test-to", ME, "--as", "7")
    assert bad.code == 1 and "has 2 recipient(s)" in bad.err


def test_it_never_blocks_nor_counts_for_the_real_send(repo: Repo) -> None:
    assert repo.run("send", "c.yaml", "--test-to", ME).code == 0
    # the message may still change after a test (nothing was registered for the campaign)
    repo.write("c.yaml", CAMPAIGN.replace("-20%", "-30%").replace('days: [sun]\n  start: "03:00"\n  end: "03:01"',
                                                                   "days: [mon]"))
    assert repo.run("send", "c.yaml", "--test-to", ME).code == 0
    status = json.loads(repo.run("status", "c.yaml", "--json").out)
    assert status["sent"] == 0 and len(status["test_sends"]) == 2
    assert all(t["status"] == "sent" and "•" in t["to"] for t in status["test_sends"])
    text = repo.run("status", "c.yaml").out
    assert "Test sends (not counted above)" in text
    real = repo.run("send", "c.yaml", "--yes", "--json")
    assert real.code == 0, real.both
    assert repo.run("plan", "c.yaml", "--json").code == 0
    assert messages(repo) <= 2


def test_an_opted_out_test_number_and_a_bad_number_are_refused(repo: Repo) -> None:
    assert repo.run("optout", "add", ME).code == 0
    result = repo.run("send", "c.yaml", "--test-to", ME)
    assert result.code == 1 and "opted out" in result.err and ME not in result.err
    assert repo.outbox() == []
    bad = repo.run("send", "c.yaml", "--test-to", "06 12 AB")
    assert bad.code == 1 and "not a valid mobile number" in bad.err


def test_the_text_output(repo: Repo) -> None:
    result = repo.run("send", "c.yaml", "--test-to", ME)
    assert result.code == 0, result.both
    assert "Test send of promo (not counted as sent to anyone)" in result.out
    assert "Hi Alice, -20% this week" in result.out and "STOP au 36111" in result.out
    assert ME not in result.out  # masked unless --show-numbers
