"""phonenumbers' metadata as regular expressions: the tables the fast path (``phonefast``) reads.

One job: turn a region's or a country calling code's metadata into the compiled regexes and small
tables that reproduce ``parse`` + ``number_type`` for the common shapes (``phonefast.FastClassifier``
walks them). Built lazily, per country code on first use and per *length* of the string to match: a
regex for one length needs no length guards (``(?=[0-9]{9}\\Z)`` before every alternative), so each
alternative starts with its own digits and the regex engine drops it at the first digit that differs
(0.55-0.97 us instead of 0.9-1.4 us a call on the FR patterns).

What it mirrors (phonenumbers 9.0.x, ``phonenumberutil.py``): ``_number_type_helper``'s order of the
types and ``_is_number_matching_desc`` (a length outside a description's ``possible_length`` does not
match it), national-prefix stripping (``_maybe_strip_national_prefix_carrier_code`` but the transform
rule, and its ``_test_number_length`` guard), ``region_code_for_number`` for shared codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberType
from phonenumbers.phonemetadata import PhoneNumberDesc

UNKNOWN: Final = PhoneNumberType.UNKNOWN

# The order in which _number_type_helper tests the non fixed/mobile types.
_TYPE_ORDER: Final[tuple[tuple[str, int], ...]] = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)

MAX_INPUT_LENGTH: Final = 250  # phonenumberutil._MAX_INPUT_STRING_LENGTH
MIN_NSN: Final = 2  # _MIN_LENGTH_FOR_NSN
MAX_NSN: Final = 17  # _MAX_LENGTH_FOR_NSN

# _test_number_length results that parse() treats as "keep the national prefix".
TOO_SHORT: Final = 1
LOCAL_ONLY: Final = 2
INVALID_LENGTH: Final = 3
TOO_LONG: Final = 4
POSSIBLE: Final = 0

NEVER: Final = re.compile(r"(?!)")
Typed = tuple[re.Pattern[str], tuple[int, ...]]
"""A regex whose matching group (``lastindex``) indexes the types tuple (index 0: UNKNOWN, unused)."""
NO_MATCH: Final[Typed] = (NEVER, (UNKNOWN,))


class ByLength(dict[int, Typed]):
    """``by_length[len(s)]``: the regex for strings of that length, built on first use (``NO_MATCH`` when
    no string of that length can match). A plain dict lookup on the hot path."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[int], Typed | None]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, length: int) -> Typed:
        built = self._build(length)
        value = self[length] = NO_MATCH if built is None else built
        return value


def _desc_source(desc: PhoneNumberDesc | None, length: int) -> str | None:
    """Regex source of what ``_is_number_matching_desc`` accepts among strings of ``length``, or None."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length
    if lengths and length not in [n for n in lengths if n > 0]:
        return None
    return f"(?:{desc.national_number_pattern})"


def type_alternatives(metadata: PhoneMetadata, length: int, end: str = r"\Z") -> \
        tuple[str, list[tuple[str, int]]] | None:
    """The general description's source and the type alternatives (source, type) for NSNs of ``length``,
    in ``_number_type_helper``'s order; ``end`` is what follows the NSN (the end of the string, or of a
    cell); None if none can match."""
    general = _desc_source(metadata.general_desc, length)
    if general is None:
        return None
    alternatives = [(source, number_type) for attribute, number_type in _TYPE_ORDER
                    if (source := _desc_source(getattr(metadata, attribute), length)) is not None]
    fixed = _desc_source(metadata.fixed_line, length)
    mobile = _desc_source(metadata.mobile, length)
    if metadata.same_mobile_and_fixed_line_pattern:
        if fixed is not None:
            alternatives.append((fixed, PhoneNumberType.FIXED_LINE_OR_MOBILE))
    else:
        if fixed is not None and mobile is not None:
            alternatives.append((rf"(?={fixed}{end}){mobile}", PhoneNumberType.FIXED_LINE_OR_MOBILE))
        if fixed is not None:
            alternatives.append((fixed, PhoneNumberType.FIXED_LINE))
        if mobile is not None:
            alternatives.append((mobile, PhoneNumberType.MOBILE))
    return (general, alternatives) if alternatives else None


def type_source(metadata: PhoneMetadata, length: int) -> tuple[str, tuple[int, ...]] | None:
    """``(?=general\\Z)(?:(premium)|(toll_free)|…|(fixed_or_mobile)|(fixed)|(mobile))`` for NSNs of
    ``length``, in ``_number_type_helper``'s order, and the type of each group; None if none can match."""
    found = type_alternatives(metadata, length)
    if found is None:
        return None
    general, alternatives = found
    source = "|".join(f"({alternative})" for alternative, _ in alternatives)
    return rf"(?={general}\Z)(?:{source})", (UNKNOWN, *(number_type for _, number_type in alternatives))


def compiled(source: str, types: tuple[int, ...]) -> Typed:
    """``source`` compiled with ``re.ASCII``: ``\\d`` is ``[0-9]``, so a match is made of ASCII digits
    (the fast path only ever passes those; a caller may rely on it, see ``FastClassifier.home_whole``)."""
    pattern = re.compile(source, re.ASCII)
    if pattern.groups != len(types) - 1:  # pragma: no cover - metadata patterns have no groups today
        raise RuntimeError("phonenumbers metadata pattern has capturing groups; fast path unusable")
    return pattern, types


