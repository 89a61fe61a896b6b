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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.errors import ConfigError

# the wire format, the bulk listings and the account administration live in their own modules; their
# public names stay importable from here (__all__)
from runner.providers.ovh.admin import (
    RECEIVER_SLOTS,
    Phonebook,
    PhonebookContact,
    ReceiverLine,
    ReceiverSlot,
    create_receiver_slot,
    delete_receiver_slot,
    find_phonebook,
    get_contact,
    get_phonebook,
    get_receiver_slot,
    list_contact_ids,
    list_contacts,
    list_phonebook_keys,
    list_phonebooks,
    list_receiver_slot_ids,
    list_receiver_slots,
    parse_receivers_csv,
    receiver_slot_csv,
    upload_document,
)

# --------------------------------------------------------------------------------------------------
# account
from runner.providers.ovh.client import OvhClient, path_segment
from runner.providers.ovh.listings import (
    EXPANDED_PAGE_SIZE,
    EXPORT_COLUMNS,
    Listing,
    export_outgoing,
    list_jobs_expanded,
    list_outgoing_expanded,
)
from runner.providers.ovh.wire import (
    DELIVERED_RECEIPTS,
    DELIVERY_RECEIPTS,
    FAILED_RECEIPTS,
    PTT_TEXT,
    OutgoingSms,
    _dt_param,
    _float,
    _ids,
    _int,
    _outgoing,
    _params,
    _sms,
    _str,
    delivery_status,
    parse_datetime,
    ptt_text,
)


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


__all__ = [
    "DELIVERED_RECEIPTS", "DELIVERY_RECEIPTS", "EXPANDED_PAGE_SIZE", "EXPORT_COLUMNS", "FAILED_RECEIPTS",
    "PTT_TEXT", "RECEIVER_SLOTS", "Account", "BlacklistEntry", "IncomingSms", "JobEstimate", "Listing",
    "OutgoingSms", "Phonebook", "PhonebookContact", "ReceiverLine", "ReceiverSlot", "SenderInfo", "SendingReport",
    "create_receiver_slot", "delete_receiver_slot", "delivery_status", "estimate", "export_outgoing",
    "fetch_incoming", "find_phonebook", "find_service_name", "get_account", "get_blacklist", "get_contact",
    "get_incoming", "get_job", "get_outgoing", "get_phonebook", "get_receiver_slot", "get_sender",
    "list_blacklists", "list_contact_ids", "list_contacts", "list_incoming", "list_jobs", "list_jobs_expanded",
    "list_outgoing", "list_outgoing_expanded", "list_phonebook_keys", "list_phonebooks", "list_receiver_slot_ids",
    "list_receiver_slots", "list_senders", "list_services", "parse_datetime", "parse_receivers_csv", "post_job",
    "ptt_text", "receiver_slot_csv", "upload_document",
]
