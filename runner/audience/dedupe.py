"""The audience's dedupe, once every source is read: the first occurrence of each number, in order.

While the sources are read, every valid number goes into one packed array (8 bytes) beside its origin
code (8 bytes) and its region (1 byte); nothing is looked up per row. At the end:

* a short list (under :data:`SMALL` numbers, the single-process path's usual case): one ``dict`` built in C
  (``dict(zip(reversed(numbers), reversed(positions)))``: the last value written for a number is its
  first position);
* a long one: numpy sorts the numbers (a stable sort: equal numbers stay in the order they were read, so
  the first of each run is the first occurrence) and keeps what it needs by boolean masks, about 0.1 s for
  a million numbers where the dicts and the copies one number at a time took 0.4-0.5 s. The sort runs on
  :data:`SLICES` slices of the numbers (by their low bits; equal numbers fall in the same slice), so its
  temporary arrays weigh a quarter of the list: ~10 bytes a number at the peak, not ~40.

numpy is imported on the first long list only (~60 ms: the audience's parent imports it while its
workers read, see :func:`warm_up`); a ``validate`` or a plan read in one process (files under 4 MB,
fewer than :data:`UNLOADED` numbers) never loads it.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Mapping
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any, Final

from runner.audience.numbers import CODE

if TYPE_CHECKING:
    import numpy

    Array = numpy.ndarray[Any, Any]

SMALL: Final = 50_000  # numbers below which the dict is faster than numpy, once numpy is loaded
UNLOADED: Final = 120_000  # the same while it is not (measured: dict 34 ms, numpy and its import 112 ms at 100,000)
SLICES: Final = 4  # a power of 2: the sort's slices, by the numbers' low bits

assert array(CODE).itemsize == 8


class Outcome:
    """What the dedupe found: the kept numbers (in order) and the counts."""

    __slots__ = ("codes", "duplicates", "excluded", "numbers", "opted_out", "regions", "suppressed_by")

    def __init__(self, numbers: array[int], codes: array[int], regions: bytearray | None = None) -> None:
        self.numbers, self.codes, self.regions = numbers, codes, regions
        self.duplicates = self.excluded = self.opted_out = 0
        self.suppressed_by: dict[str, int] = {}


def first_occurrences(numbers: array[int], small: int | None = None) -> bytearray:
    """1 at the first position of every distinct number, 0 elsewhere (the dedupe's mask, as bytes)."""
    return bytearray(_first_mask(numbers, small))


def _first_mask(numbers: array[int], small: int | None) -> bytearray | Array:
    if small is None:  # numpy's import (~60 ms) pays for itself from ~120,000 numbers; loaded, from 50,000
        small = SMALL if "numpy" in sys.modules else UNLOADED
    if len(numbers) < max(small, 1):
        first = bytearray(len(numbers))
        firsts = dict(zip(reversed(numbers), reversed(range(len(numbers))), strict=True)).values()
        deque(map(first.__setitem__, firsts, repeat(1)), maxlen=0)  # in C: first[p] = 1 for each
        return first
    import numpy as np

    values = _as_numpy(numbers)
    keep = np.zeros(len(values), dtype=bool)
    low_byte = values.view(np.uint8)[0 if sys.byteorder == "little" else 7::8]
    slice_of = low_byte & (SLICES - 1)
    for which in range(SLICES):
        positions = np.flatnonzero(slice_of == which)  # increasing
        if not len(positions):
            continue
        part = values[positions]
        order = np.argsort(part, kind="stable")
        part = part[order]
        starts = np.empty(len(part), dtype=bool)  # the first of each run of equal numbers
        starts[0] = True
        np.not_equal(part[1:], part[:-1], out=starts[1:])
        keep[positions[order[starts]]] = True
        del part, order, starts, positions
    return keep


def dedupe(numbers: array[int], codes: array[int], excluded: set[int] | frozenset[int],
           suppressed: Mapping[int, str], regions: bytearray | None = None, small: int | None = None) -> Outcome:
    """Keep the first occurrence of each number, then drop the excluded and opted-out ones (counted
    once each, at their first occurrence; later occurrences are duplicates, as before). ``regions``
    (one byte per number, or None) is kept in step with the numbers, as ``codes`` is. ``small``: the
    length from which numpy does the work (a test sets it to compare both ways)."""
    keep = _first_mask(numbers, small)
    outcome = Outcome(numbers, codes, regions)
    if isinstance(keep, bytearray):
        distinct = keep.count(1)
        flagged: Any = (p for p in compress(range(len(numbers)), keep) if numbers[p] in excluded
                        or numbers[p] in suppressed) if excluded or suppressed else ()
    else:
        import numpy as np

        distinct = int(np.count_nonzero(keep))
        flagged = ()
        if excluded or suppressed:
            dropped = np.fromiter((*excluded, *suppressed), dtype=np.int64)
            flagged = np.flatnonzero(keep & np.isin(_as_numpy(numbers), dropped)).tolist()
    outcome.duplicates = len(numbers) - distinct
    suppressed_by = outcome.suppressed_by
    for position in flagged:  # in order: suppressed_by's order is first seen
        number = numbers[position]
        if number in excluded:
            outcome.excluded += 1
        else:
            outcome.opted_out += 1
            origin = suppressed[number].split(":", 1)[0]
            suppressed_by[origin] = suppressed_by.get(origin, 0) + 1
        keep[position] = 0
    if distinct - outcome.excluded - outcome.opted_out == len(numbers):
        return outcome
    if isinstance(keep, bytearray):
        outcome.numbers = array(numbers.typecode, compress(numbers, keep))
        outcome.codes = array(codes.typecode, compress(codes, keep))
        if regions is not None:
            outcome.regions = bytearray(compress(regions, keep))
    else:
        outcome.numbers, outcome.codes = _kept(numbers, keep), _kept(codes, keep)
        if regions is not None:
            outcome.regions = bytearray(_as_numpy(regions)[keep].tobytes())
    return outcome


def _kept(values: array[int], keep: Array) -> array[int]:
    out = array(values.typecode)
    out.frombytes(_as_numpy(values)[keep].tobytes())
    return out


def _as_numpy(values: array[int] | bytearray) -> Array:
    import numpy as np

    if isinstance(values, bytearray):
        return np.frombuffer(values, dtype=np.uint8)
    return np.frombuffer(values, dtype=np.dtype(f"i{values.itemsize}"))


def warm_up() -> None:
    """Import numpy now (the parent does it while its workers read a long list)."""
    import numpy  # noqa: F401
