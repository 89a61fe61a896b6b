"""Metadata-regex fast path that gives phonenumbers' own answer without calling it.

``phonenumbers.parse`` + ``number_type`` cost about 13 µs per number; almost all of
that is generic machinery (extension, RFC 3966 and alpha handling, object
construction) that a clean ``+33612345678`` or ``06 12 34 56 78`` never needs.
This module answers those common shapes with one or two regular-expression calls
built from phonenumbers' *own* metadata, and says "don't know" (``None``) for
everything else so that the caller falls back to phonenumbers itself.

What it mirrors, step by step (phonenumbers 9.0.x, ``phonenumberutil.py``):

* ``parse``: the 250-character limit; ``_extract_possible_number`` and
  ``_normalize`` (for strings made only of ASCII digits, one leading ``+`` and the
  separators `` .-()/`` they reduce to "drop the separators"); the international
  prefix of the default region (``_parse_prefix_as_idd``); the country-code
  extraction (shortest known code first); the "starts with the default
  region's country code" rule of ``_maybe_extract_country_code``; national
  prefix stripping (``_maybe_strip_national_prefix_carrier_code``, except the
  transform-rule branch, which falls back) and its ``_test_number_length`` guard;
  the NSN length limits (2..17).
* ``region_code_for_number``: the only region of a single-region code, or the
  first region of a shared code whose ``leading_digits`` match or, without
  ``leading_digits``, for which the number is valid.
* ``number_type`` / ``_number_type_helper``: one compiled regex per region,
  ``(?=general)(?:(?P<premium>…)|(?P<toll_free>…)|…|(?P<fixed_or_mobile>…)|(?P<fixed>…)|(?P<mobile>…))``
  in the helper's order, each alternative guarded by its possible lengths, so
  the first alternative that matches the whole NSN is the type the helper
  would return. Validity is ``type != UNKNOWN``: ``is_valid_number`` runs the
  same helper on the same region's metadata.

The equivalence with the plain path is tested on large generated sets and on
every example number phonenumbers ships (tests/audience/test_phones.py); this
module relies on phonenumbers' private algorithm, so keep that test green
whenever phonenumbers is upgraded.
"""

from __future__ import annotations

import re
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

_MAX_INPUT_LENGTH: Final = 250  # phonenumberutil._MAX_INPUT_STRING_LENGTH
_MIN_NSN: Final = 2  # _MIN_LENGTH_FOR_NSN
_MAX_NSN: Final = 17  # _MAX_LENGTH_FOR_NSN

# Separators that phonenumbers accepts anywhere in a number (all in its
# _VALID_PUNCTUATION) and that play no other role for a string made of ASCII
# digits, one leading "+" and these: no extension, second-number, alpha or
# RFC 3966 pattern can match, so normalising them away changes nothing
# (FastClassifier.classify drops them with str.replace, faster here than str.translate).
_SEPARATORS: Final = " .-()/"

# _test_number_length results that parse() treats as "keep the national prefix".
_TOO_SHORT: Final = 1
_LOCAL_ONLY: Final = 2
_INVALID_LENGTH: Final = 3
_TOO_LONG: Final = 4
_POSSIBLE: Final = 0

_NEVER: Final = re.compile(r"(?!)")


