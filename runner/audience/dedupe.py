"""The audience's dedupe, once every source is read: the first occurrence of each number, in order.

While the sources are read, every valid number goes into one packed array (8 bytes) beside its origin
code (8 bytes), and its position and number into one of :data:`BUCKETS` buckets (4 + 8 bytes) by
``number % BUCKETS`` (equal numbers fall in the same bucket; a worker sends its part's positions already grouped,
so the parent only appends slices). No set of every number is held. At the end, each bucket finds its
numbers' first positions with one ``dict`` built in C (``dict(zip(reversed(numbers), reversed
(positions)))``: the last value written for a number is its first position). So the peak of the dedupe
is one bucket's dict: memory grows by ~29 bytes per number instead of ~66 (a set of Python ints), and
the 5M-row list stays within twice the memory of the 1M-row one.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from itertools import compress, repeat
from typing import Final, TypeVar

from runner.audience.numbers import CODE

BUCKETS: Final = 64  # at 5M rows, ~75,000 numbers a bucket: its dict weighs ~8 MB
#: at most one number dropped in this many: the kept ones are copied as the slices between the dropped
#: ones (memcpy), not picked one by one by compress (an int made for each of the 8-byte values)
SLICES_BELOW: Final = 32


def group(numbers: array[int]) -> tuple[array[int], array[int], list[int]]:
    """A part's positions grouped by bucket (in order within each), its numbers in that order, and how
    many in each bucket (in the worker: the parent then appends slices, see :meth:`Buckets.add_part`)."""
    positions = [array("I") for _ in range(BUCKETS)]
    numbers_of = [array(numbers.typecode) for _ in range(BUCKETS)]
    position_appends = [bucket.append for bucket in positions]
    number_appends = [bucket.append for bucket in numbers_of]
    for position, number in enumerate(numbers):  # one pass, no sort: 2x faster than sorted(key=)
        bucket = number % BUCKETS
        number_appends[bucket](number)
        position_appends[bucket](position)
    order, grouped = array("I"), array(numbers.typecode)
    for bucket_positions, bucket_numbers in zip(positions, numbers_of, strict=True):
        order.extend(bucket_positions)
        grouped.extend(bucket_numbers)
    return order, grouped, list(map(len, positions))


class Buckets:
    """The positions of the numbers read so far, by bucket, each in increasing order."""

    def __init__(self) -> None:
        self.groups = [array("I") for _ in range(BUCKETS)]  # a list holds < 2**32 numbers
        # the same numbers again, bucket by bucket: the dedupe then reads them in order, not at random
        # positions of the whole array (3.8x faster for 12 more bytes a number)
        self.numbers = [array("q") for _ in range(BUCKETS)]
        self.size = 0  # positions bucketed so far

    def add_part(self, start: int, order: array[int], numbers: array[int], counts: list[int]) -> None:
        """A worker's part, its numbers at ``start``... of the packed array (see :func:`group`)."""
        assert start == self.size
        at = 0
        for positions, bucket_numbers, count in zip(self.groups, self.numbers, counts, strict=True):
            if count:
                positions.extend(map(start.__add__, order[at:at + count]))
                bucket_numbers.extend(numbers[at:at + count])
                at += count
        self.size = start + len(order)

    def add_range(self, numbers: array[int]) -> None:
        """The numbers appended since the last call, one by one (the single-process path)."""
        appends = [positions.append for positions in self.groups]
        number_appends = [bucket_numbers.append for bucket_numbers in self.numbers]
        for position in range(self.size, len(numbers)):
            number = numbers[position]
            bucket = number % BUCKETS
            appends[bucket](position)
            number_appends[bucket](number)
        self.size = len(numbers)

    def truncate(self, size: int) -> None:
        from bisect import bisect_left

        for positions, bucket_numbers in zip(self.groups, self.numbers, strict=True):
            cut = bisect_left(positions, size)
            del positions[cut:]
            del bucket_numbers[cut:]
        self.size = min(self.size, size)


class Outcome:
    """What the dedupe found: the kept numbers (in order) and the counts."""

    __slots__ = ("codes", "duplicates", "excluded", "numbers", "opted_out", "regions", "suppressed_by")

    def __init__(self, numbers: array[int], codes: array[int], regions: bytearray | None = None) -> None:
        self.numbers, self.codes, self.regions = numbers, codes, regions
        self.duplicates = self.excluded = self.opted_out = 0
        self.suppressed_by: dict[str, int] = {}


