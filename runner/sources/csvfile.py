"""CSV files as people really write them.

* encodings: UTF-8 with or without BOM, else Latin-1 (or the one given); CRLF or LF;
* delimiters ``,`` ``;`` tab ``|``, detected when not given;
* a header naming the phone column (phone, number, mobile, tel, numero, ... in any case) or none;
* several numbers in one cell, separated by commas, semicolons or spaces;
* blank lines and ``#`` comment lines are skipped.

The file is read twice, streaming: once to hash it and settle its encoding, once to parse it. Large
files are cut into parts for the audience's worker processes by ``runner.sources.csvparts``, which
reads each part with this module's row rules (:meth:`CsvSource._body`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import SourceError
from runner.sources.base import Row, Source

if TYPE_CHECKING:
    from runner.sources.csvparts import CsvPart

PHONE_HEADERS = (
    "phone", "phones", "phone_number", "phonenumber", "number", "numbers", "mobile", "mobile_phone", "mobile_number",
    "cell", "cellphone", "cell_phone", "gsm", "msisdn", "tel", "telephone", "numero", "numero_de_telephone",
    "portable", "telephone_portable", "mobile_no", "to", "recipient", "receiver", "e164",
)
_DIGITS6 = re.compile(r"\d[\d\s.\-()/]{4,}\d")
_SEPARATORS = re.compile(r"[,;|]")
_CHUNK = 1 << 20
Keep = list[tuple[int, list[str]]] | None  # the template-field columns: (column index, field names)


def slug(name: str) -> str:
    """A header as a template variable: ``Prénom`` -> ``prenom``, ``First Name`` -> ``first_name``."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _fields(cells: list[str], keep: list[tuple[int, list[str]]]) -> dict[str, str]:
    """The template fields of one row (``keep``: column index -> the field names it answers to)."""
    fields: dict[str, str] = {}
    for i, keys in keep:
        value = cells[i].strip() if i < len(cells) else ""
        for key in keys:
            fields[key] = value
    return fields


def _several(cell: str) -> bool:
    """May this cell hold several numbers (then :func:`split_numbers` decides)?"""
    return "," in cell or ";" in cell or "|" in cell or "  " in cell or (" " in cell and len(cell) > 20)


def split_numbers(cell: str) -> list[str]:
    """Split a cell holding several numbers; ``06 12 34 56 78`` stays one number."""
    parts = [p.strip() for p in _SEPARATORS.split(cell)] if _SEPARATORS.search(cell) else [cell.strip()]
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        tokens = part.split()
        if len(tokens) > 1 and all(sum(ch.isdigit() for ch in t) >= 8 for t in tokens):
            out.extend(tokens)
        else:
            out.append(part)
    return out


def _layout(chunk: bytes, splittable: bool, quoted: bool) -> tuple[bool, bool]:
    """``(splittable, quoted)`` of a file so far, after one more chunk of it (read as :data:`_CHUNK` bytes):
    no bare CR (a CR split from its LF by the chunk counts as bare), and a '"' somewhere."""
    if splittable and b"\r" in chunk:
        splittable = chunk.count(b"\r") == chunk.count(b"\r\n")
    return splittable, quoted or b'"' in chunk