def _desc_regex(desc: PhoneNumberDesc | None) -> str | None:
    """Regex source matching exactly what ``_is_number_matching_desc`` accepts, or None if nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length
    if not lengths:
        return f"(?:{desc.national_number_pattern})"
    usable = sorted({n for n in lengths if n > 0})
    if not usable:
        return None
    guard = "|".join(f"[0-9]{{{n}}}" for n in usable)
    return rf"(?=(?:{guard})\Z)(?:{desc.national_number_pattern})"


def _type_regex(metadata: PhoneMetadata) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """One regex whose matching group (by ``lastindex``) is ``_number_type_helper``'s answer."""
    general = _desc_regex(metadata.general_desc)
    if general is None:
        return _NEVER, (UNKNOWN,)
    alternatives: list[str] = []
    types: list[int] = [UNKNOWN]  # index 0 unused: groups are numbered from 1
    for attribute, number_type in _TYPE_ORDER:
        source = _desc_regex(getattr(metadata, attribute))
        if source is not None:
            alternatives.append(f"({source})")
            types.append(number_type)
    fixed = _desc_regex(metadata.fixed_line)
    mobile = _desc_regex(metadata.mobile)
    if metadata.same_mobile_and_fixed_line_pattern:
        if fixed is not None:
            alternatives.append(f"({fixed})")
            types.append(PhoneNumberType.FIXED_LINE_OR_MOBILE)
    else:
        if fixed is not None and mobile is not None:
            alternatives.append(rf"((?={fixed}\Z){mobile})")
            types.append(PhoneNumberType.FIXED_LINE_OR_MOBILE)
        if fixed is not None:
            alternatives.append(f"({fixed})")
            types.append(PhoneNumberType.FIXED_LINE)
        if mobile is not None:
            alternatives.append(f"({mobile})")
            types.append(PhoneNumberType.MOBILE)
    if not alternatives:
        return _NEVER, (UNKNOWN,)
    pattern = re.compile(rf"(?={general}\Z)(?:{'|'.join(alternatives)})")
    if pattern.groups != len(types) - 1:  # pragma: no cover - metadata patterns have no groups today
        raise RuntimeError("phonenumbers metadata pattern has capturing groups; fast path unusable")
    return pattern, tuple(types)


class _Region:
    """Type regex (and leading digits) of one region's metadata."""

    __slots__ = ("code", "leading", "type_re", "types")

    def __init__(self, code: str, metadata: PhoneMetadata) -> None:
        self.code = code
        self.leading = None if metadata.leading_digits is None else re.compile(metadata.leading_digits)
        self.type_re, self.types = _type_regex(metadata)

    def number_type(self, nsn: str) -> int:
        match = self.type_re.fullmatch(nsn)
        if match is None:
            return UNKNOWN
        return self.types[match.lastindex or 0]


class _NationalPrefix:
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
            return _LOCAL_ONLY
        if lengths[0] == length:
            return _POSSIBLE
        if lengths[0] > length:
            return _TOO_SHORT
        if lengths[-1] < length:
            return _TOO_LONG
        return _POSSIBLE if length in lengths[1:] else _INVALID_LENGTH

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
        if result in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
            return number
        return stripped


class _Country:
    """Everything the fast path needs for one country calling code (built on first use)."""

    __slots__ = ("_whole", "cc", "national_prefix", "regions", "single")

    def __init__(self, cc: int) -> None:
        self.cc = str(cc)
        codes = COUNTRY_CODE_TO_REGION_CODE[cc]
        regions: list[_Region] = []
        for code in codes:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, code)
            if metadata is None:  # pragma: no cover - every listed region has metadata today
                raise RuntimeError(f"phonenumbers has no metadata for {code} (+{cc})")
            regions.append(_Region(code, metadata))
        main = PhoneMetadata.metadata_for_region_or_calling_code(cc, codes[0])
        assert main is not None
        # parse() strips the national prefix of the code's main region after "+cc".
        self.national_prefix = _NationalPrefix(main)
        self.regions = tuple(regions)
        self.single = regions[0] if len(regions) == 1 else None
        self._whole: tuple[re.Pattern[str], tuple[int, ...]] | bool | None = False  # False: not built yet

    def whole(self) -> tuple[re.Pattern[str], tuple[int, ...]] | None:
        """:func:`_whole_e164_regex` for the digits after "+" (built on first use), or None."""
        whole = self._whole
        if whole is False:
            whole = self._whole = _whole_e164_regex(self, plus=False)
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
_COUNTRIES: dict[str, _Country] = {}


def _country(digits: str) -> tuple[_Country, int] | None:
    """The country whose code starts ``digits`` (shortest code first, as parse() does)."""
    for size in (1, 2, 3):
        code = digits[:size]
        country = _COUNTRIES.get(code)
        if country is not None:
            return country, size
        if code in _CC_CODES and len(code) == size:
            country = _COUNTRIES[code] = _Country(int(code))
            return country, size
    return None


class _Home:
    """What parse() uses from the default region for numbers written without "+"."""

    __slots__ = ("cc", "country", "idd", "national", "national_prefix")

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None or metadata.country_code is None:
            raise ValueError(f"unknown region {region!r}")
        self.cc = str(metadata.country_code)
        found = _country(self.cc)
        assert found is not None
        self.country = found[0]
        idd = metadata.international_prefix
        self.idd = re.compile(idd) if idd is not None else None
        self.national_prefix = _NationalPrefix(metadata)
        self.national = _whole_national_regex(self, metadata)


