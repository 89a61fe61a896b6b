"""CSV files as people write them: headers or not, delimiters, encodings, several numbers per cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import SourceError
from runner.sources.csvfile import CsvSource, split_numbers


def rows(tmp_path: Path, data: bytes, **kw: object) -> list[tuple[str, int, dict[str, str] | None]]:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    return [tuple(r) for r in CsvSource(path, label="list.csv", **kw).rows()]  # type: ignore[arg-type,misc]


@pytest.mark.parametrize("header", ["phone", "Phone", "MOBILE", "Numéro", "tel", "Téléphone", "msisdn", "Portable"])
def test_phone_column_found_from_the_header(tmp_path: Path, header: str) -> None:
    data = f"name;{header};city\nAlice;+33612345678;Paris\n".encode()
    assert rows(tmp_path, data) == [("+33612345678", 2, None)]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_detected(tmp_path: Path, delimiter: str) -> None:
    data = delimiter.join(["name", "phone"]) + "\n" + delimiter.join(["Bob", "0612345678"]) + "\n"
    assert [r[0] for r in rows(tmp_path, data.encode())] == ["0612345678"]


def test_no_header_single_column_with_blank_and_comment_lines(tmp_path: Path) -> None:
    data = b"# customers\r\n+33612345678\r\n\r\n06 12 34 56 79\r\n# end\r\n"
    assert rows(tmp_path, data) == [("+33612345678", 2, None), ("06 12 34 56 79", 4, None)]


def test_several_numbers_in_one_cell(tmp_path: Path) -> None:
    data = b"phone\n+33612345678 +33612345679\n\"+33612345680, +33612345681\"\n+33612345682;+33612345683\n"
    assert [r[:2] for r in rows(tmp_path, data)] == [
        ("+33612345678", 2), ("+33612345679", 2), ("+33612345680", 3), ("+33612345681", 3),
        ("+33612345682", 4), ("+33612345683", 4)]


def test_spaced_national_number_stays_one(tmp_path: Path) -> None:
    assert split_numbers("06 12 34 56 78") == ["06 12 34 56 78"]
    assert split_numbers("+33 6 12 34 56 78") == ["+33 6 12 34 56 78"]
    assert split_numbers("+33612345678 0612345679") == ["+33612345678", "0612345679"]
    assert split_numbers("+33612345678;; +33612345679,") == ["+33612345678", "+33612345679"]


def test_utf8_bom_and_latin1(tmp_path: Path) -> None:
    bom = "\ufeffphone;prénom\n+33612345678;Zoé\n".encode()
    assert rows(tmp_path, bom, wanted_fields=frozenset({"prenom"})) == [("+33612345678", 2, {"prenom": "Zoé"})]
    latin1 = "phone;prénom\n+33612345678;Zoé\n".encode("latin-1")
    source_rows = rows(tmp_path, latin1, wanted_fields=frozenset({"prénom", "prenom"}))
    assert source_rows[0][2] == {"prénom": "Zoé", "prenom": "Zoé"}


def test_column_by_name_and_index(tmp_path: Path) -> None:
    data = b"home,work\n+33612345678,+33712345678\n"
    assert [r[0] for r in rows(tmp_path, data, column="work")] == ["+33712345678"]
    assert [r[0] for r in rows(tmp_path, data, column=1)] == ["+33612345678"]
    with pytest.raises(SourceError, match="no column named 'mobile'"):
        rows(tmp_path, data, column="mobile")


def test_ambiguous_header_asks_for_column(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="set `column`"):
        rows(tmp_path, b"name,city\nAlice,Paris\n")


def test_empty_phone_cell_is_reported_as_a_row(tmp_path: Path) -> None:
    assert rows(tmp_path, b"name,phone\nAlice,\n") == [("", 2, None)]


def test_malformed_csv_has_a_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"phone\n+33612345678\n\"" + b"1" * 200_000 + b"\"\n")
    with pytest.raises(SourceError, match=r"bad\.csv:\d+:1: error"):
        list(CsvSource(path, label="bad.csv").rows())


def test_digest_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("+33612345678\n")
    first = CsvSource(path, label="l").digest()
    path.write_text("+33612345679\n")
    assert CsvSource(path, label="l").digest() != first
