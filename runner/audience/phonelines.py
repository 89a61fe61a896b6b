"""Whole CSV lines answered by one regex call: the default region's clean mobile numbers, in C.

A worker classifies a part row by row in Python (``parallel.classify_part``): cut the line, check the
cell, strip it, look up the regex for its length, match, check the type, 1.5-4 us a row. Most rows of a
real list are one of three shapes of the default region's mobiles, written without separators:
``+33612345678``, ``0033612345678`` and ``0612345678``. :func:`home_line` builds one regex that every line
matches, whose group :data:`NSN` is the number's NSN (``612345678``) exactly when the row loop would
answer "``+33`` and this NSN, a mobile number of the default region": ``map(pattern.fullmatch, lines)``
then answers those rows in C, and only the others take the loop.

Exactly the row loop's answer (tests/audience/test_phonelines.py checks it on fuzzed lines): the cell is
made of digits (and the "+") with nothing around it (so ``_several`` is false and ``strip`` changes
nothing), the line's first cell is no comment, and

* ``+<cc><nsn>``: ``phonefast`` matches the cell with ``phonemeta.whole_e164``'s regex;
* ``<idd><cc><nsn>``: ``phonefast._national`` finds the IDD (as ``re.match`` finds it: an atomic group
  here), then the same regex on the rest;
* ``<prefix><nsn>``: ``phonemeta.whole_national``'s regex matches (the row loop's own national test);

and the NSN's first matching type alternative (``phonemeta.type_source``'s group) is a mobile one
(:func:`first_of_types`). A line it does not accept goes the usual way, so refusing more than needed
costs time, never a wrong answer.
"""

from __future__ import annotations

import re
from typing import Final

from phonenumbers import PhoneMetadata, PhoneNumberType

from runner.audience.phonemeta import MAX_NSN, MIN_NSN, Home, national_layout, type_alternatives

# the group of the NSN when the line is accepted (the number is "+" + cc + NSN); else it is None
NSN: Final = 1

_FIXED_MOBILE: Final = [PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE]
_MOBILE: Final = frozenset({PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.MOBILE})


def home_line(home: Home, delimiter: str, index: int, wanted: frozenset[int]) -> re.Pattern[str] | None:
    """The line regex for the phone cell at ``index`` (0-based) of lines cut at ``delimiter``, for numbers
    of the default region ``home`` whose type is in ``wanted``; None if there is none (a code shared by
    several regions, a national prefix with groups, no type in ``wanted``)."""
    country = home.country
    region = country.single
    prefix = country.national_prefix.prefix
    if region is None or (prefix is not None and prefix.groups) or len(delimiter) != 1 \
            or delimiter in "+0123456789":
        return None
    cut = re.escape(delimiter)
    end = rf"(?={cut}|\Z)"
    general = region.metadata.general_desc
    lengths = {n for n in (general.possible_length if general else ()) if MIN_NSN <= n <= MAX_NSN}
    whole = _nsn(region.metadata, lengths, wanted, end)  # after "+cc", as whole_e164 reads it
    if whole is None:
        return None
    no_prefix = "" if prefix is None else f"(?!(?:{prefix.pattern}))"
    heads = [rf"\+{country.cc}{no_prefix}"]  # what comes before the NSN, in each shape
    if home.idd is not None:
        # (the rest after the IDD starts with the code, never with 0: _national's "rest[0] != '0'" holds)
        heads.append(rf"(?>{home.idd.pattern}){country.cc}{no_prefix}")
    layout = national_layout(home, region.metadata)
    if layout is not None:
        national_prefix, nsn_lengths, no_idd = layout
        # the same NSNs as after "+cc" (every region today): one group takes the NSN in every shape; a
        # region whose national NSNs differ keeps its national numbers for the row loop
        if _nsn(region.metadata, nsn_lengths, wanted, end) == whole:
            heads.append(rf"(?=[0-9]{{3}}){no_idd}(?!{country.cc}){national_prefix}")
    cell = rf"(?a:(?:{'|'.join(heads)})({whole}))"  # ASCII digits only, as phonefast's regexes
    # not a comment: the first cell, stripped as str.lstrip strips (\s is str.isspace), starts with no "#"
    before = rf"(?![^\S{cut}]*#)(?:[^{cut}]*{cut}){{{index}}}" if index else ""
    return re.compile(rf"{before}{cell}(?:{cut}.*)?|.*", re.DOTALL)


def _nsn(metadata: PhoneMetadata, lengths: set[int], wanted: frozenset[int], end: str) -> str | None:
    """An NSN of one of ``lengths`` followed by ``end``, of a type in ``wanted`` (None: no such NSN)."""
    blocks = [rf"(?=[0-9]{{{n}}}{end}){source}" for n in sorted(lengths)
              if (source := first_of_types(metadata, n, wanted, end)) is not None]
    return f"(?:{'|'.join(blocks)})" if blocks else None


def first_of_types(metadata: PhoneMetadata, length: int, wanted: frozenset[int], end: str) -> str | None:
    """A regex source matching an NSN of ``length`` followed by ``end`` exactly when
    ``phonemeta.type_source``'s matching group (the first alternative that matches the whole NSN) is of a
    type in ``wanted``; None if it never is: "none of the alternatives before the first wanted one", then
    each wanted one preceded by "none of the earlier wanted-or-not ones"."""
    found = type_alternatives(metadata, length, end)
    if found is None:
        return None
    general, alternatives = found
    first = next((at for at, (_, number_type) in enumerate(alternatives) if number_type in wanted), None)
    if first is None:
        return None
    before = "".join(f"(?!{source}{end})" for source, _ in alternatives[:first])
    tail = alternatives[first:]
    if [number_type for _, number_type in tail] == _FIXED_MOBILE and wanted.issuperset(_MOBILE) \
            and PhoneNumberType.FIXED_LINE not in wanted:
        # (fixed and mobile) or (not fixed and mobile) is mobile: one test instead of three
        return rf"(?={general}{end}){before}{tail[-1][0]}{end}"
    choices = ["".join(f"(?!{earlier}{end})" for earlier, _ in tail[:at]) + f"{source}{end}"
               for at, (source, number_type) in enumerate(tail) if number_type in wanted]
    return rf"(?={general}{end}){before}(?:{'|'.join(choices)})"
