"""Send windows, evaluated in each recipient's local time.

A :class:`~runner.campaign.model.Window` says on which local days (0=Monday) and between which local
hours (``start`` inclusive, ``end`` exclusive, ``HH:MM``; ``end`` may be ``24:00``) messages may go
out, and whether public holidays are allowed.  Commercial campaigns without a window get
:data:`DEFAULT_COMMERCIAL_WINDOW` (Monday-Saturday 08:00-20:00, no public holidays: the window that
satisfies every source in the compliance reference); non-commercial campaigns have no window unless
one is set (:func:`effective_window`).

Where a recipient is
    A number's :class:`Locality` is its region (``phonenumbers.region_code_for_number``) and its
    time zones (``phonenumbers.timezone.time_zones_for_number``).  ``+262`` mobiles get both Indian
    Ocean zones from phonenumbers, so Réunion (``RE``) and Mayotte (``YT``) are pinned to their own
    zone by region.  When several zones remain (a US toll-free number, French Polynesia...), an
    instant is inside the window only if it is inside it in **all** of them.

Days, hours and holidays are local
    The weekday and the date are those of the local wall clock, so a Réunion recipient's Saturday
    ends at 20:00 UTC+4.  Public holidays come from the ``holidays`` package for the number's region
    (the French overseas territories have their own calendars there: RE, GP, MQ, GF, YT, NC, PF...),
    built lazily and cached per (region, year).  A region without a calendar gets no holidays, and
    :meth:`WindowPolicy.warnings` says so.

Numbers with no known time zone (non-geographic ``+800``/``+883`` numbers, numbers phonenumbers
cannot place) are never inside the window: they are held, with a warning, unless the policy is
given an explicit ``fallback_zone``.  Overnight windows (start after end) are refused: a campaign
that wants 22:00-06:00 has no single "day" to attach the hours to.

Exactness across DST changes and 30/45-minute offsets comes from working in UTC: each zone's
offset changes are located to the second, and between two changes the local clock is UTC plus a
constant, so the open periods are computed exactly rather than by stepping through time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from runner.audience.phonefast import fast_parts
from runner.campaign.model import Window
from runner.errors import CampaignError

__all__ = [
    "DEFAULT_COMMERCIAL_WINDOW",
    "HORIZON",
    "Locality",
    "LocalityWindow",
    "WindowPolicy",
    "WindowSummary",
    "count_localities",
    "effective_window",
    "group_by_window",
    "has_holiday_calendar",
    "locality_of",
    "window_problems",
]

DEFAULT_COMMERCIAL_WINDOW = Window(days=(0, 1, 2, 3, 4, 5), start="08:00", end="20:00", holidays=False)
"""Monday-Saturday, 08:00-20:00 recipient-local, public holidays excluded."""

HORIZON = timedelta(days=400)
"""How far ahead :meth:`WindowPolicy.next_opening` looks before answering "never"."""

# Regions whose numbers phonenumbers maps to zones shared with a neighbour: pin them by region.
_REGION_ZONES: dict[str, tuple[str, ...]] = {
    "RE": ("Indian/Reunion",),
    "YT": ("Indian/Mayotte",),
}

_NON_GEOGRAPHIC_REGION = "001"  # phonenumbers' region for +800, +808, +870, +883...
_UNKNOWN_ZONES: tuple[str, ...] = (pn_timezone.UNKNOWN_TIMEZONE,)
_E164 = re.compile(r"\+([1-9]\d{5,14})")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_SAMPLE_STEP = 6 * 3600  # seconds between offset samples; zones never change offset twice in 6 h
_FIRST_CHUNK = timedelta(days=2)
_MAX_CHUNK = timedelta(days=64)

Interval = tuple[datetime, datetime]  # [start, end) in UTC


# --------------------------------------------------------------------------- where is the recipient


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
def _zone(key: str) -> ZoneInfo | None:
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
    kept = sorted({z for z in zones if z != pn_timezone.UNKNOWN_TIMEZONE and _zone(z) is not None})
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


# --------------------------------------------------------------------------------- public holidays


@cache
def _holiday_dates(region: str, year: int) -> frozenset[date] | None:
    """The region's public holidays in ``year``, or None when ``holidays`` has no calendar for it."""
    import holidays  # imported on first use: it takes ~50 ms

    try:
        calendar = holidays.country_holidays(region, years=year)
    except NotImplementedError:
        return None
    return frozenset(calendar.keys())


