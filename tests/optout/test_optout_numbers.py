"""Issue 15, group 1: an opt-out is stored as E.164 or refused with a clear error, never silently kept in a
form that matches nobody; an exclusion that cannot be read fails the plan."""

from __future__ import annotations

import json
import sqlite3

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import SmsrunError
from runner.optout.numbers import optout_number
from tests.support.repo import Repo, french_mobiles


def _stored(repo: Repo) -> list[str]:
    db = sqlite3.connect(repo.state / "ledger.sqlite")
    try:
        return [r[0] for r in db.execute("SELECT number FROM optouts ORDER BY number")]
    finally:
        db.close()


def test_national_number_without_region_is_refused_not_stored(repo: Repo) -> None:
    result = repo.run("optout", "add", "06 12 34 00 05")
    assert result.code == 1, result.both
    assert "without a country code" in result.err and "--region" in result.err and "SMSRUN_REGION" in result.err
    assert "added" not in result.out
    assert not (repo.state / "ledger.sqlite").exists() or _stored(repo) == []


def test_national_number_with_a_region_setting_is_stored_as_e164(repo: Repo) -> None:
    assert repo.run("optout", "add", "06 12 34 00 05", "--region", "FR").code == 0
    assert repo.run("optout", "add", "06 12 34 00 06", SMSRUN_REGION="FR").code == 0
    assert _stored(repo) == ["+33612340005", "+33612340006"]


def test_one_bad_number_adds_none_of_the_command(repo: Repo) -> None:
    result = repo.run("optout", "add", "+33612340005", "+33 6 12 CALL ME")
    assert result.code == 1 and "letters" in result.err, result.both
    assert not (repo.state / "ledger.sqlite").exists() or _stored(repo) == []


def test_import_names_the_invalid_lines_and_fails(repo: Repo) -> None:
    repo.write("stop.csv", "phone\n+33612340001\n0612340002\nnot a number\n+33 6 12 34 00 04 ext. 5\n")
    result = repo.run("optout", "import", "stop.csv")
    assert result.code == 1, result.both
    assert "stop.csv:3: error:" in result.err and "country code" in result.err
    assert "stop.csv:4: error:" in result.err and "stop.csv:5: error:" in result.err
    assert "1 number(s) added, 3 invalid" in result.out
    assert _stored(repo) == ["+33612340001"]  # the readable one is honoured at once
    again = repo.run("optout", "import", "stop.csv", "--region", "FR")
    assert again.code == 1 and "stop.csv:3" not in again.err
    assert _stored(repo) == ["+33612340001", "+33612340002"]


def test_an_opted_out_national_number_is_not_sent_to(repo: Repo) -> None:
    numbers = french_mobiles(3)
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("c.yaml", "id: c\nsender: ACME\nmessage: Hi\ncommercial: false\nrecipients:\n  - csv: list.csv\n")
    national = "0" + numbers[1][3:]
    assert repo.run("optout", "add", national, SMSRUN_REGION="FR").code == 0
    sent = repo.run("send", "c.yaml", "--yes", "--json")
    assert sent.code == 0, sent.both
    assert sorted(r for _, r, _ in repo.outbox()) == [numbers[0], numbers[2]]


def test_unreadable_exclusion_fails_the_plan(repo: Repo) -> None:
    numbers = french_mobiles(3)
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("dnc.csv", "phone\n+33 6 1X 00 00 01\n\n+33 1 44 55 66 77\n")  # unreadable, blank, a fixed line
    repo.write("c.yaml", "id: c\nsender: ACME\nmessage: Hi\ncommercial: false\nrecipients:\n  - csv: list.csv\n"
                         "exclude:\n  - csv: dnc.csv\n")
    result = repo.run("plan", "c.yaml")
    assert result.code == 1, result.both
    assert "dnc.csv:2" in result.out and "cannot be read" in result.out
    assert repo.run("send", "c.yaml", "--yes").code == 1
    assert repo.outbox() == []
    repo.write("dnc.csv", "phone\n+33 1 44 55 66 77\n")  # a fixed line only excludes nobody: a warning
    assert repo.run("plan", "c.yaml").code == 0


def test_receiver_store_never_reports_added_for_an_unusable_sender(repo: Repo) -> None:
    from runner.ledger.store import Ledger
    from runner.receiver.store import Reply, store_reply

    with Ledger(repo.state) as ledger:
        outcome = store_reply(ledger, Reply("kannel", "r1", "0612340005", "STOP"), who="test")
    assert outcome.opt_out and not outcome.suppressed
    assert outcome.suppress_error and "country code" in outcome.suppress_error
    assert _stored(repo) == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789 +-.()/abcdefxtABCXT;#,*", max_size=24),
       st.sampled_from([None, "FR", "BE", "US"]))
def test_optout_number_is_e164_or_refused(raw: str, region: str | None) -> None:
    """Whatever is written: an E.164 string that phonenumbers reads back to itself, or SmsrunError."""
    try:
        e164 = optout_number(raw, region)
    except SmsrunError as exc:
        assert exc.message
        return
    assert e164.startswith("+") and e164[1:].isdigit()
    parsed = phonenumbers.parse(e164, None)
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == e164
    assert not any(ch.isalpha() for ch in raw)  # letters never reach the store


@pytest.mark.parametrize("raw", ["+33 6 12 CALL ME", "+33612345678;ext=2", "+33612345678 ext. 5", "\x00",
                                 "STOP", "+", "36180"])
def test_optout_number_refuses(raw: str) -> None:
    with pytest.raises(SmsrunError):
        optout_number(raw, None)


def test_list_json_shows_stored_numbers(repo: Repo) -> None:
    assert repo.run("optout", "add", "+32 470 12 34 56").code == 0
    rows = json.loads(repo.run("optout", "list", "--json", "--show-numbers").out)
    assert [r["number"] for r in rows] == ["+32470123456"]


def test_an_opt_out_stored_as_written_by_an_older_smsrun_is_reported(repo: Repo) -> None:
    repo.write("list.csv", "phone\n+33612340005\n")
    repo.write("c.yaml", "id: c\nsender: ACME\nmessage: Hi\ncommercial: false\nrecipients:\n  - csv: list.csv\n")
    assert repo.run("optout", "add", "+33612340009").code == 0  # makes the ledger
    _sql_insert(repo, "0612340005")
    result = repo.run("plan", "c.yaml")
    assert "1 opt-out(s) are not in international form" in result.both and "--region" in result.both
    assert repo.run("optout", "add", "0612340005", "--region", "FR").code == 0
    assert "to send          0" in repo.run("plan", "c.yaml").out


def _sql_insert(repo: Repo, number: str) -> None:
    db = sqlite3.connect(repo.state / "ledger.sqlite", isolation_level=None)
    try:
        db.execute("INSERT INTO optouts (number, added_at, added_by, reason, source) VALUES (?, 'x', 'x', 'x', 'x')",
                   (number,))
    finally:
        db.close()
