"""What the receiver (``smsrun receive``) and ``smsrun replies`` make of what gateways send, above the
ledger: a reply's meaning (an opt-out, its sender's number) is decided here, then stored through
:mod:`runner.ledger.receiving`, where every line of the SQL is (delivery reports, their backlog, replies).

A reply that is an opt-out (:func:`runner.optout.keywords.is_opt_out`) adds its sender to the suppression
list *before* the reply row is written, so a crash between the two is repaired by the gateway's retry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.audience.phones import PhoneNormaliser
from runner.errors import ConfigError, LedgerError, SmsrunError
from runner.ledger.receiving import (
    CLAIMED_KEEP,
    IN_DOUBT_SETTLED,
    STATUSES,
    UNKNOWN_KEEP,
    BacklogOutcome,
    MessageKey,
    ReportOutcome,
    apply_backlog,
    ensure_backlog,
    insert_reply,
    known_refs,
    list_replies,
    record_report,
    reply_stored,
)
from runner.ledger.store import Ledger
from runner.optout.keywords import is_opt_out
from runner.optout.store import add_optouts

__all__ = ["CLAIMED_KEEP", "IN_DOUBT_SETTLED", "STATUSES", "UNKNOWN_KEEP", "BacklogOutcome", "MessageKey", "Reply",
           "ReplyOutcome", "ReportOutcome", "apply_backlog", "check_region", "ensure_backlog", "known_refs",
           "list_replies", "normalise_sender", "record_report", "store_reply"]


@dataclass(frozen=True)
class Reply:
    provider: str  # kannel | twilio | ovh
    provider_ref: str | None  # the provider's id for this inbound message (dedupe), when it gives one
    sender: str  # E.164 when it could be read as a phone number, else as the gateway gave it
    text: str
    received_at: str | None = None  # ISO 8601; default now

    @property
    def opt_out(self) -> bool:
        return is_opt_out(self.text)


@dataclass(frozen=True)
class ReplyOutcome:
    stored: bool  # False: already stored (same provider and reference)
    opt_out: bool  # the reply asks to stop
    suppressed: bool  # the sender was newly added to the suppression list
    suppress_error: str | None = None  # why the sender could not be added (not a phone number...)


def check_region(region: str | None) -> str | None:
    """``region`` upper-cased, or a :class:`ConfigError` when phonenumbers does not know it."""
    if region is None:
        return None
    try:
        return PhoneNormaliser(region).default_region
    except ValueError as exc:
        raise ConfigError(f"--region: {exc}") from None


def normalise_sender(raw: str, region: str | None = None) -> str:
    """E.164 for anything that reads as a mobile number (``+33…``, ``33…`` as some SMSCs write it, or a
    national number with ``region``); otherwise the value as given, trimmed."""
    value = raw.strip()
    normaliser = PhoneNormaliser(region)
    e164, _ = normaliser.classify(value)
    if e164 is not None:
        return e164
    digits = re.sub(r"\D", "", value)
    if value and value[0] not in "+0" and len(digits) >= 8 and digits == value:
        e164, _ = normaliser.classify("+" + digits)
        if e164 is not None:
            return e164
    return value


def store_reply(ledger: Ledger, reply: Reply, *, who: str) -> ReplyOutcome:
    """Store one reply; an opt-out first joins the suppression list (``source="reply:<provider>"``)."""
    if reply_stored(ledger, reply.provider, reply.provider_ref):
        return ReplyOutcome(stored=False, opt_out=reply.opt_out, suppressed=False)
    opt_out = reply.opt_out
    suppressed = False
    error: str | None = None
    if opt_out:
        try:
            suppressed = add_optouts(ledger.state_dir, [reply.sender], reason="replied STOP",
                                     source=f"reply:{reply.provider}", who=who, ledger=ledger) > 0
        except LedgerError:
            raise
        except SmsrunError as exc:  # not a phone number (an alphanumeric sender...): keep the reply
            error = exc.message
    stored = insert_reply(ledger, reply.provider, reply.provider_ref, reply.sender, reply.text,
                          reply.received_at, opt_out)
    return ReplyOutcome(stored=stored, opt_out=opt_out, suppressed=suppressed, suppress_error=error)
