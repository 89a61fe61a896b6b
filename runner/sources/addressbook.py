"""Address books: YAML (``schema/addressbook.schema.json``) or CSV with a header (name, phone, groups,
then free columns used as template fields). Narrowed by groups and/or contact names."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.campaign import schema as schemas
from runner.campaign.model import Position
from runner.errors import Diagnostic, SourceError
from runner.sources.base import Row, Source
from runner.sources.csvfile import slug


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    groups: tuple[str, ...]
    fields: dict[str, str]
    line: int


MAX_ADDRESSBOOK_BYTES = 64 * 1024 * 1024


def read_addressbook(path: Path, label: str) -> tuple[list[Contact], str | None, str]:
    """(contacts, region, sha256) of an address book; raise SourceError with positions."""
    try:
        with path.open("rb") as handle:  # issue 15: read with a cap, not after
            data = handle.read(MAX_ADDRESSBOOK_BYTES + 1)
    except OSError as exc:
        raise SourceError.at(label, 0, 0, f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_ADDRESSBOOK_BYTES:
        raise SourceError.at(label, 0, 0, f"larger than {MAX_ADDRESSBOOK_BYTES // (1024 * 1024)} MiB: an address "
                          "book that large belongs in a CSV source")
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if path.suffix.lower() == ".csv":
        return _read_csv(text, label), None, digest
    doc = schemas.parse_validated(text, label, "addressbook", SourceError,
                                  "an address book is a mapping with a `contacts` list")
    problems: list[Diagnostic] = []
    contacts = []
    seen: dict[str, int] = {}
    for index, item in enumerate(doc.data["contacts"]):
        line = doc.mark(("contacts", index))[0]
        name = item["name"]
        if name in seen:
            problems.append(doc.diag(("contacts", index, "name"),
                                     f"duplicate contact name {name!r} (first at line {seen[name]})"))
        seen.setdefault(name, line)
        fields = {str(k): str(v) for k, v in (item.get("fields") or {}).items()}
        contacts.append(Contact(name, item["phone"], tuple(item.get("groups", ())), fields, line))
    if problems:
        raise SourceError("invalid address book", problems)
    return contacts, doc.data.get("region"), digest


def _read_csv(text: str, label: str) -> list[Contact]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise SourceError.at(label, 1, 1, f"malformed CSV: {exc}") from None
    names = [slug(h) for h in header]
    for required in ("name", "phone"):
        if required not in names:
            raise SourceError.at(label, 1, 1, f"an address book CSV needs a {required!r} column "
                              f"(columns: {', '.join(header)})")
    i_name, i_phone = names.index("name"), names.index("phone")
    i_groups = names.index("groups") if "groups" in names else None
    contacts = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells) or cells[0].startswith("#"):
                continue
            cells += [""] * (len(header) - len(cells))
            groups = tuple(g.strip() for g in cells[i_groups].replace(";", "|").split("|") if g.strip()) \
                if i_groups is not None else ()
            fields = {names[i]: cells[i].strip() for i in range(len(header)) if i not in (i_name, i_phone, i_groups)}
            contacts.append(Contact(cells[i_name].strip(), cells[i_phone].strip(), groups, fields, reader.line_num))
    except csv.Error as exc:
        raise SourceError.at(label, reader.line_num, 1, f"malformed CSV: {exc}") from None
    return contacts


class AddressBookSource(Source):
    def __init__(self, path: Path, *, label: str, groups: list[str] | None = None,
                 contacts: list[str] | None = None, region: str | None = None,
                 position: Position | None = None, keys: dict[str, Position] | None = None) -> None:
        self.path = path
        self.keys = keys or {}  # where the campaign writes `groups:` and `contacts:`
        self.label = label
        self.position = position  # where the campaign names this book: unknown groups/contacts point there
        self.groups = groups
        self.contacts = contacts
        self._region = region
        self._loaded: tuple[list[Contact], str | None, str] | None = None

    @property
    def region(self) -> str | None:
        """The source's region, else the book's own ``region``."""
        return self._region or self._load()[1]

    @region.setter
    def region(self, value: str | None) -> None:
        self._region = value

    def _load(self) -> tuple[list[Contact], str | None, str]:
        if self._loaded is None:
            self._loaded = read_addressbook(self.path, self.label)
        return self._loaded

    def digest(self) -> str:
        return self._load()[2]

    def selected(self) -> list[Contact]:
        contacts, _, _ = self._load()
        by_name = {c.name: c for c in contacts}
        problems: list[tuple[str, str]] = []
        if self.contacts:
            for name in self.contacts:
                if name not in by_name:
                    hint = difflib.get_close_matches(name, list(by_name), n=1)
                    problems.append(("contacts", f"no contact named {name!r} in {self.label}"
                                     + (f" (did you mean {hint[0]!r}?)" if hint else "")))
        if self.groups:
            known = {g for c in contacts for g in c.groups}
            for group in self.groups:
                if group not in known:
                    hint = difflib.get_close_matches(group, sorted(known), n=1)
                    problems.append(("groups", f"no contact in group {group!r} in {self.label}"
                                     + (f" (did you mean {hint[0]!r}?)" if hint else "")))
        if problems:
            default = self.position or Position(self.label)
            at = [self.keys.get(key, default) for key, _ in problems]
            raise SourceError("; ".join(p for _, p in problems),
                              [Diagnostic(w.path, w.line, w.col, p) for w, (_, p) in zip(at, problems, strict=True)])
        chosen: list[Contact] = []
        for contact in contacts:
            by_contact = bool(self.contacts) and contact.name in (self.contacts or ())
            by_group = bool(self.groups) and bool(set(contact.groups) & set(self.groups or ()))
            if (not self.contacts and not self.groups) or by_contact or by_group:
                chosen.append(contact)
        return chosen

    def field_names(self) -> list[str]:
        """What ``fields:`` may name: name, phone, groups and every contact's own fields."""
        names = {name for contact in self._load()[0] for name in contact.fields}
        return ["name", "phone", "groups", *sorted(names)]

    def rows(self) -> Iterator[Row]:
        for contact in self.selected():
            fields: dict[str, Any] = {"name": contact.name, **contact.fields}
            yield Row(contact.phone, contact.line, fields)
