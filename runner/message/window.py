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

This module holds the policy; where a number's clock is lives in :mod:`runner.message.locality`, and
holidays, offset changes and interval sets in :mod:`runner.message.localtime`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from runner.campaign.model import Window
from runner.errors import CampaignError
from runner.message.locality import Locality, count_localities, locality_of, zone_info
from runner.message.locality import _locality_fast as _locality_fast  # re-exported for the tests
from runner.message.locality import _locality_slow as _locality_slow
from runner.message.localtime import (
    Interval,
    has_holiday_calendar,
    holiday_dates,
    in_zone_of,
    intersect_intervals,
    merge_intervals,
    offset_segments,
    to_utc,
)

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

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_FIRST_CHUNK = timedelta(days=2)
_MAX_CHUNK = timedelta(days=64)


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
        if fallback_zone is not None and zone_info(fallback_zone) is None:
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
        holidays = holiday_dates(region, day.year)
        return holidays is None or day not in holidays

    # -- questions

    def is_open(self, locality: Locality, at: datetime) -> bool:
        """True when ``at`` is inside the window in every zone of ``locality``."""
        instant = to_utc(at)
        zones = self.zones_for(locality)
        if not zones:
            return False
        for key in zones:
            zone = zone_info(key)
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
        lo, hi = to_utc(start), to_utc(end)
        zones = self.zones_for(locality)
        if not zones or lo >= hi:
            return []
        result: list[Interval] | None = None
        for key in zones:
            mine = self._zone_intervals(key, locality.region, lo, hi)
            result = mine if result is None else intersect_intervals(result, mine)
            if not result:
                return []
        assert result is not None
        return result

    def _zone_intervals(self, key: str, region: str | None, lo: datetime, hi: datetime) -> list[Interval]:
        out: list[Interval] = []
        for seg_lo, seg_hi, offset in offset_segments(key, lo, hi):
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
        return merge_intervals(out)

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
        start = to_utc(at)
        if not self.zones_for(locality):
            return None
        for lo, hi in self._chunks(start):
            found = self.open_intervals(locality, lo, hi)
            if found:
                return in_zone_of(found[0][0], at)
        return None

    def closes_at(self, locality: Locality, at: datetime) -> datetime | None:
        """When the open period containing ``at`` ends (exclusive); None if closed at ``at``.

        Also None when it stays open past :data:`HORIZON` (a window that never closes).
        """
        if not self.is_open(locality, at):
            return None
        for lo, hi in self._chunks(to_utc(at)):
            found = self.open_intervals(locality, lo, hi)
            if not found or found[0][0] != lo:
                return in_zone_of(lo, at)  # the previous chunk's period ended exactly at its edge
            if found[0][1] < hi:
                return in_zone_of(found[0][1], at)
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
    to_utc(at)
    details: list[LocalityWindow] = []
    sendable = held = 0
    earliest: datetime | None = None
    for locality, count in localities.items():
        if count <= 0:
            continue
        opening = policy.next_opening(locality, at)
        open_now = opening is not None and to_utc(opening) == to_utc(at)  # UTC: a fold must not compare equal
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