class CsvSource(Source):
    def __init__(
        self,
        path: Path,
        *,
        label: str,
        column: str | int | None = None,
        region: str | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        header: bool | None = None,
        wanted_fields: frozenset[str] = frozenset(),
    ) -> None:
        self.path = path
        self.label = label
        self.column = column
        self.region = region
        self.delimiter = delimiter
        self.encoding = encoding
        self.header = header
        self.wanted_fields = wanted_fields
        self._digest: str | None = None
        self._encoding: str | None = None
        self.header_names: list[str] | None = None  # once read: the header's names ([] without a header)
        self._splittable = False  # no bare CR: every line end is a record's end, or inside a quoted field
        self._quoted = True  # a '"' somewhere: a line end may be inside a quoted field

    # -- first pass: hash and encoding -------------------------------------------------------------
    def _scan(self) -> None:
        if self._digest is not None:
            return
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8_ok = self.encoding is None
        offset = 0
        bad_line = 0
        splittable = True
        quoted = False
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    splittable, quoted = _layout(chunk, splittable, quoted)
                    if utf8_ok and not (chunk.isascii() and not decoder.getstate()[0]):  # ASCII: valid as it is
                        try:
                            decoder.decode(chunk)
                        except UnicodeDecodeError as exc:
                            utf8_ok = False
                            bad_line = offset  # approximate; only used to explain the fallback
                            del exc
                    offset += len(chunk)
                if utf8_ok:
                    decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
        except OSError as exc:
            raise SourceError.at(self.label, 0, 0, f"cannot read: {exc.strerror}") from None
        del bad_line
        self._splittable = splittable
        self._quoted = quoted
        self._digest = digest.hexdigest()
        self._encoding = self.encoding or ("utf-8-sig" if utf8_ok else "latin-1")

    def layout(self) -> tuple[bool, bool]:
        """``(splittable, quoted)`` as :meth:`_scan` finds them (no bare CR; a '"' somewhere), from a pass
        at memchr speed when the scan has not run: the parallel reader cuts a large file with this alone,
        and leaves the hash and the UTF-8 check to be done while its workers read."""
        if self._digest is not None:
            return self._splittable, self._quoted
        splittable, quoted = True, False
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    splittable, quoted = _layout(chunk, splittable, quoted)
        except OSError as exc:
            raise SourceError.at(self.label, 0, 0, f"cannot read: {exc.strerror}") from None
        return splittable, quoted

    def digest(self) -> str:
        self._scan()
        assert self._digest is not None
        return self._digest

    @property
    def detected_encoding(self) -> str:
        self._scan()
        assert self._encoding is not None
        return self._encoding

    # -- second pass: rows -----------------------------------------------------------------------
    def _sniff_delimiter(self, sample: list[str]) -> str:
        lines = [s for s in sample if s.strip() and not s.lstrip().startswith("#")][:50]
        if not lines:
            return ","
        head = lines[0]
        if not _DIGITS6.search(head) and not any(c in head for c in ",;\t|"):
            return "\x1f"  # a one-column file with a header: separators in cells split numbers, not columns
        best, best_score = ",", 0.0
        for candidate in (";", "\t", ",", "|"):
            counts = [line.count(candidate) for line in lines]
            if not any(counts):
                continue
            consistency = sum(1 for c in counts if c == counts[0]) / len(counts)
            score = consistency * (1 + min(counts))
            if score > best_score:
                best, best_score = candidate, score
        return best

    def split(self, parts: int, min_bytes: int) -> tuple[list[CsvPart], int] | None:
        """The body cut at line ends into about ``parts`` ranges, and the lines before the body; None to read
        the file with :meth:`rows` (see :func:`runner.sources.csvparts.split`)."""
        from runner.sources.csvparts import split

        return split(self, parts, min_bytes)

    def rows(self) -> Iterator[Row]:
        encoding = self.detected_encoding
        try:
            handle = self.path.open("r", encoding=encoding, newline="", errors="strict")
        except LookupError:
            raise SourceError.at(self.label, 0, 0, f"unknown encoding {self.encoding!r}", key="encoding") from None
        except OSError as exc:
            raise SourceError.at(self.label, 0, 0, f"cannot read: {exc.strerror}") from None
        with handle:
            try:
                sample = [handle.readline() for _ in range(50)]
                handle.seek(0)
            except UnicodeError:  # UnicodeDecodeError, or e.g. "UTF-16 stream does not start with BOM"
                raise SourceError.at(self.label, 0, 0, f"not valid {encoding} text (set `encoding`)",
                                  key="encoding") from None
            delimiter = self.delimiter or self._sniff_delimiter(sample)
            reader = csv.reader(handle, delimiter=delimiter)
            try:
                yield from self._rows(reader, delimiter)
            except csv.Error as exc:
                raise SourceError.at(self.label, reader.line_num, 1, f"malformed CSV: {exc}",
                                  key="delimiter") from None
            except UnicodeError:
                raise SourceError.at(self.label, reader.line_num + 1, 1, f"not valid {encoding} text "
                                  "(set `encoding`)", key="encoding") from None

    def _head(self, reader: Iterator[list[str]]) -> tuple[list[str], bool, int | None, Keep, int] | None:
        """The first record, whether it is a header, the phone column and the field columns, its line."""
        first: list[str] | None = None
        for cells in reader:
            if not cells or not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            first = cells
            break
        if first is None:
            return None
        line_of = getattr(reader, "line_num", 0)
        has_header = self.header if self.header is not None else not any(_DIGITS6.search(c) for c in first)
        names = [c.strip().lstrip("\ufeff") for c in first] if has_header else []
        self.header_names = names
        index = self._phone_index(names, first, has_header, line_of)
        keep = self._field_indexes(names) if self.wanted_fields else None
        return first, has_header, index, keep, line_of

    def _rows(self, reader: Iterator[list[str]], delimiter: str) -> Iterator[Row]:
        head = self._head(reader)
        if head is None:
            return
        first, has_header, index, keep, line_of = head
        if not has_header:
            yield from self._emit(first, index, keep, line_of)
        yield from self._body(reader, index, keep)

    def _body(self, reader: Iterator[list[str]], index: int | None, keep: Keep) -> Iterator[Row]:
        """The rows after the first record (each row's line is ``reader.line_num``)."""
        if index is None:
            for cells in reader:
                if cells and not ("#" in cells[0] and cells[0].lstrip().startswith("#")):
                    yield from self._emit(cells, None, keep, reader.line_num)  # type: ignore[attr-defined]
            return
        # The common shape, inlined (one generator per row costs more than reading the row): one
        # number in the phone cell. Anything else goes through _emit, which has the general rules.
        make = tuple.__new__
        fields: dict[str, str] | None = None
        for cells in reader:
            if not cells:
                continue
            head = cells[0]
            if "#" in head and head.lstrip().startswith("#"):
                continue
            if index < len(cells):
                cell = cells[index]
                if not _several(cell):
                    number = cell.strip()
                    if number:
                        if keep is not None:
                            fields = _fields(cells, keep)
                        yield make(Row, (number, reader.line_num, fields))  # type: ignore[attr-defined]
                        continue
            yield from self._emit(cells, index, keep, reader.line_num)  # type: ignore[attr-defined]

    def _emit(self, cells: list[str], index: int | None, keep: Keep, line: int) -> Iterator[Row]:
        fields = _fields(cells, keep) if keep is not None else None
        if index is None:  # every cell holds numbers
            for cell in cells:
                if cell.strip():
                    for number in split_numbers(cell):
                        yield Row(number, line, fields)
            return
        if index >= len(cells):
            if any(c.strip() for c in cells):
                yield Row("", line, fields)
            return
        cell = cells[index]
        if _several(cell):
            for number in split_numbers(cell):
                yield Row(number, line, fields)
        elif cell.strip():
            yield Row(cell.strip(), line, fields)
        elif any(c.strip() for c in cells):
            yield Row("", line, fields)

    def _phone_index(self, names: list[str], first: list[str], has_header: bool, line: int) -> int | None:
        if isinstance(self.column, int):
            return self.column - 1
        if isinstance(self.column, str):
            wanted = slug(self.column)
            for i, name in enumerate(names):
                if name == self.column or slug(name) == wanted:
                    return i
            if not has_header:
                raise SourceError.at(self.label, line, 1, f"column {self.column!r} needs a header line; "
                                  "this file has none (give the column's number instead)", key="column")
            raise SourceError.at(self.label, line, 1, f"no column named {self.column!r} "
                              f"(columns: {', '.join(names)})", key="column")
        if has_header:
            slugs = [slug(n) for n in names]
            for candidate in PHONE_HEADERS:
                if candidate in slugs:
                    return slugs.index(candidate)
            for i, s in enumerate(slugs):
                if any(word in s for word in ("phone", "mobile", "tel", "numero", "number", "gsm", "portable")):
                    return i
            if len(names) == 1:
                return 0
            raise SourceError.at(self.label, line, 1, f"cannot tell which column holds the phone numbers "
                              f"(columns: {', '.join(names)}); set `column`", key="column")
        phone_like = [i for i, c in enumerate(first) if _DIGITS6.search(c)]
        if len(first) > 1 and len(phone_like) == 1 and len(phone_like) < len([c for c in first if c.strip()]):
            return phone_like[0]
        return None

    def _field_indexes(self, names: list[str]) -> list[tuple[int, list[str]]]:
        keep: list[tuple[int, list[str]]] = []
        answering: dict[str, list[int]] = {}  # template field -> the columns that answer to it
        for i, name in enumerate(names):
            keys = sorted(k for k in {name, slug(name)} if k in self.wanted_fields)
            if keys:
                keep.append((i, keys))
                for key in keys:
                    answering.setdefault(key, []).append(i)
        for key, columns in answering.items():  # issue 15: never a silent "the last column wins"
            if len(columns) > 1:
                shown = ", ".join(f"{names[i][:40]!r} (column {i + 1})" for i in columns)
                raise SourceError.at(self.label, 1, 1, f"the template field {key!r} matches several columns: "
                                  f"{shown}; rename them so that exactly one matches")
        return keep
