"""Compact numbers (E164List) and the dedupe give what lists of str and a dict give."""

from __future__ import annotations

import random
from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.audience import dedupe as dedupe_module
from runner.audience.dedupe import dedupe, first_occurrences
from runner.audience.numbers import CODE, E164List, pack, pack_many, unpack


@pytest.mark.parametrize("number", ["+33612345678", "+1", "+999999999999999", "+390612345678"])
def test_canonical_numbers_round_trip(number: str) -> None:
    assert unpack(pack(number)) == number


@pytest.mark.parametrize("bad", ["33612345678", "+033612345678", "+3361234567a", "+", "", "+ 336", "+3_3",
                                 "+٣٣٦", "+33612345678 ", "+1234567890123456789"])
def test_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        pack(bad)


def test_packing_many_at_once_is_packing_each() -> None:
    numbers = ["+33612345678", "+1", "+999999999999999", "+390612345678", "+" + "9" * 18]
    assert list(pack_many(numbers)) == [pack(n) for n in numbers] and not pack_many([])
    for bad in (["+33612345678", "+0336"], ["+336", "336"], ["+33 6"], ["+3+3"], ["+3+", "3"], ["+3\n+4"], ["+1_2"],
                ["+" + "9" * 19], [" +33612345678"], ["+٣٣٦"], ["+336", ""], ["+336\n"],
                ["+33612345678", "+33612345678 "]):
        with pytest.raises(ValueError):
            pack_many(bad)


def test_packing_many_accepts_exactly_what_pack_accepts_on_fuzzed_lists() -> None:
    """Lists of near-canonical strings (each mutation a way a line could fail to be canonical, alone or
    together): pack_many packs the list exactly when pack takes every string of it, else raises."""
    rng = random.Random(14)
    alphabet = ["+", "0", "1", "9", "\n", " ", "_", "٣", "a", "-", "+0", "\n+"]

    def mutated() -> str:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 19)))
        number = "+" + str(rng.randrange(1, 10)) + digits
        if rng.random() < 0.3:
            at = rng.randrange(len(number) + 1)
            number = number[:at] + rng.choice(alphabet) + number[at + rng.randrange(2):]
        return number

    for _ in range(3000):
        numbers = [mutated() for _ in range(rng.randrange(1, 5))]
        try:
            expected: list[int] | None = [pack(n) for n in numbers]
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(ValueError):
                pack_many(numbers)
        else:
            assert list(pack_many(numbers)) == expected, numbers


def test_the_list_reads_as_a_list_of_str() -> None:
    plain = ["+33612345678", "+447400123456", "+12015550123", "+33612345678"]
    numbers = E164List(plain)
    assert len(numbers) == 4 and list(numbers) == plain and numbers == plain and numbers == E164List(plain)
    assert numbers[1] == "+447400123456" and numbers[-1] == "+33612345678"
    assert list(numbers[1:3]) == plain[1:3] and list(reversed(numbers)) == plain[::-1]
    assert "+12015550123" in numbers and "+12015550124" not in numbers and "junk" not in numbers
    assert numbers.index("+33612345678") == 0 and numbers.count("+33612345678") == 2
    with pytest.raises(ValueError):
        numbers.index("+12015550124")
    assert sorted(range(4), key=numbers.__getitem__) == sorted(range(4), key=plain.__getitem__)
    numbers.append("+4915123456789")
    assert numbers[4] == "+4915123456789" and numbers.packed.itemsize == 8
    assert numbers != ["+33612345678"] and not E164List()


def _reference(numbers: list[int], excluded: set[int], suppressed: dict[int, str]) -> tuple[Any, ...]:
    seen: dict[int, int] = {}
    for position, number in enumerate(numbers):
        seen.setdefault(number, position)
    kept = [(n, p) for n, p in seen.items() if n not in excluded and n not in suppressed]
    by: dict[str, int] = {}
    for n in seen:
        if n not in excluded and n in suppressed:
            by[suppressed[n].split(":", 1)[0]] = by.get(suppressed[n].split(":", 1)[0], 0) + 1
    return ([n for n, _ in kept], [p * 10 for _, p in kept], len(numbers) - len(seen),
            sum(1 for n in seen if n in excluded), sum(1 for n in seen if n not in excluded and n in suppressed), by)





@settings(max_examples=80, deadline=None)
@given(numbers=st.lists(st.integers(33600000000, 33600000060), max_size=300),
       excluded=st.sets(st.integers(33600000000, 33600000060), max_size=5),
       suppressed=st.dictionaries(st.integers(33600000000, 33600000060), st.sampled_from(["manual", "reply:x"]),
                                  max_size=5),
       large=st.booleans())
def test_dedupe_keeps_first_occurrences_in_order(numbers: list[int], excluded: set[int],
                                                 suppressed: dict[int, str], large: bool) -> None:
    """Both ways (the dict of a short list, numpy's sorted slices of a long one) give the reference."""
    packed = array(CODE, numbers)
    regions = bytearray(n % 7 for n in numbers)
    outcome = dedupe(packed, array("q", [p * 10 for p in range(len(numbers))]), excluded, suppressed, regions,
                     small=0 if large else 10**9)
    got = (list(outcome.numbers), list(outcome.codes), outcome.duplicates, outcome.excluded, outcome.opted_out,
           outcome.suppressed_by)
    assert got == _reference(numbers, excluded, suppressed)
    assert outcome.regions == bytearray(n % 7 for n in outcome.numbers)
    assert first_occurrences(packed, small=0) == first_occurrences(packed, small=10**9)


def test_a_long_list_is_sorted_a_slice_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sort's temporary arrays hold a slice of the numbers, not the list: count the largest sort."""
    import numpy

    largest = [0]
    real_argsort = numpy.argsort

    def argsort(values: Any, *args: Any, **kwargs: Any) -> Any:
        largest[0] = max(largest[0], len(values))
        return real_argsort(values, *args, **kwargs)

    monkeypatch.setattr(numpy, "argsort", argsort)
    rng = random.Random(7)
    numbers = array(CODE, (33600000000 + rng.randrange(60_000) for _ in range(80_000)))
    first = first_occurrences(numbers)
    assert first.count(1) == len(set(numbers))
    assert 0 < largest[0] <= len(numbers) // dedupe_module.SLICES * 1.1


def test_a_short_list_never_loads_numpy() -> None:
    """``validate`` and small plans do not pay numpy's import (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys; from array import array; from runner.audience.dedupe import dedupe; "
            "dedupe(array('q', [1, 2, 1] * 1000), array('q', range(3000)), set(), {}); "
            "print('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
