"""Each documented kind of campaign error, at its exact position, with a message a person can act on;
several errors in one file are all reported; `smsrun validate` shows them as ``file:line:col: error:``
and exits 1, never with a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.campaign.model import Campaign
from runner.check import load_campaign
from runner.errors import CampaignError

BASE = """\
id: promo
message: Hello
commercial: false
recipients:
  - numbers: ['+33612345678']
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "list.csv").write_text("phone\n+33612345678\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(repo: Path, text: str, name: str = "c.yaml") -> list[tuple[int, int, str]]:
    (repo / name).write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        load_campaign(repo / name)
    assert caught.value.diagnostics, caught.value
    for d in caught.value.diagnostics:
        assert d.path == name and d.line >= 1 and d.col >= 1, d
    return [(d.line, d.col, d.message) for d in caught.value.diagnostics if d.severity == "error"]


def one(repo: Path, text: str) -> tuple[int, int, str]:
    found = problems(repo, text)
    assert len(found) == 1, found
    return found[0]


def loads(repo: Path, text: str) -> Campaign:
    (repo / "ok.yaml").write_text(text, encoding="utf-8")
    return load_campaign(repo / "ok.yaml")


def test_the_base_campaign_is_valid(repo: Path) -> None:
    assert loads(repo, BASE).id == "promo"


# -- unknown keys, with "did you mean" ----------------------------------------------------------------------------
def test_unknown_top_level_key(repo: Path) -> None:
    assert one(repo, BASE + "mesage: hi\n") == (
        6, 1, "unknown key 'mesage' in the document (did you mean 'message'?)")


def test_unknown_nested_key(repo: Path) -> None:
    assert one(repo, BASE + "limits:\n  max_recipients: 5\n  max_part: 3\n") == (
        8, 3, "unknown key 'max_part' in limits (did you mean 'max_parts'?)")


def test_unknown_key_without_a_close_match_lists_the_allowed_ones(repo: Path) -> None:
    line, col, message = one(repo, BASE + "zzz: 1\n")
    assert (line, col) == (6, 1)
    assert "unknown key 'zzz'" in message and "allowed:" in message and "recipients" in message


def test_unknown_key_in_a_source(repo: Path) -> None:
    found = problems(repo, BASE.replace("- numbers: ['+33612345678']", "- csv: list.csv\n    colum: phone"))
    assert (6, 5, "unknown key 'colum' in recipients[0] (did you mean 'column'?)") in found


# -- wrong types --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "position", "message"), [
    (("commercial: false", "commercial: maybe"), (3, 13), "commercial must be a boolean, not a string"),
    (("commercial: false", "commercial: NO"), (3, 13), "commercial must be a boolean, not a string"),
    (("message: Hello", "message: [Hello]"), (2, 10), "message must be a string, not a list"),
    (("recipients:\n  - numbers: ['+33612345678']", "recipients: {numbers: ['+33612345678']}"), (4, 13),
     "recipients must be a list, not a mapping"),
    (("message: Hello", "message:"), (2, 9), "message must be a string, not a null"),
])
def test_wrong_type(repo: Path, change: tuple[str, str], position: tuple[int, int], message: str) -> None:
    assert one(repo, BASE.replace(*change)) == (*position, message)


def test_wrong_type_nested(repo: Path) -> None:
    assert one(repo, BASE + "limits: {max_parts: two}\n") == (
        6, 21, "limits.max_parts must be an integer, not a string")


# -- missing keys -------------------------------------------------------------------------------------------------
def test_missing_required_key(repo: Path) -> None:
    assert one(repo, BASE.replace("commercial: false\n", "")) == (
        1, 1, "missing required key 'commercial' in the document")


def test_missing_required_nested_key(repo: Path) -> None:
    assert one(repo, BASE.replace("numbers: ['+33612345678']", "ovh-phonebook: {groups: [a]}")) == (
        5, 5, "missing required key 'book' in recipients[0].ovh-phonebook")


def test_empty_file_and_non_mapping(repo: Path) -> None:
    for text in ("", "# only a comment\n", "- a list\n", "just text\n"):
        line, col, message = one(repo, text)
        assert (line, col) == (1, 1) and "must be a mapping" in message


