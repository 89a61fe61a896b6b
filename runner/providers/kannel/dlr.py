"""Kannel delivery reports: the ``dlr_url`` template the provider fills for each request, and
:func:`parse_dlr`, which reads a report back (the receiver's Kannel route). No HTTP client here: the
provider's declaration (:mod:`runner.providers.kannel.spec`) needs the template rules."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError

PLACEHOLDERS = ("message_id", "batch_id", "campaign_id", "recipient")
_ANGLE_PLACEHOLDER = re.compile(r"<(" + "|".join(PLACEHOLDERS) + r")>")

#: Query the provider appends to a plain ``dlr_url`` (Kannel escapes: %d status, %A SMSC answer,
#: %T time); :func:`parse_dlr` reads it back.
STANDARD_DLR_QUERY = "id={message_id}&batch={batch_id}&to={recipient}&status=%d&answer=%A&ts=%T"

#: Kannel's delivery report types (``%d``), and what they mean for smsrun.
DLR_TYPES: dict[int, tuple[str, str]] = {
    1: ("delivered", "delivered to the handset"),
    2: ("failed", "undelivered"),
    4: ("pending", "buffered by the SMSC"),
    8: ("pending", "accepted by the SMSC"),
    16: ("failed", "rejected by the SMSC"),
}


def kannel_quote(value: str) -> str:
    """URL-encode ``value`` for a dlr-url and double its ``%`` so Kannel's escape expansion leaves it."""
    return urllib.parse.quote(value, safe="").replace("%", "%%")


def dlr_template(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("provider kannel: settings.dlr_url must be a URL")
    url = _ANGLE_PLACEHOLDER.sub(r"{\1}", value.strip())
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"provider kannel: settings.dlr_url must be an http(s) URL, got {value!r}")
    unknown = set(re.findall(r"\{([^{}]*)\}", url)) - set(PLACEHOLDERS)
    if unknown:
        raise ConfigError(
            f"provider kannel: settings.dlr_url has unknown placeholder(s) "
            f"{', '.join(sorted(unknown))} (known: {', '.join(PLACEHOLDERS)})"
        )
    if not any("{" + p + "}" in url for p in PLACEHOLDERS):
        url += ("&" if parts.query else ("" if url.endswith("?") else "?")) + STANDARD_DLR_QUERY
    elif "{message_id}" not in url and not ("{batch_id}" in url and "{recipient}" in url):
        raise ConfigError(
            "provider kannel: settings.dlr_url must contain {message_id}, or {batch_id} and "
            "{recipient}, so that a delivery report tells which message it is about"
        )
    return url


@dataclass(frozen=True)
class KannelDlr:
    """A delivery report as Kannel calls the standard dlr-url (see :func:`parse_dlr`)."""

    message_id: str | None  # smsrun's message id (requests with one recipient)
    batch_id: str | None
    recipient: str | None  # E.164, the handset (Kannel's %p)
    kannel_type: int  # Kannel's %d: 1, 2, 4, 8, 16
    status: str  # delivered | failed | pending
    reason: str | None  # what the type means, plus the SMSC's answer (%A) when there is one
    timestamp: int | None


def parse_dlr(query: Mapping[str, str]) -> KannelDlr:
    """Read a delivery report sent to a plain ``dlr_url`` (query :data:`STANDARD_DLR_QUERY`, already
    URL-decoded). The message is ``message_id`` when present, otherwise (``batch_id``, ``recipient``).
    Raises ValueError when the report cannot identify a message or has no valid status."""
    message_id = query.get("id") or None
    batch_id = query.get("batch") or None
    recipient = (query.get("to") or "").strip() or None
    if recipient is not None and not recipient.startswith("+") and recipient.isdigit():
        recipient = "+" + recipient  # a '+' sent unencoded in a query reads back as a space
    if message_id is None and (batch_id is None or recipient is None):
        raise ValueError("delivery report names no message (needs id, or batch and to)")
    try:
        kannel_type = int(query.get("status", ""))
    except ValueError:
        raise ValueError(f"delivery report has no valid status: {query.get('status')!r}") from None
    status, meaning = DLR_TYPES.get(kannel_type, ("pending", f"unknown Kannel report type {kannel_type}"))
    answer = (query.get("answer") or "").strip()
    ts_text = query.get("ts") or ""
    return KannelDlr(
        message_id=message_id,
        batch_id=batch_id,
        recipient=recipient,
        kannel_type=kannel_type,
        status=status,
        reason=f"{meaning}: {answer}" if answer else meaning,
        timestamp=int(ts_text) if ts_text.isdigit() else None,
    )
