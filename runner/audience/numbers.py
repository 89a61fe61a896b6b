"""Recipients' numbers kept compactly: E.164 numbers as 64-bit integers in one array.

A Python ``str`` of ``+33612345678`` weighs 61-64 bytes; the same number as a machine integer in an
``array('q')`` weighs 8. The audience and the plan hold a million of them, so :class:`E164List` is what
they keep: a read-only-ish sequence of ``str`` (``numbers[i]``, ``len``, iteration, ``in``, ``index``,
``==``) made on demand from the integers, so that code indexing ``plan.recipients.numbers[i]`` (the send
engine) keeps working unchanged.

Canonical E.164 (``+`` then at most 15 ASCII digits, the first not 0: a country code never starts
with 0) is exactly ``"+%d" % int(number[1:])``; :func:`pack` refuses anything that would not come
back the same.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Final, overload

CODE: Final = "q"  # signed 64-bit: 15 digits fit with room to spare
_FORMAT: Final = "+%d"


def pack(e164: str) -> int:
    """``+33612345678`` -> ``33612345678``; ValueError for anything that would not round-trip."""
    try:
        value = int(e164[1:])
    except ValueError:
        raise ValueError(f"not an E.164 number: {e164!r}") from None
    if e164[:1] != "+" or _FORMAT % value != e164 or value >= 10**18:
        raise ValueError(f"not an E.164 number: {e164!r}")
    return value


# Canonical E.164 numbers, one a line: exactly the strings pack() accepts ("+", then 1 to 18 ASCII digits,
# the first not 0: "+%d" % int(digits) gives them back; int() would also take "_", spaces, other digits).
_CANONICAL_LINES: Final = re.compile(r"\+[1-9][0-9]{0,17}(?:\n\+[1-9][0-9]{0,17})*")


def pack_many(numbers: Collection[str]) -> array[int]:
    """``array(CODE, map(pack, numbers))`` in C loops (a worker packs every number of its part): join,
    check every line is canonical (one regex pass), convert."""
    if not numbers:
        return array(CODE)
    joined = "\n".join(numbers)
    if _CANONICAL_LINES.fullmatch(joined) is not None:
        values = array(CODE, map(int, joined.split("\n")))  # int("+336...") is 336...: no "+" to drop
        if len(values) == len(numbers):  # no number held a line end
            return values
    return array(CODE, map(pack, numbers))  # raises, naming the number that does not round-trip


def unpack(value: int) -> str:
    return _FORMAT % value


class E164List(Sequence[str]):
    """E.164 numbers in order, 8 bytes each; reads as a sequence of ``str``."""

    __slots__ = ("packed",)

    def __init__(self, numbers: Iterable[str] = (), *, packed: array[int] | None = None) -> None:
        self.packed: array[int] = packed if packed is not None else array(CODE, map(pack, numbers))

    def append(self, e164: str) -> None:
        self.packed.append(pack(e164))

    def __len__(self) -> int:
        return len(self.packed)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> E164List: ...

    def __getitem__(self, index: int | slice) -> str | E164List:
        found = self.packed[index]
        if isinstance(found, int):
            return _FORMAT % found
        return E164List(packed=found)

    def __iter__(self) -> Iterator[str]:
        return map(_FORMAT.__mod__, self.packed)

    def __reversed__(self) -> Iterator[str]:
        return map(_FORMAT.__mod__, reversed(self.packed))

    def __contains__(self, value: object) -> bool:
        try:
            return isinstance(value, str) and pack(value) in self.packed
        except ValueError:
            return False

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        if isinstance(value, str):
            try:
                wanted = pack(value)
            except ValueError:
                pass
            else:
                at = self.packed.index(wanted, start, len(self.packed) if stop is None else stop)
                return at
        raise ValueError(f"{value!r} is not in the list")

    def count(self, value: object) -> int:
        try:
            return self.packed.count(pack(value)) if isinstance(value, str) else 0
        except ValueError:
            return 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, E164List):
            return self.packed == other.packed
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        shown = ", ".join(repr(n) for n in self[:5])
        return f"E164List([{shown}{', ...' if len(self) > 5 else ''}], {len(self):,} numbers)"
