"""Send windows in the recipient's local time: zones by region, local days and holidays, exact DST."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest

from runner.campaign.model import Window
from runner.errors import CampaignError
from runner.message.window import (
    DEFAULT_COMMERCIAL_WINDOW,
    Locality,
    WindowPolicy,
    _locality_fast,
    _locality_slow,
    count_localities,
    effective_window,
    group_by_window,
    has_holiday_calendar,
    locality_of,
    window_problems,
)

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
MAYOTTE = ZoneInfo("Indian/Mayotte")
GUADELOUPE = ZoneInfo("America/Guadeloupe")

FR = Locality("FR", ("Europe/Paris",))
RE = Locality("RE", ("Indian/Reunion",))
YT = Locality("YT", ("Indian/Mayotte",))
GP = Locality("GP", ("America/Guadeloupe",))
US_COASTS = Locality("US", ("America/Los_Angeles", "America/New_York"))
PF = Locality("PF", ("Pacific/Gambier", "Pacific/Marquesas", "Pacific/Tahiti"))

DEFAULT = WindowPolicy(DEFAULT_COMMERCIAL_WINDOW)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=PARIS)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ locality


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+33612345678", FR),
        ("+33142685300", FR),
        ("+262692123456", RE),  # phonenumbers says Mayotte *and* Réunion for +262 mobiles
        ("+262693123456", RE),
        ("+262639012345", YT),
        ("+262269612345", YT),
        ("+590690123456", GP),
        ("+596696123456", Locality("MQ", ("America/Martinique",))),
        ("+594694123456", Locality("GF", ("America/Cayenne",))),
        ("+687751234", Locality("NC", ("Pacific/Noumea",))),
        ("+68987123456", PF),
        ("+12125550100", Locality("US", ("America/New_York",))),
        ("+14155550100", Locality("US", ("America/Los_Angeles",))),
    ],
)
def test_locality_of_known_numbers(number: str, expected: Locality) -> None:
    assert locality_of(number) == expected


def test_comoros_is_not_mayotte() -> None:
    assert locality_of("+2693212345").region == "KM"


def test_toll_free_us_number_has_many_zones() -> None:
    loc = locality_of("+18005550100")
    assert loc.region == "US"
    assert len(loc.zones) > 10
    assert "Pacific/Guam" in loc.zones and "America/New_York" in loc.zones


@pytest.mark.parametrize("number", ["+80012345678", "+88351001234", "not a number", ""])
def test_numbers_without_zone(number: str) -> None:
    loc = locality_of(number)
    assert loc == Locality(None, ())
    assert not loc.known


def test_localities_are_shared_objects() -> None:
    assert locality_of("+33612345678") is locality_of("+33798765432")


def test_fast_path_agrees_with_phonenumbers_on_every_example_number() -> None:
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert locality_of(e164) == _locality_slow(e164), e164
            checked += 1
    assert checked > 400


def test_shared_country_codes_agree_with_phonenumbers_on_random_numbers() -> None:
    # +1 +44 +7 +39 +212 +262 +590 +47 +61 share their code between regions: the answer comes from the
    # fast path's region and type, so check it against phonenumbers' own on numbers of every shape,
    # valid or not, with italian leading zeros and national prefixes after the code.
    rng = random.Random(20261124)
    codes = [str(cc) for cc, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1]
    assert {"1", "44", "7", "39", "212"} <= set(codes)
    examples = [
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        if str(phonenumbers.country_code_for_region(region)) in codes
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    checked = fast = zoned = 0
    for i in range(20_000):
        if i % 2:
            cc = rng.choice(codes)
            e164 = "+" + cc + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 12)))
        else:  # a real number's shape with other last digits: mostly valid, in other prefixes' zones
            base = rng.choice(examples)
            keep = rng.randint(len(base) - 6, len(base) - 2)
            e164 = base[:keep] + "".join(rng.choice("0123456789") for _ in range(len(base) - keep))
        expected = _locality_slow(e164)
        got = _locality_fast(e164)
        assert got in (None, expected), e164
        fast += got is not None
        zoned += expected.known
        checked += 1
    assert fast > checked * 0.9  # the comparison really exercised the fast path...
    assert zoned > checked * 0.3  # ...on numbers that have zones


# ------------------------------------------------------------------------------ default window, FR


def test_saturday_evening_paris() -> None:
    assert DEFAULT.is_open(FR, paris(2026, 3, 28, 19, 59))
    assert DEFAULT.is_open(FR, paris(2026, 3, 28, 19, 59, 59, 999999))
    assert not DEFAULT.is_open(FR, paris(2026, 3, 28, 20, 0))  # end is exclusive
    assert DEFAULT.is_open(FR, paris(2026, 3, 28, 8, 0))  # start is inclusive
    assert not DEFAULT.is_open(FR, paris(2026, 3, 28, 7, 59))


def test_sunday_closed_next_opening_monday_across_spring_dst() -> None:
    # Last Sunday of March 2026 is the 29th: Monday 08:00 is then UTC+2.
    sunday = paris(2026, 3, 29, 12, 0)
    assert not DEFAULT.is_open(FR, sunday)
    opening = DEFAULT.next_opening(FR, sunday)
    assert opening == paris(2026, 3, 30, 8, 0)
    assert opening == utc(2026, 3, 30, 6, 0)
    assert DEFAULT.next_opening(FR, paris(2026, 3, 28, 20, 0)) == utc(2026, 3, 30, 6, 0)


def test_autumn_dst_weekend() -> None:
    # Last Sunday of October 2026 is the 25th: Saturday closes at 18:00 UTC, Monday opens at 07:00 UTC.
    assert DEFAULT.closes_at(FR, paris(2026, 10, 24, 12, 0)) == utc(2026, 10, 24, 18, 0)
    assert DEFAULT.next_opening(FR, paris(2026, 10, 24, 20, 0)) == utc(2026, 10, 26, 7, 0)


def test_answers_come_in_the_questions_time_zone() -> None:
    opening = DEFAULT.next_opening(FR, utc(2026, 3, 29, 12, 0))
    assert opening is not None and opening.tzinfo is UTC
    opening = DEFAULT.next_opening(FR, paris(2026, 3, 29, 12, 0))
    assert opening is not None and opening.tzinfo is PARIS and (opening.hour, opening.minute) == (8, 0)


def test_open_instant_is_its_own_next_opening() -> None:
    at = paris(2026, 3, 27, 10, 17, 3)
    assert DEFAULT.next_opening(FR, at) == at


def test_closes_at() -> None:
    assert DEFAULT.closes_at(FR, paris(2026, 3, 27, 10, 0)) == paris(2026, 3, 27, 20, 0)
    assert DEFAULT.closes_at(FR, paris(2026, 3, 29, 10, 0)) is None  # closed now


@pytest.mark.parametrize(
    ("holiday", "next_opening"),
    [
        (paris(2026, 7, 14, 10, 0), paris(2026, 7, 15, 8, 0)),  # Tuesday
        (paris(2026, 5, 1, 10, 0), paris(2026, 5, 2, 8, 0)),  # Friday
        (paris(2026, 12, 25, 10, 0), paris(2026, 12, 26, 8, 0)),  # Friday; 26 Dec is not a holiday in FR
        (paris(2026, 5, 8, 10, 0), paris(2026, 5, 9, 8, 0)),  # Friday (Victoire 1945)
    ],
)
def test_french_public_holidays_are_closed(holiday: datetime, next_opening: datetime) -> None:
    assert not DEFAULT.is_open(FR, holiday)
    assert DEFAULT.next_opening(FR, holiday) == next_opening


def test_holidays_allowed() -> None:
    allowed = WindowPolicy(Window(holidays=True))
    assert allowed.is_open(FR, paris(2026, 7, 14, 10, 0))
    assert not allowed.is_open(FR, paris(2026, 7, 14, 20, 0))
    assert not allowed.is_open(FR, paris(2026, 7, 12, 10, 0))  # still not on Sunday


def test_holiday_is_a_local_date() -> None:
    # 13 July 23:30 UTC is already 14 July in Réunion but still 13 July (evening) in Paris.
    wide = WindowPolicy(Window(days=EVERY_DAY, start="00:00", end="24:00"))
    at = utc(2026, 7, 13, 21, 30)  # 23:30 Paris, 01:30 Réunion (14 July)
    assert wide.is_open(FR, at)
    assert not wide.is_open(RE, at)


# ---------------------------------------------------------------------------- overseas territories


def test_reunion_is_utc_plus_4() -> None:
    friday = datetime(2026, 3, 27, 8, 0, tzinfo=REUNION)
    assert friday == utc(2026, 3, 27, 4, 0)
    assert DEFAULT.is_open(RE, friday)
    assert not DEFAULT.is_open(RE, friday - timedelta(seconds=1))
    assert DEFAULT.closes_at(RE, friday) == utc(2026, 3, 27, 16, 0)
    # At 17:00 UTC it is 18:00 in Paris (open) but 21:00 in Réunion (closed).
    assert DEFAULT.is_open(FR, utc(2026, 3, 27, 17, 0))
    assert not DEFAULT.is_open(RE, utc(2026, 3, 27, 17, 0))


def test_reunion_abolition_of_slavery() -> None:
    saturday = datetime(2025, 12, 20, 14, 0, tzinfo=REUNION)  # 11:00 in Paris
    assert not DEFAULT.is_open(RE, saturday)
    assert DEFAULT.is_open(FR, saturday)  # not a holiday in metropolitan France
    assert DEFAULT.next_opening(RE, saturday) == datetime(2025, 12, 22, 8, 0, tzinfo=REUNION)
    assert DEFAULT.is_open(locality_of("+262692123456"), datetime(2025, 12, 19, 10, 0, tzinfo=REUNION))


def test_mayotte_is_utc_plus_3_with_its_own_holidays() -> None:
    mayotte = locality_of("+262639012345")
    assert DEFAULT.next_opening(mayotte, utc(2026, 4, 28, 3, 0)) == utc(2026, 4, 28, 5, 0)  # 08:00 UTC+3
    holiday = datetime(2026, 4, 27, 10, 0, tzinfo=MAYOTTE)  # abolition of slavery, a Monday
    assert not DEFAULT.is_open(mayotte, holiday)
    assert DEFAULT.is_open(RE, holiday)


def test_guadeloupe() -> None:
    guadeloupe = locality_of("+590690123456")
    assert DEFAULT.next_opening(guadeloupe, utc(2026, 3, 27, 6, 0)) == utc(2026, 3, 27, 12, 0)  # UTC-4
    assert DEFAULT.closes_at(guadeloupe, utc(2026, 3, 27, 12, 0)) == utc(2026, 3, 28, 0, 0)
    holiday = datetime(2026, 5, 27, 10, 0, tzinfo=GUADELOUPE)  # abolition of slavery (GP), a Wednesday
    assert not DEFAULT.is_open(guadeloupe, holiday)
    assert DEFAULT.is_open(FR, holiday)


# -------------------------------------------------------------------------------- several time zones


def test_several_zones_must_all_be_open() -> None:
    # 08:00 in Los Angeles is 11:00 in New York; 20:00 in New York is 17:00 in Los Angeles.
    friday_morning_ny = datetime(2026, 3, 27, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert DEFAULT.is_open(Locality("US", ("America/New_York",)), friday_morning_ny)
    assert not DEFAULT.is_open(US_COASTS, friday_morning_ny)
    opening = DEFAULT.next_opening(US_COASTS, friday_morning_ny)
    assert opening == datetime(2026, 3, 27, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert DEFAULT.closes_at(US_COASTS, opening) == datetime(2026, 3, 27, 20, 0,
                                                             tzinfo=ZoneInfo("America/New_York"))


def test_half_hour_zones_of_french_polynesia() -> None:
    # Tahiti UTC-10 opens last (18:00 UTC); Gambier UTC-9 closes first (05:00 UTC next day).
    assert DEFAULT.next_opening(PF, utc(2026, 3, 26, 12, 0)) == utc(2026, 3, 26, 18, 0)
    assert DEFAULT.closes_at(PF, utc(2026, 3, 26, 18, 0)) == utc(2026, 3, 27, 5, 0)
    assert DEFAULT.is_open(PF, utc(2026, 3, 27, 4, 59))
    assert not DEFAULT.is_open(PF, utc(2026, 3, 27, 5, 0))


def test_quarter_hour_offset() -> None:
    nepal = Locality("NP", ("Asia/Kathmandu",))  # UTC+5:45
    assert DEFAULT.next_opening(nepal, utc(2026, 3, 26, 0, 0)) == utc(2026, 3, 26, 2, 15)


def test_toll_free_window_is_the_intersection() -> None:
    toll_free = locality_of("+18005550100")
    opening = DEFAULT.next_opening(toll_free, utc(2026, 3, 30, 12, 0))
    assert opening is not None
    closing = DEFAULT.closes_at(toll_free, opening)
    assert closing is not None and closing - opening <= timedelta(hours=1)
    for key in toll_free.zones:
        assert DEFAULT.is_open(Locality("US", (key,)), opening), key


def test_window_that_never_opens_in_all_zones() -> None:
    apart = Locality(None, ("Pacific/Kiritimati", "Pacific/Pago_Pago"))  # 25 hours apart
    short = WindowPolicy(Window(days=EVERY_DAY, start="09:00", end="10:00", holidays=True))
    assert short.next_opening(apart, utc(2026, 1, 1)) is None


# ---------------------------------------------------------------------------------- custom windows


def test_custom_days_and_hours() -> None:
    sunday_mornings = WindowPolicy(Window(days=(6,), start="10:30", end="12:00", holidays=True))
    assert sunday_mornings.next_opening(FR, paris(2026, 3, 25, 15, 0)) == paris(2026, 3, 29, 10, 30)
    assert sunday_mornings.closes_at(FR, paris(2026, 3, 29, 11, 0)) == paris(2026, 3, 29, 12, 0)
    assert not sunday_mornings.is_open(FR, paris(2026, 3, 29, 12, 0))


def test_window_until_midnight_and_always_open() -> None:
    late = WindowPolicy(Window(days=(4,), start="18:00", end="24:00"))
    assert late.is_open(FR, paris(2026, 3, 27, 23, 59, 59))
    assert not late.is_open(FR, paris(2026, 3, 28, 0, 0))
    assert late.closes_at(FR, paris(2026, 3, 27, 19, 0)) == paris(2026, 3, 28, 0, 0)
    always = WindowPolicy(Window(days=EVERY_DAY, start="00:00", end="24:00", holidays=True))
    at = paris(2026, 7, 14, 3, 0)
    assert always.next_opening(FR, at) == at
    assert always.closes_at(FR, at) is None  # never closes within the horizon


def test_opening_inside_the_spring_gap() -> None:
    # 29 March 2026 in Paris: 02:00-03:00 does not exist.  A window from 02:30 opens at the change.
    sunday = WindowPolicy(Window(days=(6,), start="02:30", end="05:00", holidays=True))
    assert sunday.next_opening(FR, utc(2026, 3, 28, 23, 0)) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    assert sunday.closes_at(FR, utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 3, 0)
    # A window wholly inside the gap does not happen that day.
    gap = WindowPolicy(Window(days=(6,), start="02:15", end="02:45", holidays=True))
    assert gap.next_opening(FR, utc(2026, 3, 28, 23, 0)) == paris(2026, 4, 5, 2, 15)


def test_repeated_hour_in_autumn_opens_twice() -> None:
    # 25 October 2026 in Paris: 02:00-03:00 happens twice (CEST then CET).
    gap = WindowPolicy(Window(days=(6,), start="02:15", end="02:45", holidays=True))
    assert gap.next_opening(FR, utc(2026, 10, 24, 22, 0)) == utc(2026, 10, 25, 0, 15)
    assert gap.closes_at(FR, utc(2026, 10, 25, 0, 20)) == utc(2026, 10, 25, 0, 45)
    assert gap.next_opening(FR, utc(2026, 10, 25, 0, 50)) == utc(2026, 10, 25, 1, 15)
    assert gap.closes_at(FR, utc(2026, 10, 25, 1, 20)) == utc(2026, 10, 25, 1, 45)
    span = WindowPolicy(Window(days=(6,), start="01:00", end="04:00", holidays=True))
    assert span.closes_at(FR, utc(2026, 10, 24, 23, 0)) == utc(2026, 10, 25, 3, 0)  # 4 real hours


def _brute_next_opening(policy: WindowPolicy, loc: Locality, at: datetime, limit: int) -> datetime | None:
    t = at
    for _ in range(limit):
        if policy.is_open(loc, t):
            return t
        t += timedelta(minutes=1)
    return None


@pytest.mark.parametrize(
    "zones",
    [
        ("Europe/Paris",),
        ("America/St_Johns",),  # -3:30 / -2:30
        ("Australia/Lord_Howe",),  # 30-minute DST
        ("Pacific/Chatham",),  # +12:45 / +13:45
        ("America/Santiago",),  # changes at midnight
        ("America/Havana",),  # changes at midnight
        ("Asia/Kathmandu", "Europe/London"),
    ],
)
def test_next_opening_matches_minute_by_minute_search(zones: tuple[str, ...]) -> None:
    rng = random.Random(",".join(zones))
    loc = Locality(None, zones)
    windows = [
        Window(days=EVERY_DAY, start="00:00", end="01:30", holidays=True),
        Window(days=(5, 6), start="01:45", end="03:15", holidays=True),
        Window(days=(0, 6), start="08:00", end="20:00", holidays=True),
        Window(days=EVERY_DAY, start="23:00", end="24:00", holidays=True),
    ]
    year = 2026
    changes = []
    zone = ZoneInfo(zones[0])
    t = utc(year, 1, 1)
    while t.year == year:  # find this year's offset changes coarsely: hourly
        if (t + timedelta(hours=1)).astimezone(zone).utcoffset() != t.astimezone(zone).utcoffset():
            changes.append(t)
        t += timedelta(hours=1)
    assert changes or zones[0] == "Asia/Kathmandu"
    starts = [c + timedelta(minutes=rng.randrange(-30 * 60, 6 * 60)) for c in changes for _ in range(3)]
    starts += [utc(year, rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24), rng.randrange(60))
               for _ in range(4)]
    for window in windows:
        policy = WindowPolicy(window)
        for start in starts:
            expected = _brute_next_opening(policy, loc, start, 8 * 24 * 60)
            got = policy.next_opening(loc, start)
            assert got == expected, (window, start)
            if got is not None:
                closes = policy.closes_at(loc, got)
                assert closes is not None
                assert policy.is_open(loc, closes - timedelta(seconds=1)), (window, got, closes)
                assert not policy.is_open(loc, closes), (window, got, closes)


def test_open_intervals_agree_with_is_open() -> None:
    loc = Locality(None, ("Australia/Lord_Howe",))
    policy = WindowPolicy(Window(days=EVERY_DAY, start="01:00", end="03:00", holidays=True))
    lo, hi = utc(2026, 4, 3), utc(2026, 4, 7)  # DST ends on 5 April 2026 (02:00 -> 01:30)
    intervals = policy.open_intervals(loc, lo, hi)
    t = lo
    while t < hi:
        inside = any(s <= t < e for s, e in intervals)
        assert inside == policy.is_open(loc, t), t
        t += timedelta(minutes=5)


# --------------------------------------------------------------------------------- rules and errors


def test_effective_window() -> None:
    assert effective_window(True, None) == DEFAULT_COMMERCIAL_WINDOW
    assert effective_window(False, None) is None
    custom = Window(days=(0,))
    assert effective_window(False, custom) is custom
    assert effective_window(True, custom) is custom
    assert Window((0, 1, 2, 3, 4, 5), "08:00", "20:00", False) == DEFAULT_COMMERCIAL_WINDOW


@pytest.mark.parametrize(
    "window",
    [
        Window(start="22:00", end="06:00"),  # overnight
        Window(start="08:00", end="08:00"),
        Window(days=()),
        Window(days=(7,)),
        Window(start="8:00"),
        Window(start="24:00", end="24:00"),
        Window(end="24:01"),
    ],
)
def test_invalid_windows_are_refused(window: Window) -> None:
    assert window_problems(window)
    with pytest.raises(CampaignError):
        WindowPolicy(window)


def test_overnight_message_says_so() -> None:
    (problem,) = window_problems(Window(start="22:00", end="06:00"))
    assert "midnight" in problem


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        DEFAULT.is_open(FR, datetime(2026, 3, 27, 10, 0))
    with pytest.raises(ValueError, match="time zone"):
        DEFAULT.next_opening(FR, datetime(2026, 3, 27, 10, 0))


def test_unknown_zone_is_held_with_a_reason() -> None:
    unknown = Locality(None, ())
    at = paris(2026, 3, 27, 10, 0)
    assert not DEFAULT.is_open(unknown, at)
    assert DEFAULT.next_opening(unknown, at) is None
    (warning,) = DEFAULT.warnings(unknown)
    assert "no time zone" in warning and "held" in warning
    fallback = WindowPolicy(DEFAULT_COMMERCIAL_WINDOW, fallback_zone="Europe/Paris")
    assert fallback.is_open(unknown, at)
    assert any("Europe/Paris" in w for w in fallback.warnings(unknown))
    with pytest.raises(CampaignError):
        WindowPolicy(DEFAULT_COMMERCIAL_WINDOW, fallback_zone="Mars/Olympus_Mons")


def test_region_without_holiday_calendar() -> None:
    assert has_holiday_calendar("FR") and has_holiday_calendar("RE") and has_holiday_calendar("YT")
    assert not has_holiday_calendar("AC") and not has_holiday_calendar(None)
    ascension = locality_of("+2476123")
    assert ascension.region == "AC" and ascension.known
    assert any("holiday" in w for w in DEFAULT.warnings(ascension))
    assert not WindowPolicy(Window(holidays=True)).warnings(ascension)
    assert DEFAULT.warnings(FR) == ()


# ------------------------------------------------------------------------------------------- summary


def test_group_by_window() -> None:
    at = utc(2026, 3, 27, 17, 0)  # Friday: 18:00 Paris (open), 21:00 Réunion, 20:00 Mayotte (closed)
    unknown = Locality(None, ())
    summary = group_by_window(DEFAULT, {FR: 1000, RE: 50, YT: 5, unknown: 2, GP: 0}, at)
    assert summary.sendable_now == 1000
    assert summary.held == 57
    assert summary.next_opening == utc(2026, 3, 28, 4, 0)  # Réunion opens first (08:00 UTC+4)
    assert summary.never_open == 2
    assert [lw.region for lw in summary.localities] == ["FR", "RE", "YT", None]
    fr, re_, yt, unk = summary.localities
    assert fr.open_now and fr.next_opening == at and fr.count == 1000
    assert not re_.open_now and re_.next_opening == utc(2026, 3, 28, 4, 0) and re_.zones == RE.zones
    assert yt.next_opening == utc(2026, 3, 28, 5, 0)
    assert not unk.open_now and unk.next_opening is None and unk.warnings
    assert unk.locality == unknown
    assert summary.warnings == unk.warnings


def test_group_by_window_all_open() -> None:
    summary = group_by_window(DEFAULT, {FR: 3}, paris(2026, 3, 27, 10, 0))
    assert (summary.sendable_now, summary.held, summary.next_opening) == (3, 0, None)


def test_group_by_window_explains_a_window_that_never_opens() -> None:
    apart = Locality(None, ("Pacific/Kiritimati", "Pacific/Pago_Pago"))
    short = WindowPolicy(Window(days=EVERY_DAY, start="09:00", end="10:00", holidays=True))
    summary = group_by_window(short, {apart: 4}, utc(2026, 1, 1))
    assert summary.held == 4 and summary.never_open == 4
    assert any("does not open" in w for w in summary.warnings)


def test_count_localities_is_counting_locality_of() -> None:
    numbers = ["+33612345678", "+33798765432", "+12125550100", "+14155550100", "+447400123456",
               "+262692123456", "+262639012345", "+18005550100", "+80012345678", "+33", "junk",
               "+44 7400 123456", "+２６２692123456", "+590690123456", "+3906123456", "+393123456789"]
    assert count_localities(numbers) == Counter(map(locality_of, numbers))
    assert count_localities(iter(numbers)) == Counter(map(locality_of, numbers))
    assert count_localities([]) == Counter()
