"""Phone normalisation: the formats people write, the reasons, and fast path == phonenumbers."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from runner.audience import phonefast, phones
from runner.audience.phones import (
    INVALID_NUMBER,
    NEEDS_REGION,
    NOT_A_PHONE_NUMBER,
    PhoneNormaliser,
    _plain_classify,
    _plain_region_of,
    region_of,
)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_phones.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_phones", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_phones", module)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


# --- what people write ------------------------------------------------------------------------------

FR_MOBILE = "+33612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "+33612345678",
        "+33 6 12 34 56 78",
        "0033612345678",
        "00 33 6 12 34 56 78",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "(+33) 6 12 34 56 78",
        "(+33) 612345678",
        "+33 (0)6 12 34 56 78",
        "  +33612345678\t",
        " 06 12 34 56 78 ",
        "33612345678",
    ],
)
def test_french_mobile_written_many_ways(raw: str) -> None:
    assert PhoneNormaliser("FR").classify(raw) == (FR_MOBILE, None)


def test_region_is_case_insensitive_and_checked() -> None:
    assert PhoneNormaliser("fr").classify("06 12 34 56 78") == (FR_MOBILE, None)
    with pytest.raises(ValueError, match="unknown region"):
        PhoneNormaliser("XX")


@pytest.mark.parametrize("raw", ["06 12 34 56 78", "0612345678", "612345678", "0033612345678"])
def test_national_format_without_region(raw: str) -> None:
    assert PhoneNormaliser().classify(raw) == (None, NEEDS_REGION)


def test_international_format_without_region() -> None:
    normaliser = PhoneNormaliser()
    assert normaliser.classify("+33 6 12 34 56 78") == (FR_MOBILE, None)
    assert normaliser.classify("+49 151 23456789") == ("+4915123456789", None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("01 23 45 67 89", "not a mobile number (fixed line)"),
        ("+33123456789", "not a mobile number (fixed line)"),
        ("0800 12 34 56", "not a mobile number (toll free)"),
        ("0891 12 34 56", "not a mobile number (premium rate)"),
        ("0810 12 34 56", "not a mobile number (shared cost)"),
        ("09 12 34 56 78", "not a mobile number (VoIP)"),
        ("+3361234567", INVALID_NUMBER),  # one digit short
        ("+336123456789", INVALID_NUMBER),  # one digit too many
        ("+33 639 12 34 56", INVALID_NUMBER),  # no such French mobile range
        ("", NOT_A_PHONE_NUMBER),
        ("n/a", NOT_A_PHONE_NUMBER),
        ("john@example.org", NOT_A_PHONE_NUMBER),
        ("+999 1234 5678", NOT_A_PHONE_NUMBER),
        ("1", NOT_A_PHONE_NUMBER),
    ],
)
def test_rejections_say_why(raw: str, reason: str) -> None:
    assert PhoneNormaliser("FR").classify(raw) == (None, reason)


def test_fixed_line_or_mobile_counts_as_mobile_capable() -> None:
    # North American numbers cannot be told apart: phonenumbers says FIXED_LINE_OR_MOBILE.
    number = phonenumbers.parse("+12015550123")
    assert phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE_OR_MOBILE
    assert PhoneNormaliser("US").classify("(201) 555-0123") == ("+12015550123", None)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+262 692 12 34 56", "+262692123456"),  # Réunion (+262 shared with Mayotte)
        ("+590 690 00 12 34", "+590690001234"),  # Guadeloupe (+590 shared with BL, MF)
        ("+596 696 20 12 34", "+596696201234"),  # Martinique
        ("+44 7400 123456", "+447400123456"),
        ("+41 78 123 45 67", "+41781234567"),
        ("+39 312 345 6789", "+393123456789"),
    ],
)
def test_other_countries(raw: str, e164: str) -> None:
    assert PhoneNormaliser("FR").classify(raw) == (e164, None)


def test_results_are_cached_and_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phones, "_CACHE_LIMIT", 3)
    normaliser = PhoneNormaliser("FR")
    first = normaliser.classify("06 12 34 56 78")
    assert normaliser.classify("06 12 34 56 78") is first
    for raw in ("+33612345670", "+33612345671", "+33612345672", "+33612345673"):
        normaliser.classify(raw)
    assert len(normaliser._cache) <= 3


# --- region_of ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "region"),
    [
        ("+33612345678", "FR"),
        ("+262692123456", "RE"),
        ("+262639012345", "YT"),
        ("+590690001234", "GP"),
        ("+12015550123", "US"),
        ("+14165550123", "CA"),
        ("+447400123456", "GB"),
        ("+447797712345", "JE"),
        ("+447781123456", "GG"),
        ("+80012345678", "001"),
        ("+999123456", None),
        ("not a number", None),
    ],
)
def test_region_of(e164: str, region: str | None) -> None:
    assert region_of(e164) == region
    assert _plain_region_of(e164) == region


# --- the fast path gives exactly phonenumbers' answer --------------------------------------------------


Mismatch = tuple[str, phones.Classification, phones.Classification]


def _mismatches(numbers: list[str], region: str | None) -> tuple[list[Mismatch], int]:
    """(mismatches between classify and the plain path, how many distinct strings took the fast path)."""
    normaliser = PhoneNormaliser(region)
    fast = sum(1 for raw in set(numbers) if normaliser._fast.classify(raw) is not None)
    bad: list[Mismatch] = _region_mismatches(normaliser, numbers)
    for raw in numbers:
        got, expected = normaliser.classify(raw), _plain_classify(raw, region)
        if got != expected:
            bad.append((raw, got, expected))
    return bad, fast


def _region_mismatches(normaliser: PhoneNormaliser, numbers: Iterable[str]) -> list[Mismatch]:
    """The fast path's region of every valid number it answers is phonenumbers' region_code_for_number."""
    bad: list[Mismatch] = []
    for raw in set(numbers):
        found = normaliser._fast.classify(raw)
        if found is not None and found[1] != PhoneNumberType.UNKNOWN:
            expected = _plain_region_of(found[0])
            if found[2] != expected:
                bad.append((raw, (found[0], found[2]), (found[0], expected)))
    return bad


def test_country_codes_are_prefix_free() -> None:
    # The fast path reads "+33…" as +33 without trying "+3": true only because no code prefixes another.
    codes = [str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]
    assert not [(a, b) for a in codes for b in codes if a != b and b.startswith(a)]


def test_equivalence_on_the_realistic_mix() -> None:
    numbers = bench.make_mix(50_000, seed=11)
    bad, fast = _mismatches(numbers, "FR")
    assert bad[:10] == []
    assert fast > 0.95 * len(set(numbers))  # the fast path did the work


@pytest.mark.parametrize(
    ("region", "seed"),
    [(None, 1), ("FR", 2), ("US", 3), ("GB", 4), ("RE", 5), ("AR", 6), ("BR", 7), ("IT", 8)],
)
def test_equivalence_on_random_numbers(region: str | None, seed: int) -> None:
    numbers = bench.make_fuzz(6_000, seed=seed)
    bad, fast = _mismatches(numbers, region)
    assert bad[:10] == []
    # Without a region every national form goes to phonenumbers (and is refused).
    assert fast > (0.3 if region is None else 0.5) * len(set(numbers))


def _example_strings() -> Iterator[tuple[str, str]]:
    """Every shipped example number of every region and type, in E.164, international and national form."""
    geo = [(region, None) for region in sorted(phonenumbers.SUPPORTED_REGIONS)]
    nongeo = [("001", cc) for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)]
    for region, cc in geo + nongeo:
        for number_type in sorted(PhoneNumberType.values()):
            if cc is None:
                number = phonenumbers.example_number_for_type(region, number_type)
            else:
                metadata = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(cc)
                assert metadata is not None
                desc = phonenumbers.phonenumberutil._number_desc_by_type(metadata, number_type)
                example = desc.example_number if isinstance(desc, phonenumbers.PhoneNumberDesc) else None
                number = phonenumbers.parse(f"+{cc}{example}") if example else None
            if number is None:
                continue
            for fmt in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL):
                yield region, phonenumbers.format_number(number, fmt)


def test_equivalence_on_every_shipped_example_number() -> None:
    checks = 0
    bad: list[tuple[str | None, str, object, object]] = []
    fast_ones = 0
    normalisers: dict[str | None, PhoneNormaliser] = {None: PhoneNormaliser(), "FR": PhoneNormaliser("FR")}
    for region, raw in _example_strings():
        for default in {None, "FR", region if region != "001" else None}:
            normaliser = normalisers.get(default) or normalisers.setdefault(default, PhoneNormaliser(default))
            fast_ones += normaliser._fast.classify(raw) is not None
            got, expected = normaliser.classify(raw), _plain_classify(raw, default)
            checks += 1
            if got != expected:
                bad.append((default, raw, got, expected))
            bad.extend((default, *mismatch) for mismatch in _region_mismatches(normaliser, [raw]))
    assert bad[:10] == []
    assert checks > 7_000
    assert fast_ones > checks // 2


def test_region_of_equivalence() -> None:
    numbers = [raw for raw in bench.make_fuzz(20_000, seed=5) if raw.startswith("+")]
    numbers += [e164 for e164, _ in map(PhoneNormaliser("FR").classify, bench.make_mix(5_000, seed=2)) if e164]
    fast = 0
    for e164 in numbers:
        fast += phonefast.fast_region(e164) is not None
        assert region_of(e164) == _plain_region_of(e164), e164
    assert fast > len(numbers) // 2


# Odd spellings: separators anywhere, several "+", letters, tabs, other scripts' digits, extensions.
_PREFIX_PIECES = ["+", "+33", "+262", "+44", "+1", "0033", "00", "011", "33"]
_DIGIT_PIECES = ["0", "6", "7", "06", "12", "345", "6789"]
_OTHER_PIECES = [*" .-()/\tx#;,a", "ext", "\u00a0", "\uff0b", "\u0663"]
_PIECES = st.sampled_from([*_PREFIX_PIECES, *_DIGIT_PIECES, *_OTHER_PIECES])


@settings(max_examples=1500, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=12), region=st.sampled_from([None, "FR", "GB", "US", "RE"]))
def test_equivalence_on_odd_spellings(pieces: list[str], region: str | None) -> None:
    raw = "".join(pieces)
    assert PhoneNormaliser(region).classify(raw) == _plain_classify(raw, region)


# --- national numbers of several regions (the one-regex national path of issue 14) ----------------------

NATIONAL_REGIONS = ("FR", "GB", "DE", "US", "ES", "IT", "BE", "NL", "CH", "RE")


def _national_fuzz(region: str, n: int, seed: int) -> list[str]:
    """National spellings close to real numbers of ``region``: every type, mutated, with separators."""
    import random

    rng = random.Random(seed)
    types = sorted(PhoneNumberType.values()) + [PhoneNumberType.MOBILE] * 6  # mostly mobiles
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix or ""
    out: list[str] = []
    while len(out) < n:
        example = phonenumbers.example_number_for_type(region, rng.choice(types))
        if example is None:
            continue
        nsn = phonenumbers.national_significant_number(example)
        keep = max(1, len(nsn) - rng.randint(2, 6))
        nsn = nsn[:keep] + "".join(rng.choice("0123456789") for _ in range(len(nsn) - keep))
        roll = rng.random()
        if roll < 0.1:
            nsn = nsn[:-1]
        elif roll < 0.2:
            nsn += rng.choice("0123456789")
        national = (prefix if rng.random() < 0.9 else "") + nsn
        form = rng.random()
        if form < 0.3:
            out.append(national)
        elif form < 0.8:
            out.append(bench._spaced(national, rng))
        elif form < 0.9:
            number = phonenumbers.parse(national, region)
            out.append(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
        else:
            out.append(f" {national[:3]} {national[3:]} ")
    return out


@pytest.mark.parametrize("region", NATIONAL_REGIONS)
def test_equivalence_on_national_numbers(region: str) -> None:
    numbers = _national_fuzz(region, 4_000, seed=sum(map(ord, region)))
    bad, fast = _mismatches(numbers, region)
    assert bad[:10] == []
    assert fast > 0.8 * len(set(numbers))  # the fast path answered most of them
    valid = sum(1 for raw in numbers if PhoneNormaliser(region).classify(raw)[0] is not None)
    assert valid > len(numbers) // 10  # and they are not all refusals


def test_the_one_regex_national_path_is_used_where_it_can_be() -> None:
    homes = {r: phonefast.FastClassifier(r)._home for r in NATIONAL_REGIONS}
    with_regex = {r for r, home in homes.items() if home is not None and home.national is not None}
    assert {"FR", "DE", "ES", "BE", "NL", "CH"} <= with_regex
    assert not {"US", "GB", "IT", "RE"} & with_regex  # codes shared by several regions: step by step


@settings(max_examples=2000, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=16),
       separator=st.sampled_from(["", " ", ".", "-", " - ", "/"]),
       region=st.sampled_from(NATIONAL_REGIONS))
def test_equivalence_on_national_digit_strings(digits: str, separator: str, region: str) -> None:
    raw = separator.join(digits[i:i + 2] for i in range(0, len(digits), 2))
    assert PhoneNormaliser(region).classify(raw) == _plain_classify(raw, region)


def test_equivalence_on_national_strings_of_every_region() -> None:
    import random

    rng = random.Random(14)
    bad: list[tuple[str, str, object, object]] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        normaliser = PhoneNormaliser(region)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        heads = [metadata.national_prefix or "", metadata.international_prefix or "", "0", "00", "1", ""]
        for _ in range(150):
            raw = rng.choice(heads)[:4] + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 14)))
            if rng.random() < 0.3:
                raw = raw[:3] + " " + raw[3:]
            got, expected = normaliser.classify(raw), _plain_classify(raw, region)
            if got != expected:
                bad.append((region, raw, got, expected))
    assert bad[:10] == []


def test_equivalence_on_international_strings_of_every_code() -> None:
    """``+<cc><digits>`` (clean, spaced, or after the default region's IDD) of every country code: the
    one-regex path of single-region codes (``phonemeta.Country.whole``) gives phonenumbers' answer, valid or not."""
    import random

    rng = random.Random(41)
    normaliser = PhoneNormaliser("FR")
    bad: list[tuple[str, object, object]] = []
    used = 0
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for _ in range(60):
            digits = str(cc) + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 15)))
            raw = rng.choice(["+", "+", "00", "+ "]) + digits
            if rng.random() < 0.3:
                raw = raw[:5] + " " + raw[5:]
            got, expected = normaliser.classify(raw), _plain_classify(raw, "FR")
            if got != expected:
                bad.append((raw, got, expected))
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:  # a national prefix after the code
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
            example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE) if region != "001" else None
            prefix = (metadata.national_prefix or "") if metadata is not None else ""
            if example is not None:
                for raw in (f"+{cc}{prefix}{example.national_number}", f"+{cc} {prefix} {example.national_number}"):
                    got, expected = normaliser.classify(raw), _plain_classify(raw, "FR")
                    if got != expected:
                        bad.append((raw, got, expected))
        country = phonefast._COUNTRIES.get(str(cc))
        used += country is not None and country.whole() is not None
    assert bad[:10] == []
    assert used > 150  # most codes belong to one region: their numbers take the one-regex path


@settings(max_examples=1500, deadline=None)
@given(digits=st.text(alphabet="0123456789٠١٢٣６", min_size=0, max_size=20),
       region=st.sampled_from(["FR", "DE", "ES", "BE", "CH", "US", "GB"]))
def test_the_home_regexes_a_worker_calls_directly_answer_as_classify(digits: str, region: str) -> None:
    """The audience worker matches ``home_whole`` itself before calling classify: a match must be what
    classify answers (ASCII digits only: the regexes are compiled with re.ASCII)."""
    fast = phonefast.FastClassifier(region)
    home = fast.home_whole
    cc = str(phonenumbers.country_code_for_region(region))
    for raw in ("+" + digits, "+" + cc + digits):
        match = None if home is None else home[len(raw)][0].fullmatch(raw)
        if match is not None:
            assert raw.isascii()
            assert fast.classify(raw) == (raw, home[len(raw)][1][match.lastindex or 0], fast.home_region)