def _whole_national_regex(home: _Home, metadata: PhoneMetadata) -> tuple[re.Pattern[str], int, tuple[int, ...]] | None:
    """One regex for a whole national ``<prefix><nsn>`` of a single-region default region, or None.

    ``(?!<idd>)(?!<cc>)<prefix>(?=<nsn lengths>)<type regex>``, with a national prefix for parsing that
    is a plain digit string (``0`` in FR, DE, BE...) or none (ES, IT...). When it matches, ``_national``
    would take none of its special branches (no IDD, no leading country code), strip exactly that
    prefix (the rest is viable and of a possible, not local-only, length) and type the rest with the
    same type regex: the answer is ``("+" + cc + rest, type)``. Returns (regex, prefix length, types).
    """
    region = home.country.single
    if region is None or region.type_re is _NEVER or metadata.national_prefix_transform_rule:
        return None
    prefix = metadata.national_prefix_for_parsing or ""
    if not re.fullmatch(r"[0-9]*", prefix):
        return None
    nsn_lengths: list[int] = []
    if prefix:
        national = home.national_prefix
        if not national.possible_lengths:
            return None
        nsn_lengths = sorted(set(national.possible_lengths) - set(national.local_lengths) - {-1})
        nsn_lengths = [n for n in nsn_lengths if _MIN_NSN <= n <= _MAX_NSN]
        if not nsn_lengths:
            return None
    guard = "|".join(f"[0-9]{{{n}}}" for n in nsn_lengths) if prefix else f"[0-9]{{{_MIN_NSN},{_MAX_NSN}}}"
    no_idd = "" if home.idd is None else f"(?!(?:{home.idd.pattern}))"
    pattern = re.compile(rf"{no_idd}(?!{home.cc}){prefix}(?=(?:{guard})\Z)(?:{region.type_re.pattern})")
    if pattern.groups != region.type_re.groups:  # pragma: no cover - metadata patterns have no groups today
        return None
    return pattern, len(prefix), region.types


def _finish(country: _Country, number: str, national_prefix: _NationalPrefix) -> tuple[str, int] | None:
    """parse() after the country code is known: prefix stripping, NSN limits, then the type."""
    if len(number) < _MIN_NSN:
        return None
    nsn = national_prefix.strip(number)
    if nsn is None or not _MIN_NSN <= len(nsn) <= _MAX_NSN:
        return None
    return "+" + country.cc + nsn, country.number_type(nsn)


def _whole_e164_regex(country: _Country, *, plus: bool = True) -> tuple[re.Pattern[str], tuple[int, ...]] | None:
    """One regex for a whole clean ``+<cc><nsn>`` of a single-region code, or None if not possible.

    ``\\+33(?!<national prefix>)(?=<2..17 digits>)<type regex>``: when it matches, parse()
    keeps the digits after the code unchanged as the NSN and the matching group is the type
    (``_finish`` would strip no prefix, pass the NSN limits and type it with the same regex).
    ``plus=False``: the same for the digits after the "+" (``_international``'s argument).
    """
    region = country.single
    prefix = country.national_prefix.prefix
    if region is None or (prefix is not None and prefix.groups):
        return None
    no_prefix = "" if prefix is None else f"(?!(?:{prefix.pattern}))"
    head = r"\+" if plus else ""
    lengths = rf"(?=[0-9]{{{_MIN_NSN},{_MAX_NSN}}}\Z)"
    pattern = re.compile(rf"{head}{country.cc}{no_prefix}{lengths}(?:{region.type_re.pattern})")
    if pattern.groups != region.type_re.groups:  # pragma: no cover - checked above
        return None
    return pattern, region.types


