"""From sources to recipients: normalise to E.164, validate, dedupe, exclude, suppress opt-outs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.campaign.model import Campaign, SourceSpec
from runner.errors import SourceError
from runner.sources import SourceContext, open_source

MAX_EXAMPLES = 5


@dataclass
class InvalidGroup:
    reason: str
    count: int = 0
    examples: list[str] = field(default_factory=list)  # "file:line: raw"


@dataclass
class Audience:
    """The recipients (E.164 -> where first seen) and the counts the plan reports."""

    recipients: dict[str, int]  # e164 -> origin id (see origin())
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
    # issue 15: exclusions that cannot be read as a number fail the plan ("file:line: 'raw': why", a few)
    exclusion_unreadable: int = 0
    exclusion_examples: list[str] = field(default_factory=list)

    @property
    def invalid_count(self) -> int:
        return sum(g.count for g in self.invalid.values())

    def origin(self, e164: str) -> str:
        code = self.recipients[e164]
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
                digests: list[str], unreadable: list[str] | None = None) -> tuple[set[str], int]:
    """The excluded numbers and how many were not mobile numbers (they exclude nobody). Issue 15: an
    entry that cannot be read as a number (a do-not-contact person we cannot recognise) goes to
    ``unreadable`` as "file:line: 'raw': why" instead; the plan fails on it."""
    numbers: set[str] = set()
    invalid = 0
    for spec in specs:
        source = open_source(spec, ctx)
        classify = _normaliser(source.region, normalisers).classify
        for row in source.rows():
            e164, reason = classify(row.raw)
            if e164 is None:
                if unreadable is not None and row.raw.strip() and not (reason or "").startswith("not a mobile"):
                    unreadable.append(f"{source.label}:{row.line}: {_excerpt(row.raw)!r}: {reason}")
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


def build_audience(campaign: Campaign, ctx: SourceContext, *, wanted_fields: frozenset[str] = frozenset(),
                   suppressed: Mapping[str, str] | None = None) -> Audience:
    """``suppressed`` maps opted-out numbers to where the opt-out came from (manual, reply:..., ...)."""
    suppressed = suppressed or {}
    """Read every source once, streaming, and keep the first occurrence of each valid number."""
    normalisers: dict[str | None, Any] = {}
    digests: list[str] = []
    unreadable: list[str] = []
    excluded_numbers, exclusion_invalid = _exclusions(campaign.exclude, ctx, normalisers, digests, unreadable)
    audience = Audience({}, {}, [], digests, exclusion_invalid=exclusion_invalid,
                        exclusion_unreadable=len(unreadable), exclusion_examples=unreadable[:MAX_EXAMPLES])
    recipients = audience.recipients
    keep_fields = bool(wanted_fields)
    for index, spec in enumerate(campaign.sources):
        try:
            source = open_source(spec, ctx, wanted_fields=wanted_fields)
        except SourceError:
            raise
        audience.labels.append(source.label)
        classify = _normaliser(source.region, normalisers).classify
        base = index << 32
        rows = invalid_rows = duplicates = excluded = opted_out = 0
        invalid = audience.invalid
        filtering = bool(excluded_numbers) or bool(suppressed)
        for raw, line, fields in source.rows():
            rows += 1
            e164, reason = classify(raw)
            if e164 is None:
                invalid_rows += 1
                group = invalid.get(reason or "invalid")
                if group is None:
                    group = invalid[reason or "invalid"] = InvalidGroup(reason or "invalid")
                group.count += 1
                if len(group.examples) < MAX_EXAMPLES:
                    group.examples.append(f"{source.label}:{line}: {_excerpt(raw)!r}")  # issue 15: bounded
                continue
            if e164 in recipients:
                duplicates += 1
                continue
            if filtering:
                if e164 in excluded_numbers:
                    excluded += 1
                    recipients[e164] = -1  # seen, excluded: later duplicates count as duplicates
                    continue
                if e164 in suppressed:
                    opted_out += 1
                    origin = suppressed[e164].split(":", 1)[0]
                    audience.suppressed_by[origin] = audience.suppressed_by.get(origin, 0) + 1
                    recipients[e164] = -1
                    continue
            recipients[e164] = base | line
            if keep_fields:
                audience.fields[e164] = fields or {}
        valid = rows - invalid_rows
        audience.digests.append(source.digest())
        _close(source)
        audience.rows += rows
        audience.valid += valid
        audience.duplicates += duplicates
        audience.excluded += excluded
        audience.suppressed += opted_out
    if audience.excluded or audience.suppressed:
        for e164 in [k for k, v in recipients.items() if v == -1]:
            del recipients[e164]
    return audience
