"""The line regex (runner.audience.phonelines) accepts a line exactly when the row loop would answer "this
number, a mobile of the default region" for a cell without separators: checked against the classifier
on fuzzed lines."""

from __future__ import annotations

import random
from operator import itemgetter

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from runner.audience.phonelines import NSN
from runner.audience.phones import PhoneNormaliser, region_of
from runner.sources.csvfile import _several
from tests.audience.test_phones import bench


def _row_answer(normaliser: PhoneNormaliser, line: str, delimiter: str, index: int) -> tuple[str | None, bool]:
    """What the row loop makes of ``line``: the number, if its phone cell holds a mobile of the default
    region, else None; and whether the cell reads that number directly, written with digits only, as
    ``+<cc><nsn>``, ``<idd><cc><nsn>`` or ``<national prefix><nsn>`` (the shapes the regex answers)."""
    cells = line.split(delimiter)
    head = cells[0]
    if ("#" in head and head.lstrip().startswith("#")) or index >= len(cells) or _several(cells[index]):
        return None, False
    cell = cells[index]
    e164, _ = normaliser.classify(cell.strip())
    if e164 is None or region_of(e164) != normaliser.default_region:
        return None, False
    if not (cell.removeprefix("+").isdigit() and cell.isascii()):
        return e164, False
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(normaliser.default_region)
    cc, prefix = f"+{metadata.country_code}", metadata.national_prefix_for_parsing or ""
    idd = metadata.international_prefix or ""
    readings = {cell, "+" + cell.removeprefix(idd), cc + cell.removeprefix(prefix) if cell.startswith(prefix) else ""}
    return e164, e164 in readings


def _cells(region: str, rng: random.Random, fuzz: int = 1_500, own: int = 1_500) -> list[str]:
    cells = bench.make_fuzz(fuzz, seed=rng.randrange(10**6))
    for _ in range(own):  # the region's numbers of every type (last digits random: valid or not)
        number_type = rng.choice((PhoneNumberType.MOBILE,) * 4 + tuple(sorted(PhoneNumberType.values())))
        e164 = bench._example_like(rng, region, number_type)
        if e164 is None:
            continue
        roll = rng.random()
        if roll < 0.15:
            e164 = e164[:-1]
        elif roll < 0.3:
            e164 += str(rng.randrange(10))
        elif roll < 0.35:
            e164 = e164[:4] + "0" + e164[4:]  # a national prefix after the code
        form = rng.random()
        if form < 0.1:
            e164 = phonenumbers.format_number(phonenumbers.parse(e164), PhoneNumberFormat.INTERNATIONAL)
        elif form < 0.15:
            e164 = rng.choice((" ", "\t", "\u00a0")) + e164
        elif form < 0.4:  # national, as written in the region, separators dropped (some IDD-looking: 00...)
            e164 = "".join(filter(str.isdigit, phonenumbers.format_number(phonenumbers.parse(e164),
                                                                          PhoneNumberFormat.NATIONAL)))
        elif form < 0.55:  # with the region's IDD (or 00)
            idd = phonenumbers.PhoneMetadata.metadata_for_region(region).international_prefix or "00"
            e164 = (idd if idd.isdigit() else "00") + e164[1:]
        cells.append(e164)
    return cells


def _line(cells: list[str], delimiter: str, index: int, rng: random.Random) -> str:
    row = [rng.choice(("Jean", "", "#x", " # y", "a#b", "+33612345678", "12")) for _ in range(index)]
    row.append(rng.choice(cells))
    row += [rng.choice(("Zoé", "", "x y", "#"))] * rng.randrange(3)
    return delimiter.join(row)


@pytest.mark.parametrize(("region", "delimiter", "index", "seed"), [
    ("FR", ",", 0, 1), ("FR", ";", 2, 2), ("DE", ",", 1, 3), ("ES", "\t", 0, 4), ("BE", "|", 0, 5),
    ("PL", ",", 0, 6), ("CH", ",", 3, 7), ("NL", ";", 0, 8), ("PT", ",", 0, 9), ("SE", ",", 1, 10),
    ("LT", ",", 0, 11), ("BY", ";", 1, 12),
])
def test_a_line_is_accepted_exactly_when_the_row_loop_answers_its_cell(region: str, delimiter: str, index: int,
                                                                      seed: int) -> None:
    rng = random.Random(seed)
    normaliser = PhoneNormaliser(region)
    accept = normaliser._fast.home_lines(delimiter, index)
    assert accept is not None
    pattern, head = accept
    cells = _cells(region, rng)
    lines = [_line(cells, delimiter, index, rng) for _ in range(6_000)]
    got = [None if nsn is None else head + nsn for nsn in map(itemgetter(NSN), map(pattern.fullmatch, lines))]
    expected = [_row_answer(normaliser, line, delimiter, index) for line in lines]
    # an answer is the row loop's; and every number the cell reads directly is answered
    wrong = [(line, g, e) for line, g, (e, direct) in zip(lines, got, expected, strict=True)
             if (g is not None or direct) and g != e]
    assert not wrong, wrong[:5]
    assert sum(1 for cell in got if cell is not None) > 200  # it answers many lines, not none
    shapes = {line.split(delimiter)[index][:1] == "+" for line, e in zip(lines, got, strict=True) if e is not None}
    assert shapes == {True, False}  # "+cc..." and the shapes without "+"