@cache
def _calendar_known(region: str) -> bool:
    import holidays

    try:
        holidays.country_holidays(region)  # no year: nothing is computed yet
    except NotImplementedError:
        return False
    return True


def has_holiday_calendar(region: str | None) -> bool:
    """True when the ``holidays`` package knows the public holidays of ``region``."""
    return region is not None and _calendar_known(region)


# ----------------------------------------------------------------------------- zone offset changes


def _offset(zone: ZoneInfo, ts: int) -> timedelta:
    offset = datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@lru_cache(maxsize=4096)
def _year_transitions(key: str, year: int) -> tuple[tuple[datetime, timedelta], ...]:
    """The instants in (1 Jan ``year``, 1 Jan ``year+1``] UTC where ``key`` changes offset.

    The offset is sampled every 6 hours and each change is bisected to the second (the tz database
    only changes offsets on whole seconds), so each instant is exact.
    """
    zone = _zone(key)
    assert zone is not None
    t = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    prev = _offset(zone, t)
    out: list[tuple[datetime, timedelta]] = []
    while t < end:
        nxt = min(t + _SAMPLE_STEP, end)
        if _offset(zone, nxt) == prev:
            t = nxt
            continue
        lo, hi = t, nxt  # offset(lo) == prev != offset(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset(zone, mid) == prev:
                lo = mid
            else:
                hi = mid
        prev = _offset(zone, hi)
        out.append((datetime.fromtimestamp(hi, UTC), prev))
        t = hi
    return tuple(out)


def _segments(key: str, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime, timedelta]]:
    """[lo, hi) cut where ``key`` changes offset: (start, end, constant offset) pieces."""
    zone = _zone(key)
    assert zone is not None
    offset = lo.astimezone(zone).utcoffset()
    assert offset is not None
    pieces: list[tuple[datetime, datetime, timedelta]] = []
    start = lo
    for year in range(lo.year, hi.year + 1):
        for when, new_offset in _year_transitions(key, year):
            if lo < when < hi:
                pieces.append((start, when, offset))
                start, offset = when, new_offset
    pieces.append((start, hi, offset))
    return pieces


# ----------------------------------------------------------------------------------- interval sets


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone: window checks need an aware datetime")
    return at.astimezone(UTC)


def _back(value: datetime, like: datetime) -> datetime:
    """``value`` (UTC) expressed in the time zone ``like`` was given in."""
    tz: tzinfo | None = like.tzinfo
    return value.astimezone(tz)


# ------------------------------------------------------------------------------------------- policy


def _parse_hhmm(text: object, *, allow_24: bool) -> timedelta | None:
    if not isinstance(text, str):
        return None
    if allow_24 and text == "24:00":
        return timedelta(hours=24)
    m = _HHMM.fullmatch(text)
    if m is None:
        return None
    return timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))


def window_problems(window: Window) -> list[str]:
    """What is wrong with a window, in words (empty when it is usable)."""
    problems: list[str] = []
    days = window.days
    if not days:
        problems.append("window.days is empty: the window would never open")
    bad = [d for d in days if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6]
    if bad:
        problems.append(f"window.days must be 0 (Monday) to 6 (Sunday), not {bad!r}")
    start = _parse_hhmm(window.start, allow_24=False)
    end = _parse_hhmm(window.end, allow_24=True)
    if start is None:
        problems.append(f"window.start must be HH:MM (00:00-23:59), not {window.start!r}")
    if end is None:
        problems.append(f"window.end must be HH:MM (00:01-24:00), not {window.end!r}")
    if start is not None and end is not None and start >= end:
        problems.append(f"window.end ({window.end}) must be after window.start ({window.start}); "
                        "windows over midnight are not supported")
    return problems


