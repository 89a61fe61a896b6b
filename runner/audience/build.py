"""From sources to recipients: normalise to E.164, validate, dedupe, exclude, suppress opt-outs."""

from __future__ import annotations

import contextlib
from array import array
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from runner.audience.dedupe import dedupe, warm_up
from runner.audience.numbers import E164List, pack, pack_many, unpack
from runner.campaign.model import Campaign, SourceSpec
from runner.errors import SourceError
from runner.sources import SourceContext, open_source

MAX_EXAMPLES = 5


@dataclass
class InvalidGroup:
    reason: str
    count: int = 0
    examples: list[tuple[str, int, int, str]] = field(default_factory=list)  # (file, line, col, repr of raw)


@dataclass
class Audience:
    """The recipients (E.164, in first-seen order; where each was first seen) and the counts the plan reports.

    ``recipients`` is an :class:`E164List`: the numbers as 8-byte integers, read as ``str``.
    ``codes`` holds, in the order of ``recipients``, where each was first seen (``source index << 32 |
    line``): one machine integer per recipient, not a Python int object (32 bytes each at a million).
    While the audience is built, ``recipients`` and ``codes`` hold every valid row's number and origin
    (``runner.audience.dedupe`` keeps the first occurrences once every source is read).
    """

    recipients: E164List  # e164, in first-seen order
    fields: dict[str, dict[str, Any]]  # e164 -> template fields (only when the template uses fields)
    labels: list[str]  # source labels, by index
    digests: list[str]  # content hash of every source (recipients and exclusions), for stale plans
    rows: int = 0
    valid: int = 0
    invalid: dict[str, InvalidGroup] = field(default_factory=dict)
    duplicates: int = 0
    excluded: int = 0
    suppressed: int = 0
    suppressed_by: dict[str, int] = field(default_factory=dict)  # opt-out list source -> count
    exclusion_invalid: int = 0
    # issue 15: exclusions that cannot be read as a number fail the plan ((file, line, col, "'raw': why"), a few)
    exclusion_unreadable: int = 0
    exclusion_examples: list[tuple[str, int, int, str]] = field(default_factory=list)  # (file, line, col, why)
    codes: array[int] = field(default_factory=lambda: array("q"))  # parallel to recipients: origin ids
    # parallel to recipients when the workers read the sources: each one's region, one byte
    # (runner.audience.regions.region_codes), so that the plan need not look them up; None otherwise
    region_codes: bytearray | None = None

    @property
    def invalid_count(self) -> int:
        return sum(g.count for g in self.invalid.values())

    def origin(self, e164: str) -> str:
        """``file:line`` where ``e164`` was first seen (a scan: for messages about a few recipients)."""
        try:
            code = self.codes[self.recipients.index(e164)]
        except ValueError:
            raise KeyError(e164) from None
        return f"{self.labels[code >> 32]}:{code & 0xFFFFFFFF}"


def _normaliser(region: str | None, cache: dict[str | None, Any]) -> Any:
    found = cache.get(region)
    if found is None:
        found = cache[region] = normaliser_for(region)
    return found


def normaliser_for(region: str | None) -> Any:
    """A PhoneNormaliser; an unknown region is a user error, not a crash."""
    from runner.audience.phones import PhoneNormaliser

    try:
        return PhoneNormaliser(region)
    except ValueError:
        raise SourceError(f"unknown region {region!r}: use a country code such as FR, BE or RE") from None


def _exclusions(specs: tuple[SourceSpec, ...], ctx: SourceContext, normalisers: dict[str | None, Any],
                digests: list[str], unreadable: list[tuple[str, int, int, str]] | None = None) -> tuple[set[str], int]:
    """The excluded numbers and how many were not mobile numbers (they exclude nobody). Issue 15: an
    entry that cannot be read as a number (a do-not-contact person we cannot recognise) goes to
    ``unreadable`` as (file, line, col, "'raw': why") instead; the plan fails on it."""
    numbers: set[str] = set()
    invalid = 0
    for spec in specs:
        source = open_source(spec, ctx)
        classify = _normaliser(source.region, normalisers).classify
        for row in source.rows():
            e164, reason = classify(row.raw)
            if e164 is None:
                if unreadable is not None and row.raw.strip() and not (reason or "").startswith("not a mobile"):
                    unreadable.append((source.label, row.line, 0, f"{_excerpt(row.raw)!r}: {reason}"))
                else:
                    invalid += 1
            else:
                numbers.add(e164)
        digests.append(source.digest())
        _close(source)
    return numbers, invalid


