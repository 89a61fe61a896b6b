"""`smsrun validate` tells what `plan` would refuse, without network or ledger, each problem at the campaign
key that causes it (the data row second); `fields:` maps template fields to a source's columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.repo import Repo

CSV = "phone;Prénom;ville\n+33611111111;Alice;Paris\n+33622222222;Bruno;Lyon\n"
BOOK = """\
contacts:
  - name: Alice
    phone: "+33633333333"
    groups: [vip]
    fields: {first_name: Alice}
  - name: Bruno
    phone: "+33644444444"
    groups: [staff]
"""


def campaign(body: str, *, message: str = "Hello {{ first_name }}!", extra: str = "") -> str:
    return (f"id: c\nsender: ACME Shop\nmessage: \"{message}\"\ncommercial: false\nrecipients:\n{body}"
            f"{extra}")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.write("list.csv", CSV)
    r.write("book.yaml", BOOK)
    return r


def problems(repo: Repo, text: str) -> list[dict[str, object]]:
    repo.write("c.yaml", text)
    result = repo.run("validate", "c.yaml", "--format", "json")
    data = json.loads(result.out)
    found: list[dict[str, object]] = data["files"][0]["problems"]
    assert result.code == (1 if any(p["severity"] == "error" for p in found) else 0), result.both
    return found


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_a_wrong_column_is_an_error_on_the_column_line_with_the_header_second(repo: Repo) -> None:
    text = campaign("  - csv: list.csv\n    column: phon\n", message="Hi")
    [p] = problems(repo, text)
    assert p["line"] == line_of(text, "column: phon") and p["col"] == 13
    assert "no column named 'phon'" in str(p["message"]) and "list.csv" in str(p["message"])
    assert p["related"] == [{"path": "list.csv", "line": 1, "col": 1, "note": "here"}]
    # the text form: the campaign key first, the CSV's position on a note line
    out = repo.run("validate", "c.yaml").out
    assert out.splitlines()[0].startswith(f"c.yaml:{line_of(text, 'column: phon')}:13: error: list.csv: no column")
    assert out.splitlines()[1].strip() == "list.csv:1:1: note: here"


def test_a_template_field_some_source_lacks_is_an_error_on_the_message_line(repo: Repo) -> None:
    text = campaign("  - addressbook: book.yaml\n  - csv: list.csv\n    fields: {first_name: Prénom}\n")
    [p] = problems(repo, text)
    assert (p["line"], p["col"]) == (line_of(text, "message:"), 10)
    assert "first_name" in str(p["message"]) and "for 1 recipient row(s)" in str(p["message"])
    assert p["related"] == [{"path": "book.yaml", "line": 6, "col": 1, "note": "row concerned"}]  # Bruno


def test_a_default_satisfies_every_source(repo: Repo) -> None:
    text = campaign("  - addressbook: book.yaml\n  - csv: list.csv\n", message="Hi {{ first_name | default('you') }}")
    assert problems(repo, text) == []


def test_a_message_over_max_parts_is_an_error_at_the_message_with_the_limit_second(repo: Repo) -> None:
    long = "Hello {{ prenom }} " + "x" * 170
    text = campaign("  - csv: list.csv\n", message=long, extra="limits:\n  max_parts: 1\n")
    [p] = problems(repo, text)
    assert p["line"] == line_of(text, "message:")
    assert "2 SMS parts, more than limits.max_parts (1), for 2 recipient row(s)" in str(p["message"])
    related = p["related"]
    assert isinstance(related, list)
    assert [r["line"] for r in related] == [2, 3, line_of(text, "max_parts")]


def test_the_stop_mention_counts_towards_max_parts(repo: Repo) -> None:
    # 150 characters fit one part; with the outbox's opt_out_text appended they do not
    text = ("id: c\nsender: ACME Shop\nmessage: \"" + "y" * 150 + "\"\ncommercial: true\n"
            "opt_out_text: STOP au 36111\nrecipients:\n  - csv: list.csv\nlimits:\n  max_parts: 1\n")
    [p] = problems(repo, text)
    assert "more than limits.max_parts" in str(p["message"])


def test_unknown_groups_and_contacts_are_errors_at_their_keys(repo: Repo) -> None:
    text = campaign("  - addressbook: book.yaml\n    groups: [vipp]\n    contacts: [Alicia]\n",
                    message="Hi")
    found = problems(repo, text)
    assert {(p["line"], str(p["message"]).split(" (")[0]) for p in found} == {
        (line_of(text, "groups:"), "no contact in group 'vipp' in book.yaml"),
        (line_of(text, "contacts:"), "no contact named 'Alicia' in book.yaml"),
    }


def test_encoding_and_delimiter_problems_point_at_the_source(repo: Repo) -> None:
    repo.write("bad.csv", "phone\n\"+33611111111\n")
    (repo.path / "latin.csv").write_bytes("phone;nom\n+33611111111;Andr\xe9\n".encode("latin-1"))
    text = campaign("  - csv: latin.csv\n    encoding: utf-8\n  - csv: bad.csv\n", message="Hi")
    found = problems(repo, text)
    lines = {p["line"] for p in found}
    assert line_of(text, "encoding: utf-8") in lines, found
    assert any("not valid utf-8" in str(p["message"]) for p in found)


def test_provider_settings_are_checked_at_their_key(repo: Repo) -> None:
    text = campaign("  - csv: list.csv\n", message="Hi", extra="provider:\n  name: ovh\n  batch_size: 0\n")
    [p] = problems(repo, text)
    assert p["line"] == line_of(text, "batch_size")
    assert "batch_size: 0 is less than the minimum of 1" in str(p["message"])


def test_remote_sources_are_left_to_plan(repo: Repo) -> None:
    text = campaign("  - csv: {url: 'https://example.invalid/list.csv'}\n", message="Hi")
    assert problems(repo, text) == []


# -- fields: ----------------------------------------------------------------------------------------------------
def test_fields_map_one_template_to_two_sources(repo: Repo) -> None:
    text = campaign("  - addressbook: book.yaml\n    groups: [vip]\n  - csv: list.csv\n"
                    "    fields: {first_name: Prénom, city: ville}\n", message="Hi {{ first_name }}")
    assert problems(repo, text) == []
    repo.write("c.yaml", text)
    plan = repo.run("plan", "c.yaml", "--json", "--show-numbers")
    assert plan.code == 0, plan.both
    out = repo.run("send", "c.yaml", "--yes")
    assert out.code == 0, out.both
    assert sorted(t for _, _, t in repo.outbox()) == ["Hi Alice", "Hi Alice", "Hi Bruno"]


def test_a_mapped_column_missing_from_the_header_is_an_error_at_its_field(repo: Repo) -> None:
    text = campaign("  - csv: list.csv\n    fields: {first_name: Prenom, last_name: Nom}\n")
    found = problems(repo, text)
    assert any(p["line"] == line_of(text, "fields:") and "no column named 'Nom' for field 'last_name'"
               in str(p["message"]) for p in found), found
    # 'Prenom' matches 'Prénom' by its slug: only Nom is wrong
    assert not any("'Prenom'" in str(p["message"]) for p in found)


def test_plan_shows_a_wrong_column_at_the_campaign_key_too(repo: Repo) -> None:
    text = campaign("  - csv: list.csv\n    column: phon\n", message="Hi")
    repo.write("c.yaml", text)
    result = repo.run("plan", "c.yaml")
    assert result.code == 1
    assert f"c.yaml:{line_of(text, 'column: phon')}:13: error: list.csv: no column named 'phon'" in result.both


def test_fields_are_accepted_by_the_schema_only_where_sources_have_columns(repo: Repo) -> None:
    text = campaign("  - numbers: ['+33611111111']\n    fields: {a: b}\n", message="Hi")
    found = problems(repo, text)
    assert found and all(p["severity"] == "error" for p in found)
