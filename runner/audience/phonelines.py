"""Whole CSV lines answered by one regex call: the default region's clean mobile numbers, in C.

A worker classifies a part row by row in Python (``parallel.classify_part``): cut the line, check the
cell, strip it, look up the regex for its length, match, check the type, about 1.5 us a row. Most rows of a
real list are the same shape, a clean ``+33612345678`` in the phone cell. :func:`home_line` builds one
regex that every line matches, whose group 1 is the phone cell exactly when the row loop would answer
"a mobile number of the default region, this very string": ``map(pattern.fullmatch, lines)`` then
answers those rows in C, and only the others take the loop.

Exactly the row loop's answer (tests/audience/test_phonelines.py checks it on fuzzed lines): the cell is
``+<cc><nsn>`` with nothing around it (so ``_several`` is false and ``strip`` changes nothing), the line's
first cell is no comment, and the NSN's first matching type alternative
(``phonemeta.type_source``'s group) is a mobile one (``phonemeta.first_of_types``), with the same national
prefix guard as ``phonemeta.whole_e164``. A line it does not accept goes the usual way, so refusing more
than needed costs time, never a wrong answer.
"""

from __future__ import annotations

import re
from typing import Final

from runner.audience.phonemeta import MAX_NSN, MIN_NSN, Country, first_of_types

# the phone cell's group when the line is accepted; the whole pattern always matches (group 1 is None)
CELL: Final = 1


def home_line(country: Country, delimiter: str, index: int, wanted: frozenset[int]) -> re.Pattern[str] | None:
    """The line regex for the phone cell at ``index`` (0-based) of lines cut at ``delimiter``, for numbers
    of ``country`` (the default region's code) whose type is in ``wanted``; None if there is none (a code
    shared by several regions, a national prefix with groups, no type in ``wanted``)."""
    region = country.single
    prefix = country.national_prefix.prefix
    if region is None or (prefix is not None and prefix.groups) or delimiter in "+0123456789" or len(delimiter) != 1:
        return None
    general = region.metadata.general_desc
    lengths = sorted({n for n in (general.possible_length if general else ()) if MIN_NSN <= n <= MAX_NSN})
    cut = re.escape(delimiter)
    end = rf"(?={cut}|\Z)"
    blocks = []
    for nsn in lengths:
        source = first_of_types(region.metadata, nsn, wanted, end)
        if source is not None:
            blocks.append(rf"(?=[0-9]{{{nsn}}}{end}){source}")
    if not blocks:
        return None
    no_prefix = "" if prefix is None else f"(?!(?:{prefix.pattern}))"
    # not a comment: the first cell, stripped as str.lstrip strips (\s is str.isspace), starts with no "#"
    before = rf"(?![^\S{cut}]*#)(?:[^{cut}]*{cut}){{{index}}}" if index else ""
    cell = rf"(?a:(\+{country.cc}{no_prefix}(?:{'|'.join(blocks)})))"  # ASCII digits only, as home_whole's
    return re.compile(rf"{before}{cell}(?:{cut}.*)?|.*", re.DOTALL)
