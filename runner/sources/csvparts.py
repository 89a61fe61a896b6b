"""Large CSV files cut into parts that worker processes read alone (``runner.audience.parallel``).

One job: where a file's body can be cut (at line ends, outside quoted fields, in an encoding that can be
decoded from any line start) and how a worker reads one part back, with exactly the rules
:class:`~runner.sources.csvfile.CsvSource` applies to the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from runner.sources.base import Row
from runner.sources.csvfile import CsvSource, Keep

# Encodings in which a file can be cut after any b"\n" and each part decoded alone.
SPLITTABLE_CODECS = frozenset({"utf-8", "utf-8-sig", "latin-1", "iso8859-1", "iso8859-15", "cp1252", "ascii"})


@dataclass(frozen=True, slots=True)
class CsvPart:
    """A byte range of a CSV file's body, cut at line ends, that a worker process reads alone.

    Rows read from it (:func:`read_part`) carry their line *within the part* (1 for its first line);
    ``lines`` of the previous parts plus the lines before the body give the offset to add.
    """

    path: str
    start: int
    end: int
    encoding: str
    delimiter: str
    index: int | None
    keep: Keep


def part_text(part: CsvPart) -> tuple[str, int]:
    """One part's text and its number of lines."""
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.end - part.start)
    return data.decode(part.encoding), data.count(b"\n")


def open_part(part: CsvPart, text: str | None = None) -> tuple[Any, int, CsvSource]:
    """A CSV reader over one part (or its ``text``, already read), its number of lines, and a source whose
    ``_body``/``_emit`` read it."""
    lines = -1
    if text is None:
        text, lines = part_text(part)
    # strict: a part that ends inside a quoted field (a cut that fell inside a field spanning lines) or
    # holds a stray quote raises instead of guessing; the parent then reads the whole file itself.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=part.delimiter, strict=True)
    return reader, lines, part_source(part)


def part_source(part: CsvPart) -> CsvSource:
    """A source whose ``_body``/``_emit`` read one part's rows (they need the part's rules, not its file)."""
    return CsvSource(Path(part.path), label="")


def plain_lines(text: str) -> list[str] | None:
    """The part's lines, if ``csv.reader`` reads each of them as ``line.split(delimiter)``: no quote (the
    only character that changes how an unquoted line is cut), no CR but in CRLF (line ends are LF), no
    line longer than the csv module's field limit (over it, the reader raises); else None. Line ``i`` of
    the list is ``reader.line_num == i + 1``; an empty line is ``[""]`` where the reader gives ``[]``
    (both hold no number)."""
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if lines and max(map(len, lines)) > csv.field_size_limit():
        return None
    if lines and not lines[-1]:
        lines.pop()  # after the last line end: no line
    return lines


def read_part(part: CsvPart) -> tuple[Iterator[Row], int]:
    """The rows of one part, exactly as :meth:`CsvSource.rows` yields them there, and its number of lines."""
    reader, lines, source = open_part(part)
    return source._body(reader, part.index, part.keep), lines


def split(source: CsvSource, parts: int, min_bytes: int) -> tuple[list[CsvPart], int] | None:
    """The body cut at line ends into about ``parts`` ranges, and the lines before the body.

    None when the file is smaller than ``min_bytes`` or cannot be cut safely (a bare CR; an
    encoding other than UTF-8 or a single-byte ASCII superset; a first data record spanning lines;
    anything :meth:`CsvSource.rows` would report): then read it with :meth:`CsvSource.rows`. In a
    file with quotes, a cut is only made at a line end after an even number of quotes (:func:`_cuts`): outside a quoted
    field in any well-formed file; where that guess is wrong, the part before the cut ends inside
    a quoted field, its strict reader raises, and the file is read in the parent after all.
    Raises the errors :meth:`CsvSource.rows` raises about the header (no such column...).
    """
    splittable, quoted = source.layout()
    # UTF-8 unless told or found otherwise: a part that does not decode fails in its worker, and the file
    # is then read in the parent, with the encoding the scan detects (CsvSource.rows), as if never cut
    encoding = source.encoding or source._encoding or "utf-8-sig"
    try:
        codec = codecs.lookup(encoding).name
        size = source.path.stat().st_size
    except (LookupError, OSError):
        return None
    if parts < 2 or size < min_bytes or not splittable or codec not in SPLITTABLE_CODECS:
        return None
    try:
        with source.path.open("r", encoding=encoding, newline="", errors="strict") as handle:
            sample = [handle.readline() for _ in range(50)]
            handle.seek(0)
            delimiter = source.delimiter or source._sniff_delimiter(sample)
            reader = csv.reader(handle, delimiter=delimiter)
            head = source._head(reader)
    except (UnicodeError, csv.Error):
        return None
    if head is None:
        return None
    first, has_header, index, keep, line_of = head
    if not has_header and any("\n" in cell or "\r" in cell for cell in first):
        return None  # the body would start inside its first record
    skip = line_of if has_header else line_of - 1  # a first record that is data is read again
    with source.path.open("rb") as raw:
        for _ in range(skip):
            raw.readline()
        cuts = _cuts(raw, raw.tell(), size, parts, quoted)
    cuts.append(size)
    chunk_codec = "utf-8" if codec == "utf-8-sig" else encoding
    out = [CsvPart(str(source.path), a, b, encoding if a == 0 else chunk_codec, delimiter, index, keep)
           for a, b in pairwise(cuts) if b > a]
    return (out, skip) if out else None


def _cuts(raw: Any, start: int, size: int, parts: int, quoted: bool) -> list[int]:
    """Where to cut the body (from ``start``): line ends near ``size * k / parts``; in a file with
    quotes, only line ends after an even number of quotes since ``start`` (at most 10,000 lines
    further: past that, no cut there)."""
    cuts = [start]
    position, odd = start, False  # bytes read so far; an odd number of quotes in them
    for k in range(1, parts):
        target = start + (size - start) * k // parts
        if target <= position:
            continue
        raw.seek(position)
        if quoted:
            odd ^= bool(raw.read(target - position).count(b'"') & 1)
        else:
            raw.seek(target)
        line = raw.readline()  # to the end of the line the target falls in
        position = target + len(line)
        odd ^= bool(line.count(b'"') & 1)
        for _ in range(10_000):
            if not odd or not line:
                break
            line = raw.readline()
            position += len(line)
            odd ^= bool(line.count(b'"') & 1)
        if not odd and position < size:
            cuts.append(position)
    return cuts