def effective_window(commercial: bool, window: Window | None) -> Window | None:
    """The window that applies: the campaign's own, else the commercial default, else none."""
    if window is not None:
        return window
    return DEFAULT_COMMERCIAL_WINDOW if commercial else None


class WindowPolicy:
    """Answers "may this locality receive a message at this instant, and if not, when?".

    All instants must be timezone-aware; answers are given in the time zone of the question.
    ``fallback_zone`` (an IANA name) is used for numbers with no known time zone; without it such
    numbers are never inside the window.
    """

    def __init__(self, window: Window, *, fallback_zone: str | None = None) -> None:
        problems = window_problems(window)
        if fallback_zone is not None and _zone(fallback_zone) is None:
            problems.append(f"unknown time zone {fallback_zone!r}")
        if problems:
            raise CampaignError("invalid send window: " + "; ".join(problems))
        self.window = window
        self.fallback_zone = fallback_zone
        self._days = frozenset(window.days)
        start = _parse_hhmm(window.start, allow_24=False)
        end = _parse_hhmm(window.end, allow_24=True)
        assert start is not None and end is not None
        self._start: timedelta = start
        self._end: timedelta = end

    def __repr__(self) -> str:
        w = self.window
        holidays = "allowed" if w.holidays else "closed"
        return f"WindowPolicy(days={w.days}, {w.start}-{w.end}, holidays {holidays})"

    # -- per-locality facts

    def zones_for(self, locality: Locality) -> tuple[str, ...]:
        """The zones the window is evaluated in (the fallback zone for a number with none)."""
        if locality.zones:
            return locality.zones
        return (self.fallback_zone,) if self.fallback_zone else ()

    def warnings(self, locality: Locality) -> tuple[str, ...]:
        """What the user should know about how this locality is handled."""
        out: list[str] = []
        where = f"numbers of {locality.region}" if locality.region else "numbers of no known region"
        if not locality.zones:
            if not self.fallback_zone:
                return (f"no time zone known for {where}: held (never inside the window)",)
            out.append(f"no time zone known for {where}: window evaluated in {self.fallback_zone}")
        if not self.window.holidays and not has_holiday_calendar(locality.region):
            out.append(f"no public-holiday calendar for {where}: public holidays are not excluded")
        return tuple(out)

    def _local_day_allowed(self, region: str | None, day: date) -> bool:
        if day.weekday() not in self._days:
            return False
        if self.window.holidays or region is None:
            return True
        holidays = _holiday_dates(region, day.year)
        return holidays is None or day not in holidays

    # -- questions

    def is_open(self, locality: Locality, at: datetime) -> bool:
        """True when ``at`` is inside the window in every zone of ``locality``."""
        instant = _utc(at)
        zones = self.zones_for(locality)
        if not zones:
            return False
        for key in zones:
            zone = _zone(key)
            assert zone is not None
            local = instant.astimezone(zone)
            since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
            # (wall-clock difference: both sides share tzinfo, so no UTC conversion happens)
            if not self._start <= since_midnight < self._end:
                return False
            if not self._local_day_allowed(locality.region, local.date()):
                return False
        return True

    def open_intervals(self, locality: Locality, start: datetime, end: datetime) -> list[Interval]:
        """The open periods within [start, end), as sorted, disjoint [from, to) pairs in UTC."""
        lo, hi = _utc(start), _utc(end)
        zones = self.zones_for(locality)
        if not zones or lo >= hi:
            return []
        result: list[Interval] | None = None
        for key in zones:
            mine = self._zone_intervals(key, locality.region, lo, hi)
            result = mine if result is None else _intersect(result, mine)
            if not result:
                return []
        assert result is not None
        return result

    def _zone_intervals(self, key: str, region: str | None, lo: datetime, hi: datetime) -> list[Interval]:
        out: list[Interval] = []
        for seg_lo, seg_hi, offset in _segments(key, lo, hi):
            # Here local wall time == UTC + offset, exactly.
            day = (seg_lo + offset).date()
            while True:
                midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - offset
                if midnight + self._start >= seg_hi:
                    break
                if self._local_day_allowed(region, day):
                    s = max(midnight + self._start, seg_lo)
                    e = min(midnight + self._end, seg_hi)
                    if s < e:
                        out.append((s, e))
                day += timedelta(days=1)
        return _merge(out)

    def _chunks(self, lo: datetime) -> Iterable[tuple[datetime, datetime]]:
        limit = lo + HORIZON
        size = _FIRST_CHUNK
        while lo < limit:
            hi = min(lo + size, limit)
            yield lo, hi
            lo, size = hi, min(size * 2, _MAX_CHUNK)

    def next_opening(self, locality: Locality, at: datetime) -> datetime | None:
        """The earliest instant >= ``at`` inside the window in all zones (``at`` itself when open).

        None when the window does not open within :data:`HORIZON` (or no zone is known).
        """
        start = _utc(at)
        if not self.zones_for(locality):
            return None
        for lo, hi in self._chunks(start):
            found = self.open_intervals(locality, lo, hi)
            if found:
                return _back(found[0][0], at)
        return None

    def closes_at(self, locality: Locality, at: datetime) -> datetime | None:
        """When the open period containing ``at`` ends (exclusive); None if closed at ``at``.

        Also None when it stays open past :data:`HORIZON` (a window that never closes).
        """
        if not self.is_open(locality, at):
            return None
        for lo, hi in self._chunks(_utc(at)):
            found = self.open_intervals(locality, lo, hi)
            if not found or found[0][0] != lo:
                return _back(lo, at)  # the previous chunk's period ended exactly at its edge
            if found[0][1] < hi:
                return _back(found[0][1], at)
        return None


