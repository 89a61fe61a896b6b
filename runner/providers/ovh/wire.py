"""The OVHcloud SMS API's wire format, shared by :mod:`~runner.providers.ovh.api` (sending, history,
replies), :mod:`~runner.providers.ovh.listings` (bulk reads) and :mod:`~runner.providers.ovh.admin`
(account administration): status tables, value parsing, paths, and the sent-SMS record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from runner.providers.ovh.client import path_segment

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