# -- senders and URLs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sender", ["ABCDEFGHIJKL", "AB", "'12345'", "ACME!", "'+0612'"])
def test_bad_sender(repo: Path, sender: str) -> None:
    line, col, message = one(repo, BASE + f"sender: {sender}\n")
    assert (line, col) == (6, 9)
    assert message.startswith(f"sender {sender.strip(chr(39))!r} is not valid")
    assert "3 to 11 letters" in message


@pytest.mark.parametrize("sender", ["ACME", "ACME Shop", "ABCDEFGHIJK", "'+33612345678'", "short-code"])
def test_good_senders(repo: Path, sender: str) -> None:
    assert loads(repo, BASE + f"sender: {sender}\n").sender.kind in ("alphanumeric", "number", "short-code")


@pytest.mark.parametrize("message", ["See https://acme.example/promo", "Go to www.acme.example", "Visit acme.fr now"])
def test_a_url_in_a_short_code_message(repo: Path, message: str) -> None:
    line, col, text = one(repo, BASE.replace("message: Hello", f"message: {message}"))
    assert (line, col) == (2, 10)
    assert "URL cannot be sent from the short-code sender" in text
    assert loads(repo, BASE.replace("message: Hello", f"message: {message}") + "sender: ACME\n").message == message


# -- dates and times ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["'2026-13-01T00:00:00Z'", "'2026-12-01T09:00:00'", "2026-12-01", "tomorrow",
                                   "'2026-12-01 25:00:00+01:00'"])
def test_bad_date_time(repo: Path, value: str) -> None:
    line, col, message = one(repo, BASE + f"schedule:\n  not_before: {value}\n")
    assert (line, col) == (7, 15)
    assert "is not a valid date-time" in message and "2026-12-01T09:00:00+01:00" in message


def test_schedule_end_before_start(repo: Path) -> None:
    assert one(repo, BASE + "schedule:\n  not_before: '2026-12-02T09:00:00+01:00'\n"
                            "  not_after: '2026-12-01T09:00:00+01:00'\n") == (
        8, 14, "schedule.not_after must be after schedule.not_before")


def test_unquoted_date_times_and_times_are_text(repo: Path) -> None:
    campaign = loads(repo, BASE + "schedule:\n  not_before: 2026-12-01T09:00:00+01:00\n"
                                  "window:\n  start: 09:00\n  end: 18:00\n")
    assert campaign.schedule.not_before is not None and campaign.schedule.not_before.hour == 9
    assert campaign.window is not None and (campaign.window.start, campaign.window.end) == ("09:00", "18:00")


def test_a_malformed_unquoted_time_is_reported_as_a_time(repo: Path) -> None:
    line, col, message = one(repo, BASE + "window:\n  start: 8:30\n")
    assert (line, col) == (7, 10)
    assert "'8:30'" in message and "HH:MM" in message


def test_window_end_before_start(repo: Path) -> None:
    line, col, message = one(repo, BASE + "window:\n  start: '18:00'\n  end: '09:00'\n")
    assert (line, col) == (8, 8) and "must be after window.start" in message


# -- numbers written unquoted ------------------------------------------------------------------------------------------
def test_phone_numbers_written_as_yaml_ints(repo: Path) -> None:
    found = problems(repo, BASE.replace("['+33612345678']", "[+33612345678, '+33698765432', 33612345678]"))
    assert [(line, col) for line, col, _ in found] == [(5, 15), (5, 45)]
    for _, _, message in found:
        assert "must be a string, not an integer" in message
        assert "write phone numbers as quoted strings" in message


def test_a_national_number_with_only_octal_digits_is_an_int_too(repo: Path) -> None:
    (line, col, message), = problems(repo, BASE.replace("['+33612345678']", "[0612345670]"))
    assert (line, col) == (5, 15) and "quoted strings" in message


def test_ids_and_senders_written_as_numbers(repo: Path) -> None:
    assert one(repo, BASE.replace("id: promo", "id: 2026")) == (1, 5, "id must be a string, not an integer")
    assert one(repo, BASE + "sender: 36111\n") == (6, 9, "sender must be a string, not an integer")


def test_a_non_finite_number_where_no_number_goes_is_a_type_error(repo: Path) -> None:
    """It used to pass the schema (whose non-finite problems the loader reports) and crash the loader."""
    assert one(repo, BASE.replace("Hello", ".inf")) == (2, 10, "message must be a string, not a number")
    text = BASE.replace("recipients:\n  - numbers: ['+33612345678']\n", "recipients: .nan\n")
    assert one(repo, text) == (4, 13, "recipients must be a list, not a number")


