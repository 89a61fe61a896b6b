"""``smsrun ovh lists``, the library side (the commands: :mod:`runner.providers.ovh.commands`): the
recipient lists stored in an OVHcloud SMS account ("slots" 1-9).

Listing is ``GET /sms/{sn}/receivers`` then ``GET /sms/{sn}/receivers/{slotId}`` for each slot
(``ovh-sms-api.md`` §3.5). The API returns ``description``, ``records`` (the number of receivers),
``datetime``, ``autoUpdate`` and ``canAutoUpdate``; it does not return the ``csvUrl`` a list was made
from.

Pushing a list is the Manager's "Gérer les destinataires" (§6): a URL becomes ``POST /receivers
{slotId, description, csvUrl, autoUpdate}`` (OVHcloud downloads it, again before each send with
``autoUpdate``); a local file is uploaded to the account's documents (``POST /me/document``, then the
bytes to its ``putUrl``) and becomes ``POST /receivers {slotId, description, documentId, autoUpdate:
false}``. The slot is the first free one unless ``slot`` says which. The file must be a CSV whose first
line names a ``number`` column, ``;``-separated, one international number per line (§3.5); a local
file is checked for that before anything is sent. ``replace`` makes room for a list of the same name
(or in the requested slot): a new list is created in a free slot first and the old one deleted after,
so a failed upload never loses the old list (with an explicit occupied ``slot``, the old list has to go
first).

Credentials come from the environment only (``OVH_APPLICATION_KEY``, ``OVH_APPLICATION_SECRET``,
``OVH_CONSUMER_KEY``; ``OVH_ENDPOINT`` and ``OVH_SERVICE_NAME`` or ``service_name``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.errors import ConfigError

MAX_FILE_BYTES = 50 * 1024 * 1024


def _slot_dict(slot: Any) -> dict[str, Any]:
    data = asdict(slot)
    data["created"] = slot.created.isoformat() if slot.created else None
    return data


def list_lists(*, service_name: str | None = None) -> dict[str, Any]:
    """``{"service": ..., "lists": [{slot_id, description, records, created, auto_update, can_auto_update}]}``."""
    from runner.providers.ovh import api
    from runner.providers.ovh.client import client_from_env, resolve_config

    settings = {"service_name": service_name} if service_name else {}
    with client_from_env(settings) as client:
        service = api.find_service_name(client, resolve_config(settings).service_name)
        return {"service": service, "lists": [_slot_dict(s) for s in api.list_receiver_slots(client, service)]}


def _check_csv(name: str, content: bytes) -> None:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text (OVHcloud wants a .csv or .txt without accents)") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    columns = [c.strip().strip('"').lower() for c in first.split(";")]
    if "number" not in columns:
        raise ConfigError(f"{name}: the first line must name a `number` column (`;`-separated), e.g.\n"
                          "number\n+33612345678")


def push_list(name: str, source: str, *, slot: int | None = None, auto_update: bool = False,
              replace: bool = False, service_name: str | None = None) -> dict[str, Any]:
    """Store a recipient list (``source``: an http(s) URL or a local file) under ``name``; see the module
    docstring. Returns ``{"service", "list": {...}, "replaced": slot or None, "via": "csvUrl"|"documentId"}``."""
    from runner.providers.ovh import api
    from runner.providers.ovh.client import client_from_env, resolve_config

    if not name or len(name) > 40:
        raise ConfigError("a list name (its description) must be 1 to 40 characters")
    if slot is not None and slot not in api.RECEIVER_SLOTS:
        raise ConfigError("--slot must be between 1 and 9")
    is_url = source.startswith(("http://", "https://"))
    content: bytes | None = None
    if not is_url:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"{source}: no such file (give a local CSV file or an http(s) URL)")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        if auto_update:
            raise ConfigError("--auto-update needs a URL: OVHcloud can only download a list again from its URL")
        content = path.read_bytes()
        _check_csv(source, content)
    settings = {"service_name": service_name} if service_name else {}
    with client_from_env(settings) as client:
        service = api.find_service_name(client, resolve_config(settings).service_name)
        existing = api.list_receiver_slots(client, service)
        used = {s.slot_id: s for s in existing}
        old: int | None = None
        if slot is not None and slot in used:
            if not replace:
                raise ConfigError(f"slot {slot} holds the list {used[slot].description!r}: pass --replace to "
                                  "replace it, or choose another slot")
            api.delete_receiver_slot(client, service, slot)  # the slot is wanted: the old list goes first
            old = slot
        elif slot is None:
            same = [s.slot_id for s in existing if s.description == name]
            if same and not replace:
                raise ConfigError(f"a list named {name!r} exists (slot {same[0]}): pass --replace to replace it")
            old = same[0] if same else None
            if old is not None and len(used) >= len(api.RECEIVER_SLOTS):  # no free slot: delete, then create
                api.delete_receiver_slot(client, service, old)
                slot = old
        document_id = None
        if content is not None:
            document_id = api.upload_document(client, Path(source).name, content)
        created = api.create_receiver_slot(client, service, description=name, csv_url=source if is_url else None,
                                           document_id=document_id, auto_update=auto_update, slot_id=slot)
        if old is not None and old != created.slot_id:
            api.delete_receiver_slot(client, service, old)
        return {"service": service, "list": _slot_dict(created), "replaced": old,
                "via": "csvUrl" if is_url else "documentId"}
