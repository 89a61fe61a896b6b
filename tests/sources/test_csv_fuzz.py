"""Random bytes through the CSV reader and the address-book readers: rows or a SourceError naming the
file (and the line when there is one) - never another exception, never a hang."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.errors import SourceError
from runner.sources.addressbook import AddressBookSource
from runner.sources.csvfile import CsvSource
from tests.support.budget import budget

# no wall-time deadline: each read runs under a work budget (calls), which a busy machine cannot break
READ_CALLS = 5_000_000
FAST = settings(max_examples=int(os.environ.get("SMSRUN_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

PIECES = [b",", b";", b"\t", b"|", b'"', b'""', b"\n", b"\r", b"\r\n", b"#", b" ", b"  ", b"+33612345678",
          b"06 12 34 56 78", b"0033644556677", b"phone", b"Phone Number", b"name", b"groups", b"first_name",
          b"Pr\xc3\xa9nom", b"Pr\xe9nom", b"\x00", b"\xff", b"\xfe", b"\xef\xbb\xbf", b"\xe2\x80", b"\xc3", b"'",
          b"a", b"vip|paris", b"x" * 200, b"9" * 40, b"\\", b"\x1f", b"\x85", b"\xe2\x80\xa8"]

OPTIONS: list[dict[str, Any]] = [
    {}, {"header": True}, {"header": False}, {"column": 1}, {"column": 3}, {"column": "phone"},
    {"column": "Prénom"}, {"delimiter": ";"}, {"delimiter": "\t"}, {"delimiter": "|"}, {"encoding": "utf-8"},
    {"encoding": "latin-1"}, {"encoding": "utf-16"}, {"encoding": "ascii"}, {"encoding": "cp1252"},
    {"encoding": "utf-8-sig", "header": False, "column": 2},
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("csvfuzz")


def physical_lines(data: bytes) -> int:
    return len(re.findall(rb"\r\n?|\n", data)) + 1


def check_csv(path: Path, data: bytes, options: dict[str, Any]) -> None:
    path.write_bytes(data)
    source = CsvSource(path, label="list.csv", wanted_fields=frozenset({"first_name", "prenom", "name"}), **options)
    try:
        with budget(calls=READ_CALLS):
            rows = list(source.rows())
            digest = source.digest()
    except SourceError as exc:
        message = str(exc)
        assert message.startswith("list.csv:") or message.startswith("list.csv "), message
        assert " error: " in message and "Traceback" not in message
        if re.match(r"^list\.csv:\d+", message):
            assert 1 <= int(message.split(":")[1]) <= physical_lines(data) + 1, message
        return
    assert digest == hashlib.sha256(data).hexdigest()
    for row in rows:
        assert isinstance(row.raw, str)
        assert 1 <= row.line <= physical_lines(data) + 1, (row, data)
        assert row.fields is None or all(isinstance(k, str) and isinstance(v, str) for k, v in row.fields.items())


@FAST
@given(data=st.binary(max_size=2000), options=st.sampled_from(OPTIONS))
@example(data=b"phone\n+33612345678\n", options={"encoding": "utf-16"})  # a UTF-16 reader on a file without BOM
@example(data=b'phone\n"+33612345678\n', options={})  # an unclosed quote
@example(data=b"phone\n" + b"x" * 200_000 + b"\n", options={})  # a cell over csv's field limit
@example(data=b"\xef\xbb\xbf\xef\xbb\xbfphone\n", options={})
@example(data=b"a,b\n1,2\n", options={"column": 99})
def test_random_bytes_give_rows_or_a_source_error(folder: Path, data: bytes, options: dict[str, Any]) -> None:
    check_csv(folder / "bytes.csv", data, options)


@FAST
@given(parts=st.lists(st.sampled_from(PIECES), max_size=60), options=st.sampled_from(OPTIONS))
def test_csv_shaped_junk_gives_rows_or_a_source_error(folder: Path, parts: list[bytes],
                                                      options: dict[str, Any]) -> None:
    check_csv(folder / "shaped.csv", b"".join(parts), options)


@FAST
@given(rows=st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=5), max_size=20),
       delimiter=st.sampled_from([",", ";", "\t", "|"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
def test_text_tables_in_any_encoding(folder: Path, rows: list[list[str]], delimiter: str, encoding: str) -> None:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([["phone", "name"], *rows])
    data = buffer.getvalue().encode(encoding, "replace")
    check_csv(folder / "table.csv", data, {})


def test_a_large_file_streams_in_bounded_work(folder: Path) -> None:
    path = folder / "large.csv"
    with path.open("wb") as handle:
        handle.write(b"phone;first_name\n")
        for i in range(200_000):
            handle.write(b"+3361%07d;Name%d\n" % (i, i))
    with budget(calls=200_000 * 40, peak_bytes=32 * 2**20):  # linear steps, memory that does not grow with the file
        rows = sum(1 for _ in CsvSource(path, label="large.csv").rows())
    assert rows == 200_000


# -- address books ----------------------------------------------------------------------------------------------------
def check_book(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    source = AddressBookSource(path, label=path.name)
    try:
        with budget(calls=READ_CALLS):
            rows = list(source.rows())
            source.digest()
            _ = source.region
    except SourceError as exc:
        message = str(exc)
        assert message.startswith(path.name + ":"), message
        assert "Traceback" not in message
        for d in exc.diagnostics:
            assert d.path == path.name and d.line >= 1 and d.col >= 1, d
        return
    for row in rows:
        assert isinstance(row.raw, str) and row.line >= 1
        assert row.fields is not None and isinstance(row.fields.get("name"), str)


BOOK_PIECES = ["contacts", "name", "phone", "groups", "fields", "region", ":", ": ", "- ", "\n", "\n  ", "\n    ",
               "[", "]", "{", "}", ",", "'", '"', "&a ", "*a", "~", "true", "1", "FR", "ZZ", "+33612345678",
               "!!int ", "!!bool ", "<<: ", "\t", "\x00", "é", "first_name", "vip"]


@FAST
@given(data=st.binary(max_size=1500), suffix=st.sampled_from([".csv", ".yaml"]))
@example(data=b"name,phone,groups\nA,+33612345678,vip|x\nA,\n", suffix=".csv")
@example(data=b"contacts:\n  - {name: A, phone: '+33612345678', fields: {1: x}}\n", suffix=".yaml")
@example(data=b"region: ZZ\ncontacts: []\n", suffix=".yaml")
@example(data=b"contacts: &c [*c]\n", suffix=".yaml")
def test_random_address_books(folder: Path, data: bytes, suffix: str) -> None:
    check_book(folder / f"book{suffix}", data)


@FAST
@given(parts=st.lists(st.sampled_from(BOOK_PIECES) | st.text(max_size=3), max_size=60))
def test_yaml_shaped_address_books(folder: Path, parts: list[str]) -> None:
    check_book(folder / "shaped.yaml", "".join(parts).encode("utf-8", "surrogatepass"))


@FAST
@given(parts=st.lists(st.sampled_from([p.encode() for p in BOOK_PIECES]) | st.sampled_from(PIECES), max_size=60))
def test_csv_shaped_address_books(folder: Path, parts: list[bytes]) -> None:
    check_book(folder / "shaped.csv", b"name,phone,groups\n" + b"".join(parts))


def test_unknown_groups_and_contacts_point_at_the_campaign(folder: Path) -> None:
    from runner.campaign.model import Position

    path = folder / "book.yaml"
    path.write_text("contacts:\n  - {name: Alice, phone: '+33612345678', groups: [vip]}\n", encoding="utf-8")
    source = AddressBookSource(path, label="book.yaml", groups=["vipp"], contacts=["Alicia"],
                               position=Position("campaign.yaml", 7, 18))
    with pytest.raises(SourceError) as caught:
        list(source.rows())
    assert [str(d) for d in caught.value.diagnostics] == [
        "campaign.yaml:7:18: error: no contact named 'Alicia' in book.yaml (did you mean 'Alice'?)",
        "campaign.yaml:7:18: error: no contact in group 'vipp' in book.yaml (did you mean 'vip'?)",
    ]
