"""Phone number normalisation and validation: E.164 out, identical to phonenumbers, fast.

``PhoneNormaliser(default_region).classify(raw)`` returns ``(e164, None)`` for a
valid, mobile-capable number and ``(None, reason)`` otherwise. The answer is, by
definition, the one of the plain phonenumbers path (``_plain_classify``):
``parse(raw, default_region)``, then ``number_type`` once (``number_type !=
UNKNOWN`` is exactly ``is_valid_number``: both run ``_number_type_helper`` on the
metadata of ``region_code_for_number``), then ``format_number(E164)``.

"Mobile-capable" means ``number_type`` is ``MOBILE`` or ``FIXED_LINE_OR_MOBILE``.
The second one is needed for the regions whose numbering plan does not tell
mobiles from fixed lines (the US, Canada and the rest of +1, among others):
refusing it would refuse every North American number. French +336/+337 numbers
are ``MOBILE``, French geographic numbers (+331…+335, +339) ``FIXED_LINE``.

Most strings are answered by the metadata-regex fast path
(``runner.audience.phonefast``, about 10 times faster than the plain path), the
rest by the plain path; either way the result is cached by raw string. The
fast path is tested for equivalence with the plain path.

Import this module lazily (inside the commands that need it): it imports
phonenumbers (about 17 ms).
"""

from __future__ import annotations

import re
import traceback
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from runner.audience.phonefast import FastClassifier, fast_region

__all__ = [
    "INVALID_NUMBER",
    "NEEDS_REGION",
    "NOT_A_PHONE_NUMBER",
    "Classification",
    "PhoneNormaliser",
    "region_of",
]

Classification = tuple[str | None, str | None]
"""``(e164, None)`` for a valid mobile-capable number, ``(None, reason)`` otherwise."""

NOT_A_PHONE_NUMBER: Final = "not a phone number"
INVALID_NUMBER: Final = "invalid number"
NEEDS_REGION: Final = "national format needs a region"

MOBILE_TYPES: Final[frozenset[int]] = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

_TYPE_NAMES: Final[dict[int, str]] = {
    PhoneNumberType.FIXED_LINE: "fixed line",
    PhoneNumberType.TOLL_FREE: "toll free",
    PhoneNumberType.PREMIUM_RATE: "premium rate",
    PhoneNumberType.SHARED_COST: "shared cost",
    PhoneNumberType.VOIP: "VoIP",
    PhoneNumberType.PERSONAL_NUMBER: "personal number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "universal access number",
    PhoneNumberType.VOICEMAIL: "voicemail",
}

# The rejection for each number type that is not mobile-capable (shared tuples).
_REJECTIONS: Final[dict[int, Classification]] = {
    number_type: (None, f"not a mobile number ({name})") for number_type, name in _TYPE_NAMES.items()
}
_REJECTIONS[PhoneNumberType.UNKNOWN] = (None, INVALID_NUMBER)
_NOT_A_NUMBER: Final[Classification] = (None, NOT_A_PHONE_NUMBER)
_NEEDS_REGION: Final[Classification] = (None, NEEDS_REGION)

_CACHE_LIMIT: Final = 2_000_000


def _rejection(number_type: int) -> Classification:
    rejection = _REJECTIONS.get(number_type)
    if rejection is None:  # a type phonenumbers may add one day
        rejection = _REJECTIONS[number_type] = (None, f"not a mobile number (type {number_type})")
    return rejection


def _needs_region(raw: str) -> bool:
    """True if parse(raw, None) failed only because the number is not written with "+"."""
    try:
        extracted = phonenumbers.phonenumberutil._build_national_number_for_parsing(raw)
    except NumberParseException:
        return False
    return phonenumbers.phonenumberutil._PLUS_CHARS_PATTERN.match(extracted) is None


# -- issue 15: refused before phonenumbers sees them ------------------------------------------------------
# phonenumbers reads letters as a keypad (``+33 6 12 CALL ME`` -> +33612225563, a stranger's phone) and
# drops extensions (``+33612345678;ext=2``, ``... ext. 5``, ``... x5``, ``#5``) to the main line. A number
# must be written with digits, separators (space . - ( ) /) and one leading "+"; nothing else. The fast
# path (runner.audience.phonefast) only ever accepts digits and those separators, so it cannot accept them.
LETTERS_IN_NUMBER: Final = "letters in a number (vanity letters are not converted)"
HAS_EXTENSION: Final = "has an extension or dial codes (; # , * or ext)"
_EXTENSION = re.compile(r"(?i)(?:[;#,*~]|ext|(?<![a-z])x\s*\d)")