# ----------------------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class LocalityWindow:
    """One locality's recipients and where they stand with respect to the window."""

    region: str | None
    zones: tuple[str, ...]
    count: int
    open_now: bool
    next_opening: datetime | None  # == the summary's ``at`` when open now; None: not within HORIZON
    warnings: tuple[str, ...] = ()

    @property
    def locality(self) -> Locality:
        return Locality(self.region, self.zones)


@dataclass(frozen=True)
class WindowSummary:
    """How many recipients may be sent to now, how many are held, and until when."""

    sendable_now: int
    held: int
    next_opening: datetime | None  # earliest opening among the held ones (None: none held or never)
    localities: tuple[LocalityWindow, ...] = field(default=())

    @property
    def never_open(self) -> int:
        """Held recipients whose window does not open within :data:`HORIZON`."""
        return sum(lw.count for lw in self.localities if not lw.open_now and lw.next_opening is None)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Distinct warnings of all localities, in order."""
        return tuple(dict.fromkeys(w for lw in self.localities for w in lw.warnings))


def group_by_window(policy: WindowPolicy, localities: Mapping[Locality, int], at: datetime) -> WindowSummary:
    """Sort recipient counts (grouped by locality) into "send now" and "held until ...".

    Localities are listed by count (largest first), then region.
    """
    _utc(at)
    details: list[LocalityWindow] = []
    sendable = held = 0
    earliest: datetime | None = None
    for locality, count in localities.items():
        if count <= 0:
            continue
        opening = policy.next_opening(locality, at)
        open_now = opening is not None and _utc(opening) == _utc(at)  # UTC: a fold must not compare equal
        warnings = list(policy.warnings(locality))
        if open_now:
            sendable += count
        else:
            held += count
            if opening is None and policy.zones_for(locality):
                warnings.append(f"the window does not open within {HORIZON.days} days "
                                f"in all of {', '.join(policy.zones_for(locality))}")
            if opening is not None and (earliest is None or opening < earliest):
                earliest = opening
        details.append(LocalityWindow(locality.region, locality.zones, count, open_now, opening,
                                      tuple(warnings)))
    details.sort(key=lambda lw: (-lw.count, lw.region or "", lw.zones))
    return WindowSummary(sendable, held, earliest, tuple(details))
