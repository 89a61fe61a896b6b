"""Regions of E.164 numbers (for cost and windows) are phonenumbers' ``region_code_for_number``."""

from __future__ import annotations

import random
from collections import Counter

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from runner.audience.regions import REGIONS, RegionCodes, count_regions, decode, region_codes, regions_of


def _reference(e164: str) -> str | None:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return None if region in ("001", "ZZ") else region


def test_regions_are_phonenumbers_own_on_every_code_and_shared_ones() -> None:
    rng = random.Random(14)
    numbers: list[str] = []
    for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            example = phonenumbers.example_number(region) if region != "001" else None
            if example is not None:
                numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
        for _ in range(20 if len(regions) > 1 else 3):  # random digits: valid or not, as the plan may hold
            numbers.append(f"+{cc}" + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 12))))
    assert len(numbers) > 1000
    assert regions_of(numbers) == [_reference(n) for n in numbers]
    assert decode(region_codes(numbers)) == regions_of(numbers)


def test_the_table_fits_a_byte_and_starts_with_no_region() -> None:
    assert REGIONS[0] is None and len(REGIONS) < 255
    assert set(REGIONS[1:]) == phonenumbers.SUPPORTED_REGIONS


def test_region_codes_read_as_the_list_of_regions_and_count_as_a_counter() -> None:
    numbers = ["+33612345678", "+12015550123", "+447400123456", "+33712345670", "+80012345678", "+15145550123",
               "+33612345679", "+4915123456789"] * 3
    plain = regions_of(numbers)
    codes = RegionCodes(region_codes(numbers))
    assert len(codes) == len(plain) and list(codes) == plain and codes == plain and plain == codes
    assert [codes[i] for i in range(len(plain))] == plain and codes[-1] == plain[-1] and codes[1:4] == plain[1:4]
    assert codes != plain[:-1] and codes == RegionCodes(bytes(region_codes(numbers)))
    counted = count_regions(codes)
    assert counted == dict(Counter(plain)) and list(counted) == list(Counter(plain))  # first seen first
    assert count_regions(plain) == counted and count_regions(RegionCodes(b"")) == {}