class Region:
    """Type regexes (by NSN length) and leading digits of one region's metadata."""

    __slots__ = ("by_length", "code", "leading", "metadata")

    def __init__(self, code: str, metadata: PhoneMetadata) -> None:
        self.code = code
        self.metadata = metadata
        self.leading = None if metadata.leading_digits is None else re.compile(metadata.leading_digits)
        self.by_length = ByLength(self._typed)

    def _typed(self, length: int) -> Typed | None:
        found = type_source(self.metadata, length)
        return None if found is None else compiled(*found)

    def number_type(self, nsn: str) -> int:
        pattern, types = self.by_length[len(nsn)]
        match = pattern.fullmatch(nsn)
        if match is None:
            return UNKNOWN
        return types[match.lastindex or 0]


class NationalPrefix:
    """National-prefix handling of one region's metadata, as parse() applies it."""

    __slots__ = ("general", "local_lengths", "possible_lengths", "prefix", "transform")

    def __init__(self, metadata: PhoneMetadata) -> None:
        prefix = metadata.national_prefix_for_parsing
        self.prefix = re.compile(prefix) if prefix else None
        self.transform = bool(metadata.national_prefix_transform_rule)
        general = metadata.general_desc
        pattern = None if general is None else general.national_number_pattern
        self.general = re.compile(pattern) if pattern else None
        self.possible_lengths: tuple[int, ...] = () if general is None else tuple(general.possible_length)
        self.local_lengths: tuple[int, ...] = () if general is None else tuple(general.possible_length_local_only)

    def viable(self, number: str) -> bool:
        """``_match_national_number(number, general_desc, False)``."""
        return self.general is not None and self.general.fullmatch(number) is not None

    def length_result(self, number: str) -> int | None:
        """``_test_number_length(number, metadata)`` for UNKNOWN; None if it would not be sane."""
        lengths = self.possible_lengths
        if not lengths:
            return None
        length = len(number)
        if length in self.local_lengths:
            return LOCAL_ONLY
        if lengths[0] == length:
            return POSSIBLE
        if lengths[0] > length:
            return TOO_SHORT
        if lengths[-1] < length:
            return TOO_LONG
        return POSSIBLE if length in lengths[1:] else INVALID_LENGTH

    def strip(self, number: str) -> str | None:
        """The NSN parse() keeps after national-prefix stripping, or None to fall back."""
        prefix = self.prefix
        if prefix is None:
            return number
        match = prefix.match(number)
        if match is None:
            return number
        if self.transform:
            groups = prefix.groups
            if groups == 0 or match.group(groups) is not None:
                return None  # the transform-rule branch: let phonenumbers do it
        stripped = number[match.end() :]
        if self.viable(number) and not self.viable(stripped):
            return number
        result = self.length_result(stripped)
        if result is None:
            return None
        if result in (TOO_SHORT, LOCAL_ONLY, INVALID_LENGTH):
            return number
        return stripped


class Country:
    """Everything the fast path needs for one country calling code (built on first use)."""

    __slots__ = ("_whole", "cc", "national_prefix", "regions", "single")

    def __init__(self, cc: int) -> None:
        self.cc = str(cc)
        codes = COUNTRY_CODE_TO_REGION_CODE[cc]
        regions: list[Region] = []
        for code in codes:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, code)
            if metadata is None:  # pragma: no cover - every listed region has metadata today
                raise RuntimeError(f"phonenumbers has no metadata for {code} (+{cc})")
            regions.append(Region(code, metadata))
        main = PhoneMetadata.metadata_for_region_or_calling_code(cc, codes[0])
        assert main is not None
        # parse() strips the national prefix of the code's main region after "+cc".
        self.national_prefix = NationalPrefix(main)
        self.regions = tuple(regions)
        self.single = regions[0] if len(regions) == 1 else None
        self._whole: ByLength | bool | None = False  # False: not built yet

    def whole(self) -> ByLength | None:
        """:func:`whole_e164` for the digits after "+" (built on first use), or None."""
        whole = self._whole
        if whole is False:
            whole = self._whole = whole_e164(self, plus=False)
        assert whole is not True
        return whole

    def region_and_type(self, nsn: str) -> tuple[str | None, int]:
        """``region_code_for_number`` and ``number_type`` of a parsed ``+cc nsn``."""
        single = self.single
        if single is not None:
            return single.code, single.number_type(nsn)
        for region in self.regions:
            if region.leading is not None:
                if region.leading.match(nsn):
                    return region.code, region.number_type(nsn)
            else:
                number_type = region.number_type(nsn)
                if number_type != UNKNOWN:
                    return region.code, number_type
        return None, UNKNOWN

    def number_type(self, nsn: str) -> int:
        single = self.single
        if single is not None:
            return single.number_type(nsn)
        return self.region_and_type(nsn)[1]