_Values = TypeVar("_Values", "array[int]", bytearray)

Share = Callable[[list[bytes], list[bytes]], "Future[bytes]"]
"""Runs :func:`first_positions` elsewhere (a worker process) on some buckets' numbers and positions."""


def first_positions(numbers: list[bytes], positions: list[bytes]) -> bytes:
    """The first position of every distinct number of each bucket (packed ``array("I")``, in no
    particular order): in a worker, for the parent's dedupe (:func:`first_occurrences`)."""
    out = array("I")
    for packed_numbers, packed_positions in zip(numbers, positions, strict=True):
        bucket_numbers, bucket_positions = array(CODE), array("I")
        bucket_numbers.frombytes(packed_numbers)
        bucket_positions.frombytes(packed_positions)
        out.extend(dict(zip(reversed(bucket_numbers), reversed(bucket_positions), strict=True)).values())
    return out.tobytes()


def first_occurrences(numbers: array[int], buckets: Buckets | None = None, share: Share | None = None,
                      helpers: int = 0) -> bytearray:
    """1 at the first position of every distinct number, 0 elsewhere.

    With ``share`` and ``helpers`` (the audience's worker processes, idle by now), the helpers find the
    first positions of all but the last ``1 / (helpers + 1)`` of the buckets (one task a bucket) while
    the parent does those, then the parent marks them all (the same marks: a bucket's answer does not depend on
    who computes it).
    """
    if buckets is None:
        buckets = Buckets()
    buckets.add_range(numbers)  # whatever is not bucketed yet
    first = bytearray(len(numbers))
    groups = list(zip(buckets.groups, buckets.numbers, strict=True))
    futures: list[Future[bytes]] = []
    if share is not None and helpers > 0:
        # one task a bucket, so that neither side ever holds more than a few buckets' copies in transit
        # (a third of the buckets in one message cost ~60 MB a worker at 5M rows)
        mine = len(groups) // (helpers + 1)
        shared, groups = groups[:len(groups) - mine], groups[len(groups) - mine:]
        for positions, bucket_numbers in shared:
            futures.append(share([bucket_numbers.tobytes()], [positions.tobytes()]))
            del positions[:], bucket_numbers[:]
    for positions, bucket_numbers in groups:
        _mark(first, dict(zip(reversed(bucket_numbers), reversed(positions), strict=True)).values())
        del positions[:], bucket_numbers[:]  # each bucket freed once used
    for future in futures:
        found = array("I")
        found.frombytes(future.result())
        _mark(first, found)
        del found
    buckets.size = 0
    return first


def _mark(first: bytearray, positions: Iterable[int]) -> None:
    deque(map(first.__setitem__, positions, repeat(1)), maxlen=0)  # in C: first[p] = 1 for each


def dedupe(numbers: array[int], codes: array[int], excluded: set[int] | frozenset[int],
           suppressed: Mapping[int, str], buckets: Buckets | None = None,
           regions: bytearray | None = None, share: Share | None = None, helpers: int = 0) -> Outcome:
    """Keep the first occurrence of each number, then drop the excluded and opted-out ones (counted
    once each, at their first occurrence; later occurrences are duplicates, as before). ``regions``
    (one byte per number, or None) is kept in step with the numbers, as ``codes`` is."""
    keep = first_occurrences(numbers, buckets, share, helpers)
    distinct = keep.count(1)
    outcome = Outcome(numbers, codes, regions)
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
    dropped = len(numbers) - distinct + outcome.excluded + outcome.opted_out
    if dropped and dropped * SLICES_BELOW <= len(numbers):
        drops: list[int] = []
        at = keep.find(0)
        while at != -1:
            drops.append(at)
            at = keep.find(0, at + 1)
        outcome.numbers, outcome.codes = _without(numbers, drops), _without(codes, drops)
        if regions is not None:
            outcome.regions = _without(regions, drops)
    elif dropped:
        outcome.numbers = array(numbers.typecode, compress(numbers, keep))
        outcome.codes = array(codes.typecode, compress(codes, keep))
        if regions is not None:
            outcome.regions = bytearray(compress(regions, keep))
    return outcome


def _without(values: _Values, drops: list[int]) -> _Values:
    """``values`` without the items at ``drops`` (increasing positions), copied slice by slice."""
    out = values[:0]
    start = 0
    for at in drops:
        out += values[start:at]
        start = at + 1
    out += values[start:]
    return out