def test_non_finite_numbers(repo: Path) -> None:
    assert one(repo, BASE + "limits:\n  rate: .nan\n") == (7, 9, "limits.rate: nan is not a finite number")
    assert one(repo, BASE + "cost:\n  prices: {FR: .inf}\n") == (7, 16, "cost.prices.FR: inf is not a finite number")


def test_keys_written_as_numbers_or_booleans(repo: Path) -> None:
    line, col, message = one(repo, BASE + "cost:\n  prices: {33: 1}\n")
    assert (line, col) == (7, 12) and "key '33' is read as an integer" in message and "quote it" in message
    line, col, message = one(repo, BASE.replace("commercial: false", "commercial: false\ntrue: 1"))
    assert (line, col) == (4, 1) and "boolean" in message


# -- YAML itself ------------------------------------------------------------------------------------------------------
def test_duplicate_key(repo: Path) -> None:
    assert one(repo, BASE + "message: again\n") == (6, 1, "duplicate key 'message' (first at line 2)")


def test_duplicate_key_in_a_nested_mapping(repo: Path) -> None:
    assert one(repo, BASE + "limits:\n  max_parts: 2\n  max_parts: 3\n") == (
        8, 3, "duplicate key 'max_parts' (first at line 7)")


@pytest.mark.parametrize(("text", "position", "fragment"), [
    (BASE + "limits: {max_parts: 2\n", (7, 1), "YAML syntax"),
    (BASE + "limits:\n\tmax_parts: 2\n", (7, 1), "tab"),
    ("id: promo\nmessage: 'unclosed\ncommercial: false\n", (4, 1), "YAML syntax"),
    (BASE + "  - numbers: ['+33612345678']\n extra: 1\n", (7, 2), "YAML syntax"),
    ("id: promo\nmessage: \"bad \\q escape\"\n", (2, 15), "escape"),
    (BASE + "x: *undefined\n", (6, 4), "undefined alias"),
    (BASE + "x: \x07\n", (6, 4), "U+0007"),
])
def test_yaml_syntax_errors(repo: Path, text: str, position: tuple[int, int], fragment: str) -> None:
    line, col, message = one(repo, text)
    assert (line, col) == position, message
    assert fragment.lower() in message.lower()


def test_a_template_syntax_error_points_into_the_message(repo: Path) -> None:
    assert one(repo, BASE.replace("message: Hello", "message: 'Hello {{ first_name '")) == (
        2, 10, "message template: unexpected end of template, expected 'end of print statement'.")
    line, col, message = one(repo, BASE.replace("message: Hello", "message: |\n  Hello\n  {% if x %}\n  bye"))
    assert (line, col) == (4, 3) and "endif" in message  # the line of the unclosed {% if %}


# -- files and sources -------------------------------------------------------------------------------------------------
def test_missing_csv_file(repo: Path) -> None:
    assert one(repo, BASE.replace("numbers: ['+33612345678']", "csv: nope.csv")) == (5, 10, "'nope.csv': no such file")


def test_missing_address_book(repo: Path) -> None:
    assert one(repo, BASE.replace("numbers: ['+33612345678']", "addressbook: books/nope.yaml")) == (
        5, 18, "'books/nope.yaml': no such file")


def test_a_folder_is_not_a_csv(repo: Path) -> None:
    (repo / "lists").mkdir()
    assert one(repo, BASE.replace("numbers: ['+33612345678']", "csv: lists")) == (5, 10, "'lists': not a file")


def test_a_source_with_two_kinds(repo: Path) -> None:
    found = problems(repo, BASE.replace("numbers: ['+33612345678']", "numbers: ['+33612345678']\n    csv: list.csv"))
    assert (5, 5, "a source takes exactly one of addressbook, csv, numbers, ovh-phonebook, ovh-receivers; "
                  "this one has csv, numbers") in found
    assert all((line, col) == (5, 5) for line, col, _ in found)


def test_a_source_with_no_kind(repo: Path) -> None:
    assert one(repo, BASE.replace("numbers: ['+33612345678']", "region: FR")) == (
        5, 5, "a source needs one of: addressbook, csv, numbers, ovh-phonebook, ovh-receivers")