@pytest.mark.parametrize("region", ["US", "GB", "RU", "IT", "MA"])
def test_a_code_shared_by_several_regions_has_no_line_regex(region: str) -> None:
    """+1, +44, +7, +39, +212: the region of a number needs a lookup, which the row loop does."""
    assert PhoneNormaliser(region)._fast.home_lines(",", 0) is None


def test_no_region_has_no_line_regex() -> None:
    assert PhoneNormaliser(None)._fast.home_lines(",", 0) is None


def _desc(pattern: str | None) -> object:
    from types import SimpleNamespace

    return None if pattern is None else SimpleNamespace(national_number_pattern=pattern, possible_length=(4,))


@pytest.mark.parametrize(("fixed", "mobile", "premium", "same"), [
    (r"1\d{3}", r"[89]\d{3}", r"9\d{3}", False),  # a premium range inside the mobile one: premium wins
    (r"[1-8]\d{3}", r"[5-9]\d{3}", None, False),  # fixed and mobile overlap: fixed-or-mobile
    (r"[1-8]\d{3}", r"[5-9]\d{3}", r"5\d{3}", False),
    (r"[2-7]\d{3}", r"[2-7]\d{3}", r"7\d{3}", True),  # one pattern for both
    (r"1\d{3}", None, r"9\d{3}", False),  # no mobile at all
])
def test_first_of_types_is_the_typed_regex_group_on_every_string(fixed: str, mobile: str | None,
                                                                 premium: str | None, same: bool) -> None:
    """Metadata made up so that the types overlap (today's phonenumbers has no such case near its
    examples): on every 4-digit string, the regex says "mobile" exactly when type_source's group does."""
    import re
    from types import SimpleNamespace

    from runner.audience.phonelines import first_of_types
    from runner.audience.phonemeta import type_source
    from runner.audience.phones import MOBILE_TYPES

    metadata: object = SimpleNamespace(
        general_desc=_desc(r"\d{4}"), fixed_line=_desc(fixed), mobile=_desc(mobile), premium_rate=_desc(premium),
        toll_free=None, shared_cost=None, voip=None, personal_number=None, pager=None, uan=None, voicemail=None,
        same_mobile_and_fixed_line_pattern=same)
    typed = type_source(metadata, 4)  # type: ignore[arg-type]
    source = first_of_types(metadata, 4, MOBILE_TYPES, r"\Z")  # type: ignore[arg-type]
    assert typed is not None
    pattern, types = re.compile(typed[0]), typed[1]
    accept = re.compile(source) if source is not None else None
    mobiles = 0
    for value in range(10_000):
        digits = f"{value:04d}"
        match = pattern.fullmatch(digits)
        expected = match is not None and types[match.lastindex or 0] in MOBILE_TYPES
        assert (accept is not None and accept.fullmatch(digits) is not None) == expected, digits
        mobiles += expected
    assert (mobiles > 0) == (mobile is not None or same)


def test_every_region_with_a_line_regex_answers_as_the_row_loop() -> None:
    """All of them, fewer lines each: a guard that only some region's metadata needs is exercised here."""
    rng = random.Random(99)
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        normaliser = PhoneNormaliser(region)
        accept = normaliser._fast.home_lines(",", 0)
        if accept is None:
            continue
        pattern, head = accept
        cells = _cells(region, rng, fuzz=40, own=300)
        for cell in cells:
            nsn = pattern.fullmatch(cell)[NSN]  # type: ignore[index]
            got = None if nsn is None else head + nsn
            expected, direct = _row_answer(normaliser, cell, ",", 0)
            assert not ((got is not None or direct) and got != expected), (region, cell, got, expected)
            checked += got is not None
    assert checked > 5_000