_CC_CODES: Final[frozenset[str]] = frozenset(str(cc) for cc in COUNTRY_CODE_TO_REGION_CODE)
COUNTRIES: dict[str, Country] = {}


def country(digits: str) -> tuple[Country, int] | None:
    """The country whose code starts ``digits`` (shortest code first, as parse() does)."""
    for size in (1, 2, 3):
        code = digits[:size]
        found = COUNTRIES.get(code)
        if found is not None:
            return found, size
        if code in _CC_CODES and len(code) == size:
            found = COUNTRIES[code] = Country(int(code))
            return found, size
    return None


def whole_e164(country: Country, *, plus: bool = True) -> ByLength | None:
    """Regexes (by the string's length) for a whole clean ``+<cc><nsn>`` of a single-region code, or
    None if not possible.

    ``\\+33(?!<national prefix>)<type regex of the NSN's length>``: when it matches, parse() keeps the
    digits after the code unchanged as the NSN and the matching group is the type (``finish`` would strip
    no prefix, pass the NSN limits and type it with the same regex). ``plus=False``: the same for the
    digits after the "+" (``_international``'s argument).
    """
    region = country.single
    prefix = country.national_prefix.prefix
    if region is None or (prefix is not None and prefix.groups):
        return None
    no_prefix = "" if prefix is None else f"(?!(?:{prefix.pattern}))"
    head = r"\+" if plus else ""
    skip = len(country.cc) + (1 if plus else 0)

    def build(length: int) -> Typed | None:
        nsn = length - skip
        found = type_source(region.metadata, nsn) if MIN_NSN <= nsn <= MAX_NSN else None
        return None if found is None else compiled(rf"{head}{country.cc}{no_prefix}{found[0]}", found[1])

    return ByLength(build)


class Home:
    """What parse() uses from the default region for numbers written without "+"."""

    __slots__ = ("cc", "country", "idd", "national", "national_prefix")

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None or metadata.country_code is None:
            raise ValueError(f"unknown region {region!r}")
        self.cc = str(metadata.country_code)
        found = country(self.cc)
        assert found is not None
        self.country = found[0]
        idd = metadata.international_prefix
        self.idd = re.compile(idd) if idd is not None else None
        self.national_prefix = NationalPrefix(metadata)
        self.national = whole_national(self, metadata)


def national_layout(home: Home, metadata: PhoneMetadata) -> tuple[str, set[int], str] | None:
    """What :func:`whole_national`'s regexes are made of: the national prefix (digits), the NSN lengths
    parse() keeps after stripping it, and the guard against the IDD; None if there are none."""
    region = home.country.single
    if region is None or metadata.national_prefix_transform_rule:
        return None
    prefix = metadata.national_prefix_for_parsing or ""
    if not re.fullmatch(r"[0-9]*", prefix):
        return None
    if prefix:
        national = home.national_prefix
        if not national.possible_lengths:
            return None
        nsn_lengths = set(national.possible_lengths) - set(national.local_lengths) - {-1}
        nsn_lengths = {n for n in nsn_lengths if MIN_NSN <= n <= MAX_NSN}
        if not nsn_lengths:
            return None
    else:
        nsn_lengths = set(range(MIN_NSN, MAX_NSN + 1))
    return prefix, nsn_lengths, "" if home.idd is None else f"(?!(?:{home.idd.pattern}))"


def whole_national(home: Home, metadata: PhoneMetadata) -> tuple[ByLength, int] | None:
    """Regexes (by the string's length) for a whole national ``<prefix><nsn>`` of a single-region default
    region, and the prefix's length; or None.

    ``(?!<idd>)(?!<cc>)<prefix><type regex of the NSN's length>``, with a national prefix for parsing that
    is a plain digit string (``0`` in FR, DE, BE...) or none (ES, IT...), for the NSN lengths parse()
    keeps after stripping it (possible, not local-only). When it matches, ``_national`` would take none of
    its special branches (no IDD, no leading country code), strip exactly that prefix (the rest is viable
    and of a possible length) and type the rest with the same type regex: the answer is
    ``("+" + cc + rest, type)``.
    """
    layout = national_layout(home, metadata)
    region = home.country.single
    if layout is None or region is None:
        return None
    prefix, nsn_lengths, no_idd = layout

    def build(length: int) -> Typed | None:
        nsn = length - len(prefix)
        found = type_source(region.metadata, nsn) if nsn in nsn_lengths else None
        return None if found is None else compiled(rf"{no_idd}(?!{home.cc}){prefix}{found[0]}", found[1])

    return ByLength(build), len(prefix)


def finish(country: Country, number: str, national_prefix: NationalPrefix) -> tuple[str, int, str | None] | None:
    """parse() after the country code is known: prefix stripping, NSN limits, then the type and the region
    (``region_code_for_number``: phonenumbers finds both with the same walk over a shared code's regions)."""
    if len(number) < MIN_NSN:
        return None
    nsn = national_prefix.strip(number)
    if nsn is None or not MIN_NSN <= len(nsn) <= MAX_NSN:
        return None
    region, number_type = country.region_and_type(nsn)
    return "+" + country.cc + nsn, number_type, region