def _excerpt(raw: str, limit: int = 40) -> str:
    return raw if len(raw) <= limit else raw[:limit] + "…"


def _close(source: Any) -> None:
    close: Callable[[], None] | None = getattr(source, "close", None)
    if close is not None:
        close()


class _Filter(NamedTuple):
    excluded: set[int]  # packed (runner.audience.numbers)
    suppressed: Mapping[int, str]  # packed number -> where its opt-out came from
    keep_fields: bool


def _packed_keys(numbers: Mapping[str, str]) -> dict[int, str]:
    """The opt-outs in canonical E.164, packed (the others match no recipient: see _legacy_optouts)."""
    out: dict[int, str] = {}
    for number, origin in numbers.items():
        try:
            out[pack(number)] = origin
        except ValueError:
            continue
    return out


class _Counts:
    """One source's counts, added to the audience once the source is read."""

    __slots__ = ("duplicates", "invalid_rows", "rows")

    def __init__(self) -> None:
        self.rows = self.invalid_rows = self.duplicates = 0  # duplicates: those a worker found in its part


def build_audience(campaign: Campaign, ctx: SourceContext, *, wanted_fields: frozenset[str] = frozenset(),
                   suppressed: Mapping[str, str] | None = None, workers: int | None = None,
                   min_parallel_bytes: int | None = None, meanwhile: Callable[[], None] | None = None) -> Audience:
    """Read every source once, streaming, and keep the first occurrence of each valid number.

    ``suppressed`` maps opted-out numbers to where the opt-out came from (manual, reply:..., ...).
    Large local CSV files are read by worker processes (``runner.audience.parallel``; ``workers`` and
    ``min_parallel_bytes`` override its environment settings); the result is the same either way.
    ``meanwhile`` is called once, while the workers run (the caller's own start-up work, on the parent's
    idle time), or at the end when there are no workers.
    """
    from runner.audience import parallel

    suppressed = suppressed or {}
    normalisers: dict[str | None, Any] = {}
    digests: list[str] = []
    unreadable: list[tuple[str, int, int, str]] = []
    excluded_numbers, exclusion_invalid = _exclusions(campaign.exclude, ctx, normalisers, digests, unreadable)
    audience = Audience(E164List(), {}, [], digests, exclusion_invalid=exclusion_invalid,
                        exclusion_unreadable=len(unreadable), exclusion_examples=unreadable[:MAX_EXAMPLES])
    rules = _Filter({pack(n) for n in excluded_numbers}, _packed_keys(suppressed), bool(wanted_fields))
    config = parallel.settings(workers, min_parallel_bytes)
    pool = parallel.Pool(config.workers) if config.workers > 1 else None
    if pool is not None:
        audience.region_codes = bytearray()
    try:
        # Open every source in order and hand the parts of the large CSV files to the workers at once,
        # so they work while the parent reads the rest; stop at the first error, raised in its turn.
        opened: list[tuple[Any, tuple[list[Future[Any]], int] | None]] = []
        failure: SourceError | None = None
        for spec in campaign.sources:
            try:
                source = open_source(spec, ctx, wanted_fields=wanted_fields)
                opened.append((source, _submit(source, pool, config, normalisers)))
            except SourceError as exc:
                failure = exc
                break
        if meanwhile is not None and any(submitted is not None for _, submitted in opened):
            meanwhile()  # the workers are started: no fork after this (a thread it starts is harmless)
            meanwhile = None
            warm_up()  # a large list: the dedupe will need numpy
            for source, submitted in opened:  # hash the cut files now, while their parts are read
                if submitted is not None:
                    with contextlib.suppress(SourceError):  # raised again in its turn, if it is one
                        source.digest()
        for index, (source, submitted) in enumerate(opened):
            audience.labels.append(source.label)
            counts = _Counts()
            if submitted is None or not _merge_parts(audience, source, index, submitted, rules, counts, pool):
                counts = _Counts()
                start = len(audience.recipients)
                _merge_rows(audience, source, _normaliser(source.region, normalisers), index, rules, counts)
                if audience.region_codes is not None:  # a small source beside large ones: its regions too
                    _add_regions(audience, start)
            audience.digests.append(source.digest())
            _close(source)
            audience.rows += counts.rows
            audience.valid += counts.rows - counts.invalid_rows
            audience.duplicates += counts.duplicates
        if failure is not None:
            raise failure
        if meanwhile is not None:
            meanwhile()
        if pool is not None:
            pool.close()  # before the dedupe: its memory is the parent's alone
        outcome = dedupe(audience.recipients.packed, audience.codes, rules.excluded, rules.suppressed,
                         audience.region_codes)
    finally:
        if pool is not None:
            pool.close()
    audience.recipients, audience.codes = E164List(packed=outcome.numbers), outcome.codes
    audience.region_codes = outcome.regions
    audience.duplicates += outcome.duplicates
    audience.excluded, audience.suppressed = outcome.excluded, outcome.opted_out
    audience.suppressed_by = outcome.suppressed_by
    if audience.fields and (outcome.excluded or outcome.opted_out):  # fields only for the recipients
        dropped = rules.excluded | rules.suppressed.keys()
        for e164 in [e164 for e164 in audience.fields if pack(e164) in dropped]:
            del audience.fields[e164]
    return audience


