"""Where a recipient's clock is: a number's region and time zones (:class:`Locality`).

A number's :class:`Locality` is its region (``phonenumbers.region_code_for_number``) and its time zones
(``phonenumbers.timezone.time_zones_for_number``).  ``+262`` mobiles get both Indian Ocean zones from
phonenumbers, so Réunion (``RE``) and Mayotte (``YT``) are pinned to their own zone by region.  Country
codes whose every number has one region and one zone list (France, Belgium...) are answered from the
country code alone, without validating the number (:func:`count_localities` counts a whole list by
its first four characters).  The send window (:mod:`runner.message.window`) is evaluated in these zones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from runner.audience.phonefast import fast_parts

__all__ = ["Locality", "count_localities", "locality_of", "zone_info"]

# Regions whose numbers phonenumbers maps to zones shared with a neighbour: pin them by region.
_REGION_ZONES: dict[str, tuple[str, ...]] = {
    "RE": ("Indian/Reunion",),
    "YT": ("Indian/Mayotte",),
}

_NON_GEOGRAPHIC_REGION = "001"  # phonenumbers' region for +800, +808, +870, +883...
_UNKNOWN_ZONES: tuple[str, ...] = (pn_timezone.UNKNOWN_TIMEZONE,)
_E164 = re.compile(r"\+([1-9]\d{5,14})")


@dataclass(frozen=True)
class Locality:
    """Where a recipient's clock is: region (ISO code, or None) and time zones (IANA names, sorted).

    ``zones`` is empty when no zone is known for the number.
    """

    region: str | None
    zones: tuple[str, ...]

    @property
    def known(self) -> bool:
        """True when at least one time zone is known."""
        return bool(self.zones)


@cache
def zone_info(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@cache
def _make_locality(region: str | None, raw_zones: tuple[str, ...]) -> Locality:
    """One shared :class:`Locality` per distinct answer (a million recipients share a few dozen)."""
    if region == _NON_GEOGRAPHIC_REGION or region == "ZZ":
        region = None
    zones = _REGION_ZONES.get(region or "", raw_zones)
    kept = sorted({z for z in zones if z != pn_timezone.UNKNOWN_TIMEZONE and zone_info(z) is not None})
    return Locality(region, tuple(kept))


def _country_level_zones(cc: str) -> tuple[str, ...] | None:
    # The same lookup phonenumbers does for numbers whose type is not geographic.
    for prefix_len in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        zones = TIMEZONE_DATA.get(cc[: 1 + prefix_len])
        if zones is not None:
            return tuple(zones)
    return None


def _uniform_country_codes() -> dict[str, Locality]:
    """Country codes whose every number has one region and one zone list, whatever its type.

    For these the locality follows from the country code alone, without validating the number
    (validation is most of the cost of asking phonenumbers, and France is one of them).
    """
    by_prefix: dict[str, set[tuple[str, ...]]] = {}
    for prefix, zones in TIMEZONE_DATA.items():
        by_prefix.setdefault(prefix, set()).add(tuple(zones))
    out: dict[str, Locality] = {}
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        cc = str(code)
        if len(regions) != 1 or regions[0] == _NON_GEOGRAPHIC_REGION:
            continue
        country = _country_level_zones(cc)
        if country is None:
            continue
        seen = {z for prefix, zs in by_prefix.items() if prefix.startswith(cc) for z in zs}
        if seen <= {country}:
            out[cc] = _make_locality(regions[0], country)
    return out


@lru_cache(maxsize=1)
def _uniform() -> dict[str, Locality]:
    return _uniform_country_codes()


_UNIFORM_BY_HEAD: dict[str, Locality | None] = {}  # "+331" -> France; a few hundred entries at most
_HEAD = re.compile(r"\+[0-9]{3}")


def _uniform_head(head: str) -> Locality | None:
    """The locality of every number that starts with ``head`` ("+" and three digits) when that covers a
    uniform country code; None otherwise."""
    try:
        return _UNIFORM_BY_HEAD[head]
    except KeyError:
        pass
    if _HEAD.fullmatch(head) is None:
        return None
    uniform = _uniform()
    found = next((uniform[head[1:1 + n]] for n in (1, 2, 3) if head[1:1 + n] in uniform), None)
    _UNIFORM_BY_HEAD[head] = found
    return found


def locality_of(e164: str) -> Locality:
    """The region and time zones of a number (normally E.164, such as ``+33612345678``).

    Meant for numbers the audience step has already validated.  For a canonical E.164 number whose
    country code covers one region with one zone list (France, Belgium, Germany, Martinique...), the
    answer comes from the country code alone; an *invalid* number there gets its country's locality
    where phonenumbers would say "unknown".  Other clean numbers (shared codes such as +1, +44, +39)
    get phonenumbers' answer from the audience's metadata fast path; the rest go through phonenumbers
    and are cached.  A string that does not parse gets ``Locality(None, ())``.
    """
    if _E164.fullmatch(e164) is not None:
        uniform = _uniform_head(e164[:4])  # "+" and the longest country code
        if uniform is not None:
            return uniform
        fast = _locality_fast(e164)
        if fast is not None:
            return fast
    return _locality_slow(e164)


def _locality_fast(e164: str) -> Locality | None:
    """``time_zones_for_number`` step by step on the fast path's region and type; None to fall back."""
    parts = fast_parts(e164)
    if parts is None:
        return None
    cc, nsn, region, number_type = parts
    zones: tuple[str, ...] | None
    if number_type == phonenumbers.PhoneNumberType.UNKNOWN:
        zones = _UNKNOWN_ZONES
    elif not phonenumbers.is_number_type_geographical(number_type, int(cc)):
        zones = _country_level_zones(cc)
    else:
        digits = cc + nsn  # what format_number(..., E164) gives, without its "+"
        zones = None
        for prefix_len in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
            zones = TIMEZONE_DATA.get(digits[:prefix_len])
            if zones is not None:
                break
    return _make_locality(region, zones if zones is not None else _UNKNOWN_ZONES)


def count_localities(numbers: Iterable[str]) -> Counter[Locality]:
    """How many of ``numbers`` share each locality: ``Counter(map(locality_of, numbers))``, faster.

    Meant for the audience's output (canonical E.164): the numbers are grouped by their first four
    characters, which settle the locality of a whole uniform country code at once, and only the
    others are looked at one by one.  A malformed string under a uniform code (``+3361``) is
    counted with its country, where ``locality_of`` would call it unknown.
    """
    if not isinstance(numbers, Sequence):  # iterated twice; a sequence (list, E164List) is read as it is
        numbers = list(numbers)
    out: Counter[Locality] = Counter()
    one_by_one: set[str] = set()
    for head, count in Counter(number[:4] for number in numbers).items():
        uniform = _uniform_head(head)
        if uniform is not None:
            out[uniform] += count
        else:
            one_by_one.add(head)
    if one_by_one:
        out.update(locality_of(number) for number in numbers if number[:4] in one_by_one)
    return out


@lru_cache(maxsize=1 << 16)
def _locality_slow(text: str) -> Locality:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return _make_locality(None, ())
    region = phonenumbers.region_code_for_number(number)
    return _make_locality(region, tuple(pn_timezone.time_zones_for_number(number)))