def test_an_unusable_csv_encoding(repo: Path) -> None:
    text = BASE.replace("numbers: ['+33612345678']", "csv: list.csv\n    encoding: {enc}")
    assert one(repo, text.format(enc="rot13"))[2] == "recipients[0].encoding: 'rot13' is not a text encoding " \
                                                      "(e.g. utf-8, latin-1, cp1252)"
    line, col, message = one(repo, text.format(enc="klingon"))
    assert (line, col) == (6, 15) and "unknown encoding 'klingon'" in message
    assert loads(repo, text.format(enc="cp1252")).sources[0].options["encoding"] == "cp1252"


@pytest.mark.parametrize("name", ['"list\\0.csv"', "a" * 5000 + ".csv"])
def test_unusable_file_names(repo: Path, name: str) -> None:
    line, col, message = one(repo, BASE.replace("numbers: ['+33612345678']", f"csv: {name}"))
    assert (line, col) == (5, 10)
    assert "not a usable file name" in message or "File name too long" in message


def test_a_secret_in_provider_settings(repo: Path) -> None:
    assert one(repo, BASE + "provider:\n  name: ovh\n  application_secret: abc\n") == (
        8, 3, "provider.application_secret looks like a secret: secrets come only from environment variables, "
              "never from campaign files")


def test_a_commercial_campaign_without_opt_out(repo: Path) -> None:
    line, col, message = one(repo, BASE.replace("commercial: false", "commercial: true"))
    assert (line, col) == (3, 13) and "needs opt_out_text" in message


# -- several problems at once -----------------------------------------------------------------------------------------
MANY = """\
id: Bad Id
mesage: hi
commercial: maybe
sender: ABCDEFGHIJKL
recipients:
  - numbers: [+33612345678]
  - csv: nope.csv
schedule:
  not_before: '2026-13-01T00:00:00Z'
limits:
  max_parts: 0
"""


def test_several_errors_in_one_file_are_all_reported_in_order(repo: Path) -> None:
    found = problems(repo, MANY)
    positions = [(line, col) for line, col, _ in found]
    assert positions == sorted(positions)
    assert (1, 1) in positions  # missing 'message'
    assert (1, 5) in positions  # the id
    assert (2, 1) in positions  # mesage -> message
    assert (3, 13) in positions  # commercial
    assert (4, 9) in positions  # sender
    assert (6, 15) in positions  # the unquoted number
    assert (9, 15) in positions  # the date
    assert (11, 14) in positions  # max_parts minimum


def test_semantic_errors_are_all_reported_together(repo: Path) -> None:
    text = ("id: promo\nmessage: 'See https://acme.example {{ x'\ncommercial: true\nrecipients:\n"
            "  - csv: nope.csv\n  - csv: ../outside.csv\nlimits:\n  rate: .inf\n")
    found = problems(repo, text)
    assert [(line, col) for line, col, _ in found] == [(2, 10), (2, 10), (3, 13), (5, 10), (6, 10), (8, 9)], found


# -- through the command ---------------------------------------------------------------------------------------------
def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from runner.cli.main import run as main

    with pytest.raises(SystemExit) as caught:
        main(args)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_validate_prints_every_problem_and_exits_1(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "many.yaml").write_text(MANY, encoding="utf-8")
    code, out, err = run(["validate", "many.yaml"], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert len(lines) >= 8
    for line in lines:
        assert line.startswith("many.yaml:") and ": error: " in line, line
    assert "many.yaml:2:1: error: unknown key 'mesage' in the document (did you mean 'message'?)" in lines
    data = json.loads(run(["validate", "many.yaml", "--format", "json"], capsys)[1])
    assert data["ok"] is False
    assert {(p["line"], p["col"]) for p in data["files"][0]["problems"]} >= {(2, 1), (3, 13), (4, 9), (6, 15)}


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", b"\xff\xfe\xfd", b"a: &a [*a]\n", b"a: [" * 1000,
                                     b"recipients: !!python/object/apply:os.system ['touch hacked']\n"])
def test_validate_and_plan_never_crash_on_junk(repo: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    (repo / "junk.yaml").write_bytes(content)
    for command in (["validate", "junk.yaml"], ["plan", "junk.yaml"], ["plan", "junk.yaml", "--json"]):
        code, out, err = run(command, capsys)
        assert code == 1, (command, out, err)
        assert "Traceback" not in out + err and "internal error" not in err
        assert "junk.yaml:" in out + err
    assert not os.path.exists(repo / "hacked")
