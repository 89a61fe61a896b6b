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
* ``number_type`` / ``_number_type_helper``: one compiled regex per region and NSN length,
  ``(?=general)(?:(premium)|(toll_free)|…|(fixed_or_mobile)|(fixed)|(mobile))`` in the helper's order,
  with only the alternatives whose possible lengths hold that length, so the first alternative that
  matches the whole NSN is the type the helper would return. Validity is ``type != UNKNOWN``:
  ``is_valid_number`` runs the same helper on the same region's metadata.

The regexes and tables come from ``runner.audience.phonemeta`` (one regex per region and NSN length);
this module walks them. The equivalence with the plain path is tested on large generated sets and on
every example number phonenumbers ships (tests/audience/test_phones.py); this
module relies on phonenumbers' private algorithm, so keep that test green
whenever phonenumbers is upgraded.
"""

from __future__ import annotations

import re

from runner.audience.phonemeta import (
    COUNTRIES,
    MAX_INPUT_LENGTH,
    MAX_NSN,
    MIN_NSN,
    TOO_LONG,
    ByLength,
    Home,
    country,
    finish,
    whole_e164,
)

__all__ = ["COUNTRIES", "FastClassifier", "fast_parts", "fast_region"]

_COUNTRIES = COUNTRIES  # the countries built so far (tests look at them)

# Separators that phonenumbers accepts anywhere in a number (all in its
# _VALID_PUNCTUATION) and that play no other role for a string made of ASCII
# digits, one leading "+" and these: no extension, second-number, alpha or
# RFC 3966 pattern can match, so normalising them away changes nothing
# (FastClassifier.classify drops them with str.replace, faster here than str.translate).
_SEPARATORS = " .-()/"


class FastClassifier:
    """``(e164, number_type, region)`` for the shapes it understands, ``None`` for "ask phonenumbers".

    The e164 string and the region (``region_code_for_number``: "001" for non-geographic codes, None when
    phonenumbers finds none) are only meaningful when the type is not UNKNOWN.
    """

    __slots__ = ("_home", "_home_region", "_home_whole", "_lines")

    @property
    def home_region(self) -> str | None:
        """The region of every number :attr:`home_whole` or the default region's national regexes match
        (the default region, when its code is a single-region one; else None)."""
        return self._home_region

    @property
    def home_national(self) -> tuple[ByLength, str, int] | None:
        """The default region's whole national regexes by the string's length, ``"+" + cc`` and the
        national prefix's length: when one matches the digits ``d`` (separators " .-" dropped, at least 3),
        :meth:`classify` answers ``("+" + cc + d[skip:], types[match.lastindex], home_region)``."""
        home = self._home
        if home is None or home.national is None:
            return None
        by_length, skip = home.national
        return by_length, "+" + home.cc, skip

    @property
    def home_whole(self) -> ByLength | None:
        """The default region's clean ``+cc…`` regexes by the raw string's length: when one matches ``raw``,
        :meth:`classify` answers ``(raw, types[match.lastindex], home_region)`` (a caller may skip the call)."""
        return self._home_whole

    def home_lines(self, delimiter: str, index: int) -> tuple[re.Pattern[str], str] | None:
        """The default region's line regex for the phone cell at ``index`` (``runner.audience.phonelines``)
        and ``"+" + cc``: when its group ``NSN`` is not None, :meth:`classify` answers the cell with
        ``("+" + cc + nsn, a mobile type, home_region)``; None when the default region has none."""
        key = (delimiter, index)
        if key not in self._lines:
            from runner.audience.phonelines import home_line
            from runner.audience.phones import MOBILE_TYPES

            home = self._home
            pattern = None if home is None else home_line(home, delimiter, index, MOBILE_TYPES)
            self._lines[key] = None if pattern is None or home is None else (pattern, "+" + home.cc)
        return self._lines[key]

    def __init__(self, default_region: str | None) -> None:
        self._lines: dict[tuple[str, int], tuple[re.Pattern[str], str] | None] = {}
        self._home = Home(default_region) if default_region is not None else None
        whole = whole_e164(self._home.country) if self._home is not None else None
        self._home_whole = whole  # by the raw string's length: the default region's clean "+cc…"
        single = self._home.country.single if self._home is not None else None
        self._home_region = single.code if single is not None else None
        if self._home is not None:  # built before the audience's workers fork, not in each of them
            general = self._home.country.regions[0].metadata.general_desc
            for nsn in sorted({n for n in (general.possible_length if general else ()) if MIN_NSN <= n <= MAX_NSN}):
                if whole is not None:
                    whole[1 + len(self._home.cc) + nsn]
                if self._home.national is not None:
                    self._home.national[0][self._home.national[1] + nsn]

    def classify(self, raw: str) -> tuple[str, int, str | None] | None:
        if raw[:1] == "+":
            digits = raw[1:]
            if digits.isdigit() and raw.isascii() and len(raw) <= MAX_INPUT_LENGTH:
                # The common case, a valid number of the default region's code: one regex call.
                whole = self._home_whole
                if whole is not None:
                    pattern, types = whole[len(raw)]
                    match = pattern.fullmatch(raw)
                    if match is not None:
                        return raw, types[match.lastindex or 0], self._home_region
                return self._international(digits)
        elif raw.isdigit():
            if raw.isascii() and len(raw) <= MAX_INPUT_LENGTH:
                return self._national(raw)
            return None
        if len(raw) > MAX_INPUT_LENGTH or not raw.isascii():
            return None
        # The separators dropped one by one: str.translate costs 0.4 µs here, these replace calls 0.1.
        cleaned = raw.strip().replace(" ", "").replace(".", "").replace("-", "")
        if "(" in cleaned or ")" in cleaned or "/" in cleaned:
            cleaned = cleaned.replace("(", "").replace(")", "").replace("/", "")
        if cleaned[:1] == "+":
            digits = cleaned[1:]
            return self._international(digits) if digits.isdigit() else None
        return self._national(cleaned) if cleaned.isdigit() else None

    def _international(self, digits: str) -> tuple[str, int, str | None] | None:
        """``+`` (or the default region's IDD) followed by ``digits``."""
        home = self._home
        if home is not None and digits.startswith(home.cc):
            found, size = home.country, len(home.cc)
        else:
            known = country(digits)
            if known is None:
                return None
            found, size = known
        whole = found.whole()
        if whole is not None:  # the common case, a valid number of a single-region code: one regex call
            pattern, types = whole[len(digits)]
            match = pattern.fullmatch(digits)
            if match is not None:
                single = found.single  # (never None: whole_e164 is of a single-region code)
                return "+" + digits, types[match.lastindex or 0], single.code if single is not None else None
        return finish(found, digits[size:], found.national_prefix)

    def _national(self, digits: str) -> tuple[str, int, str | None] | None:
        """Digits without "+": the default region's IDD, its country code, or a national number."""
        home = self._home
        if home is None or len(digits) < 3:
            return None
        national = home.national
        if national is not None:
            # The common case, a valid national number: one regex call (see phonemeta.whole_national).
            by_length, skip = national
            pattern, types = by_length[len(digits)]
            match = pattern.fullmatch(digits)
            if match is not None:
                return "+" + home.cc + digits[skip:], types[match.lastindex or 0], self._home_region
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
        national_prefix = home.national_prefix
        if digits.startswith(home.cc):
            potential = national_prefix.strip(digits[len(home.cc) :])
            if potential is None:
                return None
            length = national_prefix.length_result(digits)
            if length is None:
                return None
            if (not national_prefix.viable(digits) and national_prefix.viable(potential)) or length == TOO_LONG:
                # The leading digits were the country code; parse() now uses the
                # metadata of the code's main region.
                number = potential
                national_prefix = home.country.national_prefix
        return finish(home.country, number, national_prefix)


def fast_parts(e164: str) -> tuple[str, str, str | None, int] | None:
    """``(country code, NSN, region, type)`` of a clean ``+<digits>`` as phonenumbers parses it.

    The region is ``region_code_for_number`` and the type ``number_type``; None means "don't know,
    ask phonenumbers".
    """
    if e164[:1] != "+" or len(e164) > MAX_INPUT_LENGTH or not e164.isascii():
        return None
    digits = e164[1:]
    if not digits.isdigit():
        return None
    found = country(digits)
    if found is None:
        return None
    code, size = found
    number = digits[size:]
    if len(number) < MIN_NSN:
        return None
    nsn = code.national_prefix.strip(number)
    if nsn is None or not MIN_NSN <= len(nsn) <= MAX_NSN:
        return None
    region, number_type = code.region_and_type(nsn)
    return code.cc, nsn, region, number_type


def fast_region(e164: str) -> tuple[str | None] | None:
    """``(region_code_for_number(parse(e164)),)`` for a clean ``+<digits>``; None to fall back."""
    parts = fast_parts(e164)
    return None if parts is None else (parts[2],)
