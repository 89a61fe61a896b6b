"""The audience's dedupe, once every source is read: the first occurrence of each number, in order.

While the sources are read, every valid number goes into one packed array (8 bytes) beside its origin
code (8 bytes); no set of every number is held. At the end, the numbers are split by ``number %
buckets`` (equal numbers fall in the same bucket) into buckets of about :data:`BUCKET` numbers, and
each bucket finds its numbers' first positions with one ``dict`` built in C (``dict(zip(reversed
(numbers), reversed(positions)))``: the last value written for a number is its first position). So the
peak of the dedupe is one bucket's dict, whatever the list's size: memory grows by ~21 bytes per
number (arrays) instead of ~66 (a set of Python ints), and the 5M-row list stays within twice the
memory of the 1M-row one.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Mapping
from itertools import compress, repeat
from typing import Final

BUCKET: Final = 250_000  # numbers per bucket: its dict weighs ~30 MB


class Outcome:
    """What the dedupe found: the kept numbers (in order) and the counts."""

    __slots__ = ("codes", "duplicates", "excluded", "numbers", "opted_out", "suppressed_by")

    def __init__(self, numbers: array[int], codes: array[int]) -> None:
        self.numbers, self.codes = numbers, codes
        self.duplicates = self.excluded = self.opted_out = 0
        self.suppressed_by: dict[str, int] = {}


def first_occurrences(numbers: array[int]) -> bytearray:
    """1 at the first position of every distinct number, 0 elsewhere."""
    size = len(numbers)
    first = bytearray(size)
    buckets = max(1, -(-size // BUCKET))
    if buckets == 1:
        _mark(first, dict(zip(reversed(numbers), reversed(range(size)), strict=True)))
        return first
    groups = [array("I") for _ in range(buckets)]  # positions, by bucket (a list holds < 2**32 numbers)
    appends = [group.append for group in groups]
    for position, bucket in enumerate(map(buckets.__rmod__, numbers)):
        appends[bucket](position)
    for group in groups:
        _mark(first, dict(zip(map(numbers.__getitem__, reversed(group)), reversed(group), strict=True)))
        del group[:]  # each bucket's positions freed once used
    return first


def _mark(first: bytearray, positions: Mapping[int, int]) -> None:
    deque(map(first.__setitem__, positions.values(), repeat(1)), maxlen=0)  # in C: first[p] = 1 for each


def dedupe(numbers: array[int], codes: array[int], excluded: set[int] | frozenset[int],
           suppressed: Mapping[int, str]) -> Outcome:
    """Keep the first occurrence of each number, then drop the excluded and opted-out ones (counted
    once each, at their first occurrence; later occurrences are duplicates, as before)."""
    keep = first_occurrences(numbers)
    distinct = keep.count(1)
    outcome = Outcome(numbers, codes)
    outcome.duplicates = len(numbers) - distinct
    if excluded or suppressed:
        suppressed_by = outcome.suppressed_by
        for position in compress(range(len(numbers)), keep):  # in order: suppressed_by's order is first seen
            number = numbers[position]
            if number in excluded:
                outcome.excluded += 1
                keep[position] = 0
            elif number in suppressed:
                outcome.opted_out += 1
                keep[position] = 0
                origin = suppressed[number].split(":", 1)[0]
                suppressed_by[origin] = suppressed_by.get(origin, 0) + 1
    if distinct != len(numbers) or outcome.excluded or outcome.opted_out:
        outcome.numbers = array(numbers.typecode, compress(numbers, keep))
        outcome.codes = array(codes.typecode, compress(codes, keep))
    return outcome