def _add_regions(audience: Audience, start: int) -> None:
    from runner.audience.regions import region_codes

    assert audience.region_codes is not None and len(audience.region_codes) == start
    try:
        audience.region_codes += region_codes(map(unpack, audience.recipients.packed[start:]))
    except LookupError:  # pragma: no cover - see region_codes
        audience.region_codes = None


def _submit(source: Any, pool: Any, config: Any, normalisers: dict[str | None, Any]) -> \
        tuple[list[Future[Any]], int] | None:
    """The futures of a large local CSV file's parts (and the lines before its body), or None."""
    from runner.audience import parallel
    from runner.sources.csvfile import CsvSource

    inner = getattr(source, "inner", source)  # a KeyedSource (runner.sources.keyed) wraps the CSV source
    if pool is None or type(inner) is not CsvSource:
        return None
    try:
        split = inner.split(parallel.parts_wanted(config.workers, _size(inner)), config.min_bytes)
    except SourceError as exc:  # at the campaign key, as the single path reports it
        relocated = getattr(source, "relocated", None)
        raise (relocated(exc) if relocated is not None else exc) from None
    if split is None:
        return None
    parts, skip = split
    check_mapping = getattr(source, "check_mapping", None)
    if check_mapping is not None and source.mapping:
        check_mapping()  # `fields:` against the header, as the single path does on its first row
    _normaliser(source.region, normalisers)  # an unknown region is refused here, as the single path does;
    # the workers forked from now on inherit phonenumbers' metadata and the compiled fast-path regexes.
    return [pool.submit(part, source.region, MAX_EXAMPLES) for part in parts], skip


def _size(source: Any) -> int:
    try:
        return int(source.path.stat().st_size)
    except OSError:
        return 0


def _merge_rows(audience: Audience, source: Any, normaliser: Any, index: int, rules: _Filter,
                counts: _Counts) -> None:
    """The single-process path: every row of ``source``, in order (duplicates are found at the end). A valid
    number goes through the fast path without the normaliser's cache (which held ~200 B a row; the rest
    through ``classify``, whose answer it is); numbers are packed in batches (``pack_many``)."""
    from runner.audience.phones import MOBILE_TYPES

    numbers, codes, fields_of, invalid = audience.recipients.packed, audience.codes, audience.fields, audience.invalid
    base = index << 32
    rows = invalid_rows = 0
    keep_fields = rules.keep_fields
    classify, fast, mobile = normaliser.classify, normaliser._fast.classify, MOBILE_TYPES
    pending: list[str] = []  # valid numbers not packed yet
    for raw, line, fields in source.rows():
        rows += 1
        found = fast(raw)
        if found is not None and found[1] in mobile:  # what classify(raw) answers then
            e164 = found[0]
        else:
            checked, reason = classify(raw)
            if checked is None:
                invalid_rows += 1
                group = invalid.get(reason or "invalid")
                if group is None:
                    group = invalid[reason or "invalid"] = InvalidGroup(reason or "invalid")
                group.count += 1
                if len(group.examples) < MAX_EXAMPLES:
                    group.examples.append((source.label, line, 0, repr(_excerpt(raw))))  # issue 15: bounded
                continue
            e164 = checked
        pending.append(e164)
        if len(pending) >= 65_536:
            numbers.extend(pack_many(pending))
            pending.clear()
        codes.append(base | line)
        if keep_fields and e164 not in fields_of:  # the first occurrence's fields
            fields_of[e164] = fields or {}
    numbers.extend(pack_many(pending))
    counts.rows, counts.invalid_rows = rows, invalid_rows


