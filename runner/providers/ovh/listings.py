"""Bulk reads of the OVHcloud SMS history: expanded ("iceberg") listings, full objects in one request
(team-scale.md §2), and the CSV export of the sent history (crash recovery and the lost-ledger guard
must not cost one request per SMS)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from runner.errors import RetryableError
from runner.providers.ovh.client import OvhClient, path_segment
from runner.providers.ovh.wire import (
    OutgoingSms,
    _dt_param,
    _ids,
    _int,
    _outgoing,
    _params,
    _sms,
    _str,
    parse_datetime,
)

# expanded listings ("iceberg"): full objects in one request (team-scale.md §2)

EXPANDED_PAGE_SIZE: Final = 5000  # the Manager's builder default


@dataclass(frozen=True)
class Listing:
    """What a listing asked in expanded mode gave: the objects (None when the API answered plain ids,
    ignoring the expansion headers) and their ids either way."""

    items: list[OutgoingSms] | None
    ids: list[int]


def _expanded(
    client: OvhClient,
    path: str,
    params: Mapping[str, Any],
    *,
    filters: Sequence[str] = (),
    max_pages: int = 20,
) -> list[Mapping[str, Any]] | list[int]:
    """A listing endpoint marked ``x-expanded-response``, asked as OVHcloud's Manager asks it
    (``X-Pagination-Mode: CachedObjectList-Pages``, ``X-Pagination-Size``/``-Number``, optional
    ``X-Pagination-Filter`` such as ``tag:like=abc-%``): every object, page after page, following
    ``X-Pagination-Elements``. None when the API answered plain ids (it ignored the headers): the caller
    then falls back to reading what it needs another way."""
    items: list[Mapping[str, Any]] = []
    for number in range(1, max_pages + 1):
        headers = {"X-Pagination-Mode": "CachedObjectList-Pages", "X-Pagination-Size": str(EXPANDED_PAGE_SIZE),
                   "X-Pagination-Number": str(number)}
        if filters:
            headers["X-Pagination-Filter"] = "&".join(filters)
        payload, answer = client.get_page(path, dict(params), headers=headers)
        if not isinstance(payload, list) or any(not isinstance(x, Mapping) for x in payload):
            return _ids(payload)
        items.extend(payload)
        total = _int(answer.get("X-Pagination-Elements"))
        if not payload or len(payload) < EXPANDED_PAGE_SIZE or (total is not None and len(items) >= total):
            return items
    raise RetryableError(f"OVHcloud {path}: more than {max_pages} pages of {EXPANDED_PAGE_SIZE}")


def _listing(payload: list[Mapping[str, Any]] | list[int]) -> Listing:
    objects = [item for item in payload if isinstance(item, Mapping)]
    if len(objects) < len(payload):
        return Listing(None, _ids(payload))
    items = [_outgoing(item, _int(item.get("id")) or 0) for item in objects]
    return Listing(items, [sms.id for sms in items])


def list_outgoing_expanded(
    client: OvhClient,
    service_name: str,
    *,
    tag: str | None = None,
    tag_prefix: str | None = None,
    since: datetime | None = None,
) -> Listing:
    """``GET /outgoing`` (query filters as :func:`list_outgoing`) in expanded mode: the SMS themselves,
    receivers and ids included, in one request per 5,000. ``tag_prefix`` adds
    ``X-Pagination-Filter: tag:like=<prefix>%`` (expanded answers are filtered here too, whatever the
    server did with it; plain ids cannot be)."""
    params = _params(tag=tag, creationDatetime_from=_dt_param(since))
    filters = [f"tag:like={tag_prefix}%"] if tag_prefix else []
    listing = _listing(_expanded(client, f"{_sms(service_name)}/outgoing", params, filters=filters))
    if tag_prefix and listing.items is not None:
        kept = [sms for sms in listing.items if sms.tag.startswith(tag_prefix)]
        listing = Listing(kept, [sms.id for sms in kept])
    return listing


def list_jobs_expanded(client: OvhClient, service_name: str) -> Listing:
    """``GET /jobs`` in expanded mode: the pending (deferred) SMS, without tags (``sms.Job`` has none)."""
    return _listing(_expanded(client, f"{_sms(service_name)}/jobs", {}))


EXPORT_COLUMNS: Final = ("id", "date", "sender", "receiver", "ptt", "operatorCode", "descriptionDlr", "tag",
                          "message", "sentAt", "deliveredAt")


def export_outgoing(
    client: OvhClient,
    service_name: str,
    *,
    tag: str | None = None,
    since: datetime | None = None,
    poll_every: float = 5.0,
    max_polls: int = 24,
) -> list[OutgoingSms]:
    """The bulk export of the sent history (§3.2, team-scale.md §2): ``GET /document?wayType=outgoing``
    (with ``tag`` / ``creationDatetime.from``) gives a ``/me/document`` id, polled every ``poll_every``
    seconds until its ``size`` is above 0, then its ``getUrl`` (pre-signed storage, not the API) is
    downloaded: a ``;`` CSV ``id;date;sender;receiver;ptt;operatorCode;descriptionDlr;tag;message;sentAt;
    deliveredAt``. A few API requests whatever the number of SMS."""
    import httpx

    params = _params(wayType="outgoing", tag=tag, creationDatetime_from=_dt_param(since))
    document = client.get(f"{_sms(service_name)}/document", params)
    if not isinstance(document, str) or not document:
        raise RetryableError("OVHcloud GET /document did not answer a document id")
    for attempt in range(max_polls):
        info = client.get(f"/me/document/{path_segment(document)}")
        if isinstance(info, dict) and (_int(info.get("size")) or 0) > 0 and info.get("getUrl"):
            break
        if attempt + 1 < max_polls:
            client.sleep(poll_every)
    else:
        raise RetryableError(f"the OVHcloud export {document} was not ready after {max_polls} polls")
    url = str(info["getUrl"])
    if not url.startswith(("http://", "https://")):
        raise RetryableError("the OVHcloud export's getUrl is not an http(s) URL")
    try:
        response = httpx.get(url, timeout=client.timeout)
    except httpx.HTTPError as exc:
        raise RetryableError(f"downloading the OVHcloud export failed ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise RetryableError(f"downloading the OVHcloud export failed (HTTP {response.status_code})")
    rows = csv.DictReader(io.StringIO(response.text), delimiter=";")
    out: list[OutgoingSms] = []
    for row in rows:
        ident = _int(row.get("id"))
        if ident is None:
            continue
        out.append(OutgoingSms(
            id=ident, receiver=_str(row.get("receiver")), sender=_str(row.get("sender")),
            message=_str(row.get("message")), tag=_str(row.get("tag")), created=parse_datetime(row.get("date")),
            delivery_receipt=None, ptt=_int(row.get("ptt")), credits=None, sent_at=parse_datetime(row.get("sentAt")),
            delivered_at=parse_datetime(row.get("deliveredAt"))))
    return out
