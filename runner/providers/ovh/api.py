"""Typed functions over the OVHcloud SMS endpoints smsrun uses (``ovh-sms-api.md`` §2-§3).

Every function takes an :class:`~runner.providers.ovh.client.OvhClient` and the SMS account name
(``sms-xx12345-1``) and returns plain dataclasses, so the CLI (``smsrun replies``, ``smsrun ovh lists``,
``status --refresh``) and the sources can use them without knowing the wire format.

Listing endpoints return ids only (``long[]``); the ``fetch_*`` helpers then read each item, one GET
per item, paced by the client's rate limiter. Where a read must not cost one request per item (crash
recovery, issue 11), the ``*_expanded`` listings ask for the objects themselves in one request, and
:func:`export_outgoing` gets the sent history in bulk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from runner.errors import ConfigError, PermanentError, RetryableError
from runner.providers.ovh.client import OvhClient, OvhNotFoundError, path_segment

# deliveryReceipt → smsrun status (§3.2: 0 creating/pending, 1 success, 2 failed, 4 waiting, 8 buffered,
# 16 error / not billed).
DELIVERY_RECEIPTS: Final[dict[int, str]] = {
    0: "pending",
    1: "delivered",
    2: "failed",
    4: "pending",
    8: "pending",
    16: "failed",
}
DELIVERED_RECEIPTS: Final = (1,)
FAILED_RECEIPTS: Final = (2, 16)

# A few ``ptt`` codes (§3.2, non-exhaustive); GET /sms/ptts gives the others.
PTT_TEXT: Final[dict[int, str]] = {
    3: "accepted by the operator",
    4: "delivered",
    5: "undelivered",
    8: "expired",
    23: "invalid, barred or blacklisted number",
    24: "subscriber absent",
    28: "suspected spam",
}


def delivery_status(receipt: int | None) -> str:
    """``delivered`` | ``failed`` | ``pending`` for a ``deliveryReceipt`` value."""
    if receipt is None:
        return "pending"
    return DELIVERY_RECEIPTS.get(int(receipt), "pending")


def ptt_text(ptt: int | None) -> str | None:
    if ptt is None:
        return None
    known = PTT_TEXT.get(int(ptt))
    return f"ptt {ptt}" + (f" ({known})" if known else "")


def parse_datetime(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _ids(payload: Any) -> list[int]:
    if not isinstance(payload, list):
        return []
    out: list[int] = []
    for item in payload:
        value = _int(item)
        if value is not None:
            out.append(value)
    return out


def _sms(service_name: str) -> str:
    return f"/sms/{path_segment(service_name)}"


def _dt_param(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _params(**values: Any) -> dict[str, Any]:
    """Drop None values; ``creationDatetime_from`` → ``creationDatetime.from``."""
    return {k.replace("_from", ".from").replace("_to", ".to"): v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------------------------------
# account


@dataclass(frozen=True)
class Account:
    service_name: str
    description: str
    status: str  # enable | disable
    credits_left: float
    credits_hold_by_quota: float | None = None
    channel: str | None = None  # both | marketing | transactional


def list_services(client: OvhClient) -> list[str]:
    """``GET /sms``: the SMS accounts the credentials can see."""
    payload = client.get("/sms")
    return [str(x) for x in payload] if isinstance(payload, list) else []


def find_service_name(client: OvhClient, configured: str | None) -> str:
    """The configured account, or the only account when none is configured."""
    if configured:
        return configured
    services = list_services(client)
    if len(services) == 1:
        return services[0]
    if not services:
        raise ConfigError("these OVHcloud credentials see no SMS account (GET /sms is empty)")
    raise ConfigError(
        f"these OVHcloud credentials see {len(services)} SMS accounts: set OVH_SERVICE_NAME or the "
        f"provider setting service_name to one of {', '.join(sorted(services))}"
    )


def get_account(client: OvhClient, service_name: str) -> Account:
    data = client.get(_sms(service_name))
    if not isinstance(data, dict):
        data = {}
    return Account(
        service_name=_str(data.get("name")) or service_name,
        description=_str(data.get("description")),
        status=_str(data.get("status")),
        credits_left=_float(data.get("creditsLeft")) or 0.0,
        credits_hold_by_quota=_float(data.get("creditsHoldByQuota")),
        channel=data.get("channel"),
    )


# --------------------------------------------------------------------------------------------------
# senders


@dataclass(frozen=True)
class SenderInfo:
    sender: str
    status: str  # enable | disable | refused | waitingValidation
    type: str  # alpha | numeric | shortcode | virtual
    description: str = ""
    comment: str | None = None

    @property
    def enabled(self) -> bool:
        return self.status == "enable"


def list_senders(client: OvhClient, service_name: str) -> list[str]:
    payload = client.get(f"{_sms(service_name)}/senders")
    return [str(x) for x in payload] if isinstance(payload, list) else []


def get_sender(client: OvhClient, service_name: str, sender: str) -> SenderInfo:
    data = client.get(f"{_sms(service_name)}/senders/{path_segment(sender)}")
    if not isinstance(data, dict):
        data = {}
    return SenderInfo(
        sender=_str(data.get("sender")) or sender,
        status=_str(data.get("status")),
        type=_str(data.get("type")),
        description=_str(data.get("description")),
        comment=data.get("comment"),
    )


# --------------------------------------------------------------------------------------------------
# sending


@dataclass(frozen=True)
class SendingReport:
    """``sms.SmsSendingReport`` (§2.2)."""

    ids: list[int]
    valid_receivers: list[str]
    invalid_receivers: list[str]
    total_credits_removed: float
    tag: str | None = None


def post_job(client: OvhClient, service_name: str, body: Mapping[str, Any]) -> SendingReport:
    """``POST /sms/{sn}/jobs`` (never retried here: see the client's docstring)."""
    data = client.post(f"{_sms(service_name)}/jobs", dict(body))
    if not isinstance(data, dict):
        data = {}
    return SendingReport(
        ids=_ids(data.get("ids")),
        valid_receivers=[str(x) for x in data.get("validReceivers") or []],
        invalid_receivers=[str(x) for x in data.get("invalidReceivers") or []],
        total_credits_removed=_float(data.get("totalCreditsRemoved")) or 0.0,
        tag=data.get("tag"),
    )


@dataclass(frozen=True)
class JobEstimate:
    characters: int
    characters_class: str  # 7bits | unicode
    max_characters_per_part: int
    parts: int


def estimate(client: OvhClient, message: str, *, no_stop_clause: bool, sender_type: str) -> JobEstimate:
    """``POST /sms/estimate`` (§3.8); ``sender_type`` is alpha | numeric | shortcode | virtual."""
    data = client.post("/sms/estimate", {"message": message, "noStopClause": no_stop_clause, "senderType": sender_type})
    if not isinstance(data, dict):
        data = {}
    return JobEstimate(
        characters=_int(data.get("characters")) or 0,
        characters_class=_str(data.get("charactersClass")),
        max_characters_per_part=_int(data.get("maxCharactersPerPart")) or 0,
        parts=_int(data.get("parts")) or 0,
    )


# --------------------------------------------------------------------------------------------------
# outgoing (history) and pending jobs


@dataclass(frozen=True)
class OutgoingSms:
    id: int
    receiver: str
    sender: str  # empty for the short number
    message: str
    tag: str
    created: datetime | None
    delivery_receipt: int | None
    ptt: int | None
    credits: float | None
    number_of_sms: int | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    differed_delivery: int | None = None

    @property
    def status(self) -> str:
        return delivery_status(self.delivery_receipt)


def list_outgoing(
    client: OvhClient,
    service_name: str,
    *,
    tag: str | None = None,
    receiver: str | None = None,
    sender: str | None = None,
    delivery_receipt: int | None = None,
    ptt: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[int]:
    """``GET /sms/{sn}/outgoing`` with its filters: the ids of the matching SMS."""
    params = _params(
        tag=tag,
        receiver=receiver,
        sender=sender,
        deliveryReceipt=delivery_receipt,
        ptt=ptt,
        creationDatetime_from=_dt_param(since),
        creationDatetime_to=_dt_param(until),
    )
    return _ids(client.get(f"{_sms(service_name)}/outgoing", params))


def _outgoing(data: Mapping[str, Any], ident: int) -> OutgoingSms:
    return OutgoingSms(
        id=_int(data.get("id")) or ident,
        receiver=_str(data.get("receiver")),
        sender=_str(data.get("sender")),
        message=_str(data.get("message")),
        tag=_str(data.get("tag")),
        created=parse_datetime(data.get("creationDatetime")),
        delivery_receipt=_int(data.get("deliveryReceipt")),
        ptt=_int(data.get("ptt")),
        credits=_float(data.get("credits")),
        number_of_sms=_int(data.get("numberOfSms")),
        sent_at=parse_datetime(data.get("sentAt")),
        delivered_at=parse_datetime(data.get("deliveredAt")),
        differed_delivery=_int(data.get("differedDelivery")),
    )


def get_outgoing(client: OvhClient, service_name: str, sms_id: int) -> OutgoingSms:
    data = client.get(f"{_sms(service_name)}/outgoing/{int(sms_id)}")
    return _outgoing(data if isinstance(data, dict) else {}, int(sms_id))


def list_jobs(client: OvhClient, service_name: str) -> list[int]:
    """``GET /sms/{sn}/jobs``: SMS still pending (deferred ones, typically)."""
    return _ids(client.get(f"{_sms(service_name)}/jobs"))


def get_job(client: OvhClient, service_name: str, job_id: int) -> OutgoingSms:
    """``GET /sms/{sn}/jobs/{id}`` (``sms.Job`` has no tag: ``tag`` is empty)."""
    data = client.get(f"{_sms(service_name)}/jobs/{int(job_id)}")
    return _outgoing(data if isinstance(data, dict) else {}, int(job_id))


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


# --------------------------------------------------------------------------------------------------
# incoming (replies)


@dataclass(frozen=True)
class IncomingSms:
    id: int
    sender: str  # the number that replied
    message: str
    tag: str
    created: datetime | None
    credits: float | None


def list_incoming(
    client: OvhClient,
    service_name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sender: str | None = None,
    tag: str | None = None,
) -> list[int]:
    params = _params(
        sender=sender, tag=tag, creationDatetime_from=_dt_param(since), creationDatetime_to=_dt_param(until)
    )
    return _ids(client.get(f"{_sms(service_name)}/incoming", params))


def get_incoming(client: OvhClient, service_name: str, sms_id: int) -> IncomingSms:
    data = client.get(f"{_sms(service_name)}/incoming/{int(sms_id)}")
    if not isinstance(data, dict):
        data = {}
    return IncomingSms(
        id=_int(data.get("id")) or int(sms_id),
        sender=_str(data.get("sender")),
        message=_str(data.get("message")),
        tag=_str(data.get("tag")),
        created=parse_datetime(data.get("creationDatetime")),
        credits=_float(data.get("credits")),
    )


def fetch_incoming(
    client: OvhClient,
    service_name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sender: str | None = None,
    tag: str | None = None,
    exclude_ids: Iterable[int] = (),
) -> list[IncomingSms]:
    """Every reply matching the filters (minus ``exclude_ids``, already known), oldest first."""
    known = set(exclude_ids)
    ids = [
        i
        for i in list_incoming(client, service_name, since=since, until=until, sender=sender, tag=tag)
        if i not in known
    ]
    found = [get_incoming(client, service_name, i) for i in sorted(ids)]
    return sorted(found, key=lambda m: (m.created is None, m.created.timestamp() if m.created else 0, m.id))


# --------------------------------------------------------------------------------------------------
# blacklists (numbers that answered STOP)


@dataclass(frozen=True)
class BlacklistEntry:
    number: str
    created: datetime | None = None
    batch_id: str | None = None
    sms_outgoing_id: int | None = None


def list_blacklists(
    client: OvhClient, service_name: str, *, batch_id: str | None = None, sms_outgoing_id: int | None = None
) -> list[str]:
    params = _params(batchID=batch_id, smsOutgoingID=sms_outgoing_id)
    payload = client.get(f"{_sms(service_name)}/blacklists", params)
    return [str(x) for x in payload] if isinstance(payload, list) else []


def get_blacklist(client: OvhClient, service_name: str, number: str) -> BlacklistEntry:
    data = client.get(f"{_sms(service_name)}/blacklists/{path_segment(number)}")
    if not isinstance(data, dict):
        data = {}
    return BlacklistEntry(
        number=_str(data.get("number")) or number,
        created=parse_datetime(data.get("dateCreation")),
        batch_id=data.get("batchID"),
        sms_outgoing_id=_int(data.get("smsOutgoingID")),
    )


# --------------------------------------------------------------------------------------------------
# receivers (stored CSV recipient lists, "slots" 1..9)

RECEIVER_SLOTS: Final = range(1, 10)


@dataclass(frozen=True)
class ReceiverSlot:
    slot_id: int
    description: str
    records: int
    created: datetime | None
    auto_update: bool
    can_auto_update: bool = False


@dataclass(frozen=True)
class ReceiverLine:
    line: int  # 1-based line in the CSV text
    number: str
    fields: dict[str, str] = field(default_factory=dict)


def list_receiver_slot_ids(client: OvhClient, service_name: str) -> list[int]:
    return _ids(client.get(f"{_sms(service_name)}/receivers"))


def get_receiver_slot(client: OvhClient, service_name: str, slot_id: int) -> ReceiverSlot:
    data = client.get(f"{_sms(service_name)}/receivers/{int(slot_id)}")
    if not isinstance(data, dict):
        data = {}
    return ReceiverSlot(
        slot_id=_int(data.get("slotId")) or int(slot_id),
        description=_str(data.get("description")),
        records=_int(data.get("records")) or 0,
        created=parse_datetime(data.get("datetime")),
        auto_update=bool(data.get("autoUpdate")),
        can_auto_update=bool(data.get("canAutoUpdate")),
    )


def list_receiver_slots(client: OvhClient, service_name: str) -> list[ReceiverSlot]:
    return [get_receiver_slot(client, service_name, i) for i in sorted(list_receiver_slot_ids(client, service_name))]


def create_receiver_slot(
    client: OvhClient,
    service_name: str,
    *,
    description: str,
    csv_url: str | None = None,
    document_id: str | None = None,
    auto_update: bool = False,
    slot_id: int | None = None,
) -> ReceiverSlot:
    """``POST /sms/{sn}/receivers``. ``slot_id`` defaults to the first free slot of 1..9 (the ids are
    not generated by the API); the description is at most 40 characters; ``csv_url`` must be http(s)."""
    if (csv_url is None) == (document_id is None):
        raise ConfigError("give exactly one of csv_url or document_id")
    if csv_url is not None and not csv_url.startswith(("http://", "https://")):
        raise ConfigError("csv_url must start with http:// or https://")
    if not description or len(description) > 40:
        raise ConfigError("a receivers list needs a description of 1 to 40 characters")
    if auto_update and csv_url is None:
        raise ConfigError("auto_update only works with csv_url")
    if slot_id is None:
        used = set(list_receiver_slot_ids(client, service_name))
        free = [i for i in RECEIVER_SLOTS if i not in used]
        if not free:
            raise ConfigError("all 9 receivers slots are used; delete one first")
        slot_id = free[0]
    if slot_id not in RECEIVER_SLOTS:
        raise ConfigError("slot_id must be in 1..9")
    body: dict[str, Any] = {"slotId": slot_id, "description": description, "autoUpdate": auto_update}
    if csv_url is not None:
        body["csvUrl"] = csv_url
    if document_id is not None:
        body["documentId"] = document_id
    data = client.post(f"{_sms(service_name)}/receivers", body)
    if isinstance(data, dict) and data.get("slotId") is not None:
        return ReceiverSlot(
            slot_id=_int(data.get("slotId")) or slot_id,
            description=_str(data.get("description")),
            records=_int(data.get("records")) or 0,
            created=parse_datetime(data.get("datetime")),
            auto_update=bool(data.get("autoUpdate")),
            can_auto_update=bool(data.get("canAutoUpdate")),
        )
    return get_receiver_slot(client, service_name, slot_id)


def upload_document(client: OvhClient, name: str, content: bytes, *, content_type: str = "text/csv") -> str:
    """Upload a file to the account's documents and return its id (for ``documentId``), as the Manager's
    "Via un fichier" does (§6): ``POST /me/document {name}`` gives ``{id, putUrl}``, then the bytes are
    PUT to ``putUrl`` (a pre-signed storage URL: no OVH signature)."""
    import httpx

    data = client.post("/me/document", {"name": name})
    if not isinstance(data, dict) or not data.get("id") or not data.get("putUrl"):
        raise ConfigError("POST /me/document did not answer a document id and putUrl")
    put_url = str(data["putUrl"])
    if not put_url.startswith(("http://", "https://")):
        raise ConfigError("POST /me/document answered a putUrl that is not an http(s) URL")
    try:
        response = httpx.put(put_url, content=content, headers={"Content-Type": content_type},
                             timeout=client.timeout)
    except httpx.HTTPError as exc:
        raise RetryableError(f"uploading {name} to the OVHcloud document store failed ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise PermanentError(f"uploading {name} to the OVHcloud document store failed (HTTP {response.status_code})")
    return str(data["id"])


def delete_receiver_slot(client: OvhClient, service_name: str, slot_id: int) -> None:
    client.delete(f"{_sms(service_name)}/receivers/{int(slot_id)}")


def receiver_slot_csv(client: OvhClient, service_name: str, slot_id: int) -> str:
    """``GET /receivers/{slotId}/csv``: the list's CSV text (a JSON string on the wire)."""
    data = client.get(f"{_sms(service_name)}/receivers/{int(slot_id)}/csv")
    return data if isinstance(data, str) else ""


def parse_receivers_csv(
    text: str, *, column: str | int | None = None, delimiter: str | None = None
) -> list[ReceiverLine]:
    """Parse a receivers CSV (``;``-separated, first line ``number``, §3.5).

    ``column``: the header naming the numbers (default ``number``) or its 1-based position; a file
    whose first line holds no such header is read as one number per line (first cell).
    """
    lines = text.splitlines()
    first = next((i for i, raw in enumerate(lines) if raw.strip()), None)
    if first is None:
        return []
    sep = delimiter or (";" if ";" in lines[first] or "," not in lines[first] else ",")

    def cells_of(raw: str) -> list[str]:
        return [c.strip() for c in next(csv.reader(io.StringIO(raw), delimiter=sep), [])]

    header = [h.strip('"').lstrip("\ufeff") for h in cells_of(lines[first])]
    lowered = [h.lower() for h in header]
    col: int | None = None
    if isinstance(column, int):
        col = column - 1
    elif isinstance(column, str):
        col = lowered.index(column.lower()) if column.lower() in lowered else None
        if col is None:
            raise ValueError(f"no column named {column!r} (columns: {', '.join(header)})")
    elif "number" in lowered:
        col = lowered.index("number")
    has_header = isinstance(column, str) or (column is None and col is not None)
    if col is None:
        col = 0
    out: list[ReceiverLine] = []
    for index in range(first + (1 if has_header else 0), len(lines)):
        if not lines[index].strip():
            continue
        cells = cells_of(lines[index])
        number = cells[col] if col < len(cells) else ""
        extra = {}
        if has_header:
            extra = {header[i]: cells[i] for i in range(min(len(cells), len(header))) if i != col and header[i]}
        out.append(ReceiverLine(line=index + 1, number=number, fields=extra))
    return out


# --------------------------------------------------------------------------------------------------
# phonebooks (address books) and contacts


@dataclass(frozen=True)
class Phonebook:
    book_key: str
    name: str
    phone_key: str | None = None


@dataclass(frozen=True)
class PhonebookContact:
    id: int
    name: str  # first name ("Prénom" in the Manager)
    surname: str  # last name ("Nom")
    group: str
    home_mobile: str | None = None
    home_phone: str | None = None
    work_mobile: str | None = None
    work_phone: str | None = None

    @property
    def mobile(self) -> str | None:
        """The number smsrun texts: ``homeMobile``, else ``workMobile`` (there is no mobilePhone)."""
        return self.home_mobile or self.work_mobile or None


def _phonebooks(service_name: str) -> str:
    return f"{_sms(service_name)}/phonebooks"


def list_phonebook_keys(client: OvhClient, service_name: str) -> list[str]:
    payload = client.get(_phonebooks(service_name))
    return [str(x) for x in payload] if isinstance(payload, list) else []


def get_phonebook(client: OvhClient, service_name: str, book_key: str) -> Phonebook:
    data = client.get(f"{_phonebooks(service_name)}/{path_segment(book_key)}")
    if not isinstance(data, dict):
        data = {}
    return Phonebook(
        book_key=_str(data.get("bookKey")) or book_key,
        name=_str(data.get("name")),
        phone_key=data.get("phoneKey"),
    )


def list_phonebooks(client: OvhClient, service_name: str) -> list[Phonebook]:
    return [get_phonebook(client, service_name, k) for k in list_phonebook_keys(client, service_name)]


def find_phonebook(client: OvhClient, service_name: str, key_or_name: str) -> Phonebook:
    """A phonebook by its key, else by its (unique) name."""
    keys = list_phonebook_keys(client, service_name)
    if key_or_name in keys:
        return get_phonebook(client, service_name, key_or_name)
    books = [get_phonebook(client, service_name, k) for k in keys]
    named = [b for b in books if b.name == key_or_name]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise ConfigError(f"{len(named)} OVHcloud phonebooks are named {key_or_name!r}: use the book key")
    raise OvhNotFoundError(
        f"no OVHcloud phonebook with key or name {key_or_name!r} on {service_name} "
        f"(known: {', '.join(sorted(b.name or b.book_key for b in books)) or 'none'})"
    )


def list_contact_ids(client: OvhClient, service_name: str, book_key: str) -> list[int]:
    return _ids(client.get(f"{_phonebooks(service_name)}/{path_segment(book_key)}/phonebookContact"))


def get_contact(client: OvhClient, service_name: str, book_key: str, contact_id: int) -> PhonebookContact:
    data = client.get(f"{_phonebooks(service_name)}/{path_segment(book_key)}/phonebookContact/{int(contact_id)}")
    if not isinstance(data, dict):
        data = {}

    def opt(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value else None

    return PhonebookContact(
        id=_int(data.get("id")) or int(contact_id),
        name=_str(data.get("name")),
        surname=_str(data.get("surname")),
        group=_str(data.get("group")),
        home_mobile=opt("homeMobile"),
        home_phone=opt("homePhone"),
        work_mobile=opt("workMobile"),
        work_phone=opt("workPhone"),
    )


def list_contacts(
    client: OvhClient, service_name: str, book_key: str, *, groups: Sequence[str] | None = None
) -> list[PhonebookContact]:
    """Every contact of a book (ordered by id), optionally only those of ``groups``."""
    wanted = set(groups) if groups else None
    contacts = [
        get_contact(client, service_name, book_key, i) for i in sorted(list_contact_ids(client, service_name, book_key))
    ]
    return [c for c in contacts if wanted is None or c.group in wanted]
