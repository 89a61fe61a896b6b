"""The region of every recipient's number (for cost and send windows), one byte each.

``regions_of(numbers)`` is phonenumbers' ``region_code_for_number`` of each E.164 number, ``None`` for the
non-geographic codes ("001") and unknown ones. A country code that belongs to one region answers for all
its (valid) numbers, as in phonenumbers; only the numbers of shared codes (+1, +44, +7...) are looked up
one by one (``runner.audience.phones.region_of``).

:func:`region_codes` gives the same answer as one byte per number, an index into :data:`REGIONS`: the
audience's workers compute it for their part's numbers (in parallel, beside the classification), the
parent carries it through the merge and the dedupe like the numbers' origins, and the plan reads its
regions from it instead of looking a million numbers up after the workers are done.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Final, overload

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS

REGIONS: Final[tuple[str | None, ...]] = (None, *sorted(SUPPORTED_REGIONS))  # index 0: no region
_INDEX: Final[dict[str | None, int]] = {region: index for index, region in enumerate(REGIONS)}
_SHARED: Final = 255  # a marker: this head's code belongs to several regions
assert len(REGIONS) < _SHARED

# country code -> its only region's index (None for "001"), for the codes that belong to one region
_SINGLE: Final[dict[str, int]] = {
    str(cc): _INDEX.get(regions[0], 0) for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) == 1
}
_BY_HEAD: dict[str, int] = {}  # "+336" -> FR's index: the first three digits fix the (prefix-free) code


def _head_code(e164: str) -> int:
    digits = e164[1:4]
    cc = digits[:2] if digits[:2] in _SINGLE else digits[:1] if digits[:1] in _SINGLE else digits[:3]
    code = _BY_HEAD[e164[:4]] = _SINGLE.get(cc, _SHARED)
    return code


def _shared_code(e164: str) -> int:
    from runner.audience.phones import region_of

    return code_of(region_of(e164))


def region_codes(numbers: Iterable[str]) -> bytearray:
    """The index in :data:`REGIONS` of every number's region, in order (LookupError: a region outside
    the table, which phonenumbers does not give today; the caller then uses :func:`regions_of`'s way)."""
    return bytearray(map(region_code, numbers))


def region_code(e164: str) -> int:
    """One number's :func:`region_codes` (the same LookupError)."""
    code = _BY_HEAD.get(e164[:4])
    if code is None:
        code = _head_code(e164)
    return _shared_code(e164) if code == _SHARED else code


def code_of(region: str | None) -> int:
    """The byte :func:`region_codes` gives a number whose ``region_code_for_number`` is ``region``
    (LookupError: a region outside the table, as there)."""
    if region is None or region in ("001", "ZZ"):
        return 0
    code = _INDEX.get(region)
    if code is None:  # pragma: no cover - phonenumbers gives no region outside SUPPORTED_REGIONS today
        raise LookupError(f"region {region!r} is not in phonenumbers' supported regions")
    return code


def regions_of(numbers: Collection[str]) -> list[str | None]:
    """The region of every number, in order (None: non-geographic or unknown)."""
    try:
        return decode(region_codes(numbers))
    except LookupError:  # pragma: no cover - a region phonenumbers does not list (never today)
        from runner.audience.phones import region_of

        found = map(region_of, numbers)
        return [None if region in ("001", "ZZ") else region for region in found]


def decode(codes: bytes | bytearray) -> list[str | None]:
    return list(map(REGIONS.__getitem__, codes))


class RegionCodes(Sequence["str | None"]):
    """The regions of a list of numbers kept as :func:`region_codes` gives them (one byte each), read as a
    sequence of region codes: the plan holds a million of them without a million list slots, and counts
    them without decoding (:meth:`counts`)."""

    __slots__ = ("codes",)

    def __init__(self, codes: bytes | bytearray) -> None:
        self.codes = codes

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> RegionCodes: ...

    def __getitem__(self, index: int | slice) -> str | RegionCodes | None:
        if isinstance(index, slice):
            return RegionCodes(self.codes[index])
        return REGIONS[self.codes[index]]

    def __iter__(self) -> Iterator[str | None]:
        return map(REGIONS.__getitem__, self.codes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RegionCodes):
            return self.codes == other.codes
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list

    def counts(self) -> dict[str | None, int]:
        """How many numbers of each region, in the order the regions first appear (as ``Counter(self)``)."""
        codes = self.codes
        present = sorted(set(codes), key=codes.index)
        return {REGIONS[code]: codes.count(code) for code in present}

    def __repr__(self) -> str:
        return f"RegionCodes({list(self[:5])!r}{'...' if len(self) > 5 else ''}, {len(self):,} numbers)"


def count_regions(regions: Iterable[str | None]) -> dict[str | None, int]:
    """``Counter(regions)`` as a dict (first appearance first); without decoding a :class:`RegionCodes`."""
    if isinstance(regions, RegionCodes):
        return regions.counts()
    from collections import Counter

    return dict(Counter(regions))
