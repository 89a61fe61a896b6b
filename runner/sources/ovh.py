"""Recipient sources read from the OVHcloud SMS account.

* ``ovh-phonebook: {book: KEY, groups: [...]}``: the contacts of an address book (by ``bookKey``, or by
  its name when unique), optionally only some groups. The number is ``homeMobile``, else
  ``workMobile`` (the API has no ``mobilePhone``); a contact with neither yields an empty number so
  the planner reports it. Fields: ``name`` (first name), ``surname`` (last name), ``group``. Rows are
  ordered by contact id; ``line`` is the 1-based position in that order.
* ``ovh-receivers: SLOT``: a stored recipient list (slot 1..9), read from
  ``GET /receivers/{slot}/csv`` (``;``-separated, header ``number``); ``column`` and ``delimiter``
  options as for CSV files; ``line`` is the line in that CSV. Other columns become fields.

Credentials come from ``ctx.env`` then the process environment (``OVH_APPLICATION_KEY``,
``OVH_APPLICATION_SECRET``, ``OVH_CONSUMER_KEY``); the endpoint and account from the options
(``endpoint``, ``service_name``) or ``OVH_ENDPOINT`` / ``OVH_SERVICE_NAME``. Reading a phonebook costs
one request per contact, paced at ``OVH_REQUESTS_PER_MINUTE`` (default 60 per minute).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from runner.errors import ConfigError, CredentialsError, ProviderError, SourceError
from runner.providers.ovh import api
from runner.providers.ovh.client import OvhClient, OvhNotFoundError, client_from_env, resolve_config
from runner.sources.base import Row, Source, SourceContext
from runner.sources.csvfile import slug


def _env(ctx: SourceContext) -> dict[str, str]:
    return {**os.environ, **ctx.env}


class _OvhSource(Source):
    kind = ""

    def __init__(self, spec_options: Mapping[str, Any], ctx: SourceContext) -> None:
        self.options = dict(spec_options)
        self.ctx = ctx
        self.region = self.options.get("region")
        nested = self.options.get(self.kind)
        self._settings: dict[str, Any] = {"timeout": ctx.timeout}
        for key in ("endpoint", "service_name"):
            value = (nested.get(key) if isinstance(nested, Mapping) else None) or self.options.get(key)
            if value:
                self._settings[key] = value
        self._env = _env(ctx)
        self._config = resolve_config(self._settings, self._env)
        self._rows: list[Row] | None = None
        self._digest: str | None = None

    def _client(self) -> OvhClient:
        try:
            return client_from_env(self._settings, self._env)
        except ConfigError as exc:
            raise ConfigError(f"{self.label}: {exc.message}") from None

    def _service(self, client: OvhClient) -> str:
        return api.find_service_name(client, self._config.service_name)

    def _load(self) -> tuple[list[Row], str]:
        raise NotImplementedError

    def _ensure(self) -> tuple[list[Row], str]:
        if self._rows is None or self._digest is None:
            try:
                self._rows, self._digest = self._load()
            except CredentialsError:
                raise
            except OvhNotFoundError as exc:
                raise SourceError.at(self.label, 0, 0, exc.message) from None
            except ProviderError as exc:
                raise SourceError.at(self.label, 0, 0, f"cannot read from OVHcloud: {exc.message}") from None
        return self._rows, self._digest

    def rows(self) -> Iterator[Row]:
        rows, _ = self._ensure()
        yield from rows

    def digest(self) -> str:
        _, digest = self._ensure()
        return digest


class OvhPhonebookSource(_OvhSource):
    """``ovh-phonebook: {book: KEY, groups: [...]}`` (see the module docstring)."""

    kind = "ovh-phonebook"

    def __init__(self, spec_options: Mapping[str, Any], ctx: SourceContext) -> None:
        nested = spec_options.get(self.kind)
        if isinstance(nested, str):
            nested = {"book": nested}
        if not isinstance(nested, Mapping) or not nested.get("book"):
            raise SourceError.at("ovh-phonebook", 0, 0, "needs {book: KEY}")
        self.book = str(nested["book"])
        groups = nested.get("groups")
        self.groups: list[str] | None = [str(g) for g in groups] if groups else None
        self.label = f"ovh-phonebook {self.book}"
        super().__init__(spec_options, ctx)

    def _load(self) -> tuple[list[Row], str]:
        with self._client() as client:
            service = self._service(client)
            book = api.find_phonebook(client, service, self.book)
            contacts = api.list_contacts(client, service, book.book_key, groups=self.groups)
        rows: list[Row] = []
        canonical: list[dict[str, Any]] = []
        for position, contact in enumerate(contacts, start=1):
            fields = {"name": contact.name, "surname": contact.surname, "group": contact.group}
            rows.append(Row(contact.mobile or "", position, fields))
            canonical.append({"id": contact.id, "number": contact.mobile or "", **fields})
        blob = json.dumps(
            {"service": service, "book": book.book_key, "groups": self.groups, "contacts": canonical},
            sort_keys=True,
            ensure_ascii=False,
        )
        return rows, hashlib.sha256(blob.encode()).hexdigest()


class OvhReceiversSource(_OvhSource):
    """``ovh-receivers: SLOT`` (see the module docstring)."""

    kind = "ovh-receivers"

    def __init__(self, spec_options: Mapping[str, Any], ctx: SourceContext) -> None:
        raw = spec_options.get(self.kind, spec_options.get("slot"))
        if isinstance(raw, Mapping):
            raw = raw.get("slot")
        try:
            slot = int(raw)
        except (TypeError, ValueError):
            raise SourceError.at("ovh-receivers", 0, 0, f"the slot must be a number 1..9, not {raw!r}") from None
        if slot not in api.RECEIVER_SLOTS:
            raise SourceError.at("ovh-receivers", 0, 0, f"the slot must be 1..9, not {slot}")
        self.slot = slot
        self.column: str | int | None = spec_options.get("column")
        self.delimiter: str | None = spec_options.get("delimiter")
        self.label = f"ovh-receivers {slot}"
        super().__init__(spec_options, ctx)

    def _load(self) -> tuple[list[Row], str]:
        with self._client() as client:
            service = self._service(client)
            try:
                text = api.receiver_slot_csv(client, service, self.slot)
            except OvhNotFoundError:
                raise SourceError.at(self.label, 0, 0, f"no recipient list in slot {self.slot} of OVHcloud "
                                     f"account {service}") from None
        try:
            lines = api.parse_receivers_csv(text, column=self.column, delimiter=self.delimiter)
        except ValueError as exc:
            raise SourceError.at(self.label, 1, 1, str(exc)) from None
        rows: list[Row] = []
        for item in lines:
            fields: dict[str, str] | None = None
            if item.fields:
                fields = {}
                for key, value in item.fields.items():
                    fields[key] = value
                    fields.setdefault(slug(key), value)
            rows.append(Row(item.number, item.line, fields))
        digest = hashlib.sha256(f"{service}\n{self.slot}\n".encode() + text.encode()).hexdigest()
        return rows, digest


__all__ = ["OvhPhonebookSource", "OvhReceiversSource"]