class FastClassifier:
    """``(e164, number_type)`` for the shapes it understands, ``None`` for "ask phonenumbers".

    The e164 string is only meaningful when the type is not UNKNOWN.
    """

    __slots__ = ("_home", "_home_re", "_home_types")

    def __init__(self, default_region: str | None) -> None:
        self._home = _Home(default_region) if default_region is not None else None
        whole = _whole_e164_regex(self._home.country) if self._home is not None else None
        self._home_re: re.Pattern[str] | None = None if whole is None else whole[0]
        self._home_types: tuple[int, ...] = (UNKNOWN,) if whole is None else whole[1]

    def classify(self, raw: str) -> tuple[str, int] | None:
        if len(raw) > _MAX_INPUT_LENGTH or not raw.isascii():
            return None
        if raw[:1] == "+":
            digits = raw[1:]
            if digits.isdigit():
                # The common case, a valid number of the default region's code: one regex call.
                home_re = self._home_re
                if home_re is not None:
                    match = home_re.fullmatch(raw)
                    if match is not None:
                        return raw, self._home_types[match.lastindex or 0]
                return self._international(digits)
        elif raw.isdigit():
            return self._national(raw)
        # The separators dropped one by one: str.translate costs 0.4 µs here, these replace calls 0.1.
        cleaned = raw.strip().replace(" ", "").replace(".", "").replace("-", "")
        if "(" in cleaned or ")" in cleaned or "/" in cleaned:
            cleaned = cleaned.replace("(", "").replace(")", "").replace("/", "")
        if cleaned[:1] == "+":
            digits = cleaned[1:]
            return self._international(digits) if digits.isdigit() else None
        return self._national(cleaned) if cleaned.isdigit() else None

    def _international(self, digits: str) -> tuple[str, int] | None:
        """``+`` (or the default region's IDD) followed by ``digits``."""
        home = self._home
        if home is not None and digits.startswith(home.cc):
            country, size = home.country, len(home.cc)
        else:
            found = _country(digits)
            if found is None:
                return None
            country, size = found
        whole = country.whole()
        if whole is not None:  # the common case, a valid number of a single-region code: one regex call
            match = whole[0].fullmatch(digits)
            if match is not None:
                return "+" + digits, whole[1][match.lastindex or 0]
        return _finish(country, digits[size:], country.national_prefix)

    def _national(self, digits: str) -> tuple[str, int] | None:
        """Digits without "+": the default region's IDD, its country code, or a national number."""
        home = self._home
        if home is None or len(digits) < 3:
            return None
        national = home.national
        if national is not None:
            # The common case, a valid national number: one regex call (see _whole_national_regex).
            pattern, skip, types = national
            match = pattern.fullmatch(digits)
            if match is not None:
                return "+" + home.cc + digits[skip:], types[match.lastindex or 0]
        if home.idd is not None:
            match = home.idd.match(digits)
            if match is not None:
                rest = digits[match.end() :]
                if not rest:
                    return None
                if rest[0] != "0":
                    return self._international(rest)
                # parse() does not strip an IDD followed by 0: the number stays national.
        number = digits
        country = home.country
        national_prefix = home.national_prefix
        if digits.startswith(home.cc):
            potential = national_prefix.strip(digits[len(home.cc) :])
            if potential is None:
                return None
            length = national_prefix.length_result(digits)
            if length is None:
                return None
            if (not national_prefix.viable(digits) and national_prefix.viable(potential)) or length == _TOO_LONG:
                # The leading digits were the country code; parse() now uses the
                # metadata of the code's main region.
                number = potential
                national_prefix = country.national_prefix
        return _finish(country, number, national_prefix)


def fast_parts(e164: str) -> tuple[str, str, str | None, int] | None:
    """``(country code, NSN, region, type)`` of a clean ``+<digits>`` as phonenumbers parses it.

    The region is ``region_code_for_number`` and the type ``number_type``; None means "don't know,
    ask phonenumbers".
    """
    if e164[:1] != "+" or len(e164) > _MAX_INPUT_LENGTH or not e164.isascii():
        return None
    digits = e164[1:]
    if not digits.isdigit():
        return None
    found = _country(digits)
    if found is None:
        return None
    country, size = found
    number = digits[size:]
    if len(number) < _MIN_NSN:
        return None
    nsn = country.national_prefix.strip(number)
    if nsn is None or not _MIN_NSN <= len(nsn) <= _MAX_NSN:
        return None
    region, number_type = country.region_and_type(nsn)
    return country.cc, nsn, region, number_type


def fast_region(e164: str) -> tuple[str | None] | None:
    """``(region_code_for_number(parse(e164)),)`` for a clean ``+<digits>``; None to fall back."""
    parts = fast_parts(e164)
    return None if parts is None else (parts[2],)
