"""Local time in a zone, exactly: public holidays per region, the instants a zone changes its UTC
offset, and sets of UTC intervals; what :class:`~runner.message.window.WindowPolicy` computes with.

Exactness across DST changes and 30/45-minute offsets comes from working in UTC: each zone's offset
changes are located to the second, and between two changes the local clock is UTC plus a constant.
Public holidays come from the ``holidays`` package, built lazily and cached per (region, year).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from runner.message.locality import zone_info

__all__ = [
    "Interval",
    "has_holiday_calendar",
    "holiday_dates",
    "in_zone_of",
    "intersect_intervals",
    "merge_intervals",
    "offset_segments",
    "to_utc",
]

_SAMPLE_STEP = 6 * 3600  # seconds between offset samples; zones never change offset twice in 6 h

Interval = tuple[datetime, datetime]  # [start, end) in UTC


# --------------------------------------------------------------------------------- public holidays


@cache
def holiday_dates(region: str, year: int) -> frozenset[date] | None:
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
    zone = zone_info(key)
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


def offset_segments(key: str, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime, timedelta]]:
    """[lo, hi) cut where ``key`` changes offset: (start, end, constant offset) pieces."""
    zone = zone_info(key)
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


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def intersect_intervals(a: list[Interval], b: list[Interval]) -> list[Interval]:
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


def to_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone: window checks need an aware datetime")
    return at.astimezone(UTC)


def in_zone_of(value: datetime, like: datetime) -> datetime:
    """``value`` (UTC) expressed in the time zone ``like`` was given in."""
    tz: tzinfo | None = like.tzinfo
    return value.astimezone(tz)