def _merge_parts(audience: Audience, source: Any, index: int, submitted: tuple[list[Future[Any]], int],
                 rules: _Filter, counts: _Counts, pool: Any) -> bool:
    """The workers' results for ``source``, merged in file order: what :func:`_merge_rows` gives.

    False (the audience as it was before) if a worker failed, for whatever reason: the caller then
    reads the source in the parent, which reports a bad file exactly as the single path does.
    """
    from runner.audience.parallel import unpack_lines

    futures, offset = submitted
    packed = audience.recipients.packed
    fields_of = audience.fields
    invalid = audience.invalid
    before = (len(packed), len(fields_of), {r: (g.count, len(g.examples)) for r, g in invalid.items()})
    regions_before = None if audience.region_codes is None else len(audience.region_codes)
    keep_fields = rules.keep_fields
    label = source.label
    remap = source.mapped if getattr(source, "mapping", None) else None  # `fields:` (runner.sources.keyed)
    futures.reverse()
    while futures:
        future = futures.pop()  # dropped once merged: a future keeps its part's result alive
        try:
            part = future.result()
        except Exception:
            for future_left in futures:
                future_left.cancel()
            _rollback(audience, before)
            if audience.region_codes is not None:
                if regions_before is None:  # pragma: no cover - region codes are never turned back on
                    audience.region_codes = None
                else:
                    del audience.region_codes[regions_before:]
            return False
        del future
        pool.seen(part)
        first_line = offset
        base = (index << 32) + offset
        offset += part.newlines
        counts.rows += part.rows
        counts.duplicates += part.duplicates
        for reason, rows, examples in part.invalid:
            counts.invalid_rows += rows
            group = invalid.get(reason)
            if group is None:
                group = invalid[reason] = InvalidGroup(reason)
            group.count += rows
            room = MAX_EXAMPLES - len(group.examples)
            if room > 0:
                group.examples.extend((label, first_line + line, 0, repr(_excerpt(raw)))
                                      for line, raw in examples[:room])
        if not part.numbers:
            continue
        start = len(packed)
        packed.frombytes(part.numbers)
        audience.codes.extend(map(base.__add__, unpack_lines(part.lines)))
        if audience.region_codes is not None:
            if part.regions is None:  # pragma: no cover - see runner.audience.regions.region_codes
                audience.region_codes = None
            else:
                audience.region_codes += part.regions
        keys, values = part.field_keys, part.field_values
        if keep_fields:
            new = packed[start:]
            rows_fields = values if keys is not None and values is not None else [None] * len(new)
            for number, row in zip(new, rows_fields, strict=True):
                e164 = unpack(number)
                if e164 not in fields_of:
                    found = {} if row is None or keys is None else dict(zip(keys, row, strict=True))
                    fields_of[e164] = remap(found) or {} if remap is not None else found
    return True


def _rollback(audience: Audience, before: tuple[int, int, dict[str, tuple[int, int]]]) -> None:
    size, fields_size, groups = before
    del audience.recipients.packed[size:]
    del audience.codes[size:]
    for e164 in list(islice(reversed(audience.fields), len(audience.fields) - fields_size)):
        del audience.fields[e164]
    for reason in [r for r in audience.invalid if r not in groups]:
        del audience.invalid[reason]
    for reason, (count, examples) in groups.items():
        group = audience.invalid[reason]
        group.count = count
        del group.examples[examples:]