def refused_reason(raw: str) -> str | None:
    """Why ``raw`` is refused before parsing (an extension, letters), or None."""
    if _EXTENSION.search(raw):
        return HAS_EXTENSION
    if any(ch.isalpha() for ch in raw):
        # "n/a", "unknown": not a number at all; "+33 6 12 CALL ME": letters read as a keypad
        return LETTERS_IN_NUMBER if any(ch.isdigit() for ch in raw) else NOT_A_PHONE_NUMBER
    return None
# -- end issue 15 -------------------------------------------------------------------------------------------


def _drop_frames(exc: BaseException | None) -> None:
    """Clear the finished frames of a caught exception's traceback (and of the ones it was raised in).

    ``parse`` keeps the exception it handles in a local (``_, e, _ = sys.exc_info()``): a cycle through
    the traceback, whose frames hold their callers' frames, up to the audience worker's (its whole part:
    the text, the rows, the numbers seen). Only the garbage collector frees such a cycle, and a worker's
    loop, which allocates no lasting objects, hardly triggers it: a 1M-row list left ~9 MB a part in each
    worker (140 MB at the end). Clearing the frames breaks the cycle as soon as the exception is handled.
    """
    while exc is not None:
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__context__


def _plain_classify(raw: str, default_region: str | None = None) -> Classification:
    """The reference answer: phonenumbers' plain path (also the fast path's fallback)."""
    refused = refused_reason(raw)  # issue 15
    if refused is not None:
        return (None, refused)
    try:
        number = phonenumbers.parse(raw, default_region)
    except NumberParseException as exc:
        _drop_frames(exc)
        if (
            default_region is None
            and exc.error_type == NumberParseException.INVALID_COUNTRY_CODE
            and _needs_region(raw)
        ):
            return _NEEDS_REGION
        return _NOT_A_NUMBER
    number_type = phonenumbers.number_type(number)
    if number_type in MOBILE_TYPES:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164), None
    return _rejection(number_type)


class PhoneNormaliser:
    """Classifies raw phone strings as people write them in CSV files.

    ``default_region`` (ISO 3166 code such as ``"FR"``, any case) is used for
    numbers written without a country code (``06 12 34 56 78``, ``0033…``);
    without it those are refused with ``NEEDS_REGION``.

    Results are cached by raw string (the cache is cleared past 2M entries).
    """

    __slots__ = ("_cache", "_fast", "default_region")

    def __init__(self, default_region: str | None = None) -> None:
        if default_region is not None:
            region = default_region.strip().upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown region {default_region!r} (expected an ISO code such as 'FR')")
            default_region = region
        self.default_region = default_region
        self._fast = FastClassifier(default_region)
        self._cache: dict[str, Classification] = {}

    def classify(self, raw: str) -> Classification:
        """(E.164, None) for a valid mobile-capable number; (None, reason) otherwise."""
        cache = self._cache
        result = cache.get(raw)
        if result is not None:
            return result
        fast = self._fast.classify(raw)
        if fast is None:
            result = _plain_classify(raw, self.default_region)
        elif fast[1] in MOBILE_TYPES:
            e164 = fast[0]
            result = (raw if e164 == raw else e164, None)  # share the string when raw is already E.164
        else:
            result = _rejection(fast[1])
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[raw] = result
        return result


_REGION_CACHE: dict[str, str | None] = {}


def _plain_region_of(e164: str) -> str | None:
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region


def region_of(e164: str) -> str | None:
    """phonenumbers' ``region_code_for_number`` of an E.164 number (cached); None if unknown.

    "001" for non-geographic codes (+800, +882…), as phonenumbers says.
    """
    try:
        return _REGION_CACHE[e164]
    except KeyError:
        pass
    fast = fast_region(e164)
    region = _plain_region_of(e164) if fast is None else fast[0]
    if len(_REGION_CACHE) >= _CACHE_LIMIT:
        _REGION_CACHE.clear()
    _REGION_CACHE[e164] = region
    return region
