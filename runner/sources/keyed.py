"""A source as the campaign names it: problems at the campaign key that causes them, ``fields:`` applied.

Every source opened from a campaign's spec is wrapped here, so ``validate`` and ``plan`` show the same
problem at the same place: ``campaign.yaml:9:13`` (the ``column:`` written there), with the source's own
position (``list.csv:1:1``, the header row or the data row) as a second location.

``fields: {first_name: Prénom}`` maps the field names the message template uses to the source's columns
(a CSV header, or an address book's contact fields); a mapped column the header lacks is an error at
``fields.first_name``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from runner.campaign.model import SourceSpec
from runner.errors import Diagnostic, SourceError
from runner.sources.base import Row, Source
from runner.sources.csvfile import slug


def wanted_with_mapping(wanted: frozenset[str], mapping: Mapping[str, str]) -> frozenset[str]:
    """The columns a source must keep: the template's own fields and the mapped columns (name and slug)."""
    if not mapping:
        return wanted
    return wanted | frozenset(mapping.values()) | frozenset(slug(c) for c in mapping.values())


def relocate(exc: SourceError, spec: SourceSpec, label: str) -> SourceError:
    """``exc`` again, each of its problems at the campaign key that causes it (``exc.key``, else the
    source's own key) and the source's position, when it had one, as the second location."""
    campaign_path = spec.position.path
    where = spec.at(exc.key)
    if not exc.diagnostics:
        return exc  # no file to point at: shown as it is
    out: list[Diagnostic] = []
    for d in exc.diagnostics:
        if d.path == campaign_path:
            out.append(d)  # already at the campaign
            continue
        message = d.message if d.message.startswith(label) else f"{label}: {d.message}"
        related = ((d.path, d.line, d.col, "here"),) if d.line else ()
        out.append(Diagnostic(where.path, where.line, where.col, message, d.severity, related))
    again = SourceError(exc.message, out, key=exc.key)
    again.relocated = True
    return again


class KeyedSource(Source):
    def __init__(self, inner: Source, spec: SourceSpec, mapping: Mapping[str, str] | None = None) -> None:
        self.inner = inner
        self.spec = spec
        self.mapping = dict(mapping or {})
        self.label = inner.label

    def relocated(self, exc: SourceError) -> SourceError:
        """``exc`` at the campaign key that causes it (once)."""
        if exc.relocated:
            return exc
        return relocate(exc, self.spec, self.label)

    @property
    def region(self) -> str | None:
        try:
            return self.inner.region
        except SourceError as exc:
            raise self.relocated(exc) from None

    @region.setter
    def region(self, value: str | None) -> None:
        self.inner.region = value

    def digest(self) -> str:
        try:
            return self.inner.digest()
        except SourceError as exc:
            raise self.relocated(exc) from None

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def rows(self) -> Iterator[Row]:
        try:
            if not self.mapping:
                yield from self.inner.rows()
                return
            checked = False
            for raw, line, fields in self.inner.rows():
                if not checked:
                    self.check_mapping()
                    checked = True
                yield Row(raw, line, self.mapped(fields))
            if not checked:
                self.check_mapping()
        except SourceError as exc:
            raise self.relocated(exc) from None

    def mapped(self, fields: dict[str, Any] | None) -> dict[str, Any] | None:
        if fields is None:
            return None
        out = dict(fields)
        for field, column in self.mapping.items():
            value = fields.get(column)
            if value is None:
                value = fields.get(slug(column))
            if value is not None:
                out[field] = value
        return out

    def check_mapping(self) -> None:
        """Every mapped column exists in the source's header (or in some contact of an address book)."""
        columns = known_columns(self.inner)
        if columns is None:
            return
        names, what = columns
        if not names and what == "header":
            raise SourceError.at(self.label, 0, 0, "`fields` names columns by their header; this file has none",
                              key="fields")
        slugs = {slug(n) for n in names}
        problems = [Diagnostic(self.label, 0, 0, f"no column named {column!r} for field {field!r} "
                                                 f"({what}: {', '.join(names)})")
                    for field, column in self.mapping.items()
                    if column not in names and slug(column) not in slugs]
        if problems:
            keys = [f"fields.{f}" for f, c in self.mapping.items() if c not in names and slug(c) not in slugs]
            located = [Diagnostic(self.spec.at(k).path, self.spec.at(k).line, self.spec.at(k).col,
                                  f"{self.label}: {p.message}") for k, p in zip(keys, problems, strict=True)]
            error = SourceError("`fields` names columns the source lacks", located, key="fields")
            error.relocated = True
            raise error


def known_columns(source: Source) -> tuple[list[str], str] | None:
    """The columns a source offers (a CSV header; an address book's contact fields), or None if unknown."""
    names = getattr(source, "header_names", None)
    if isinstance(names, list):
        return names, "header"
    field_names = getattr(source, "field_names", None)
    if callable(field_names):
        found: list[str] = field_names()
        return found, "contact fields"
    return None
