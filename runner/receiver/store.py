"""The receiver's ledger writes live in :mod:`runner.ledger.receiving` (all SQL is in runner/ledger)."""

from __future__ import annotations

from runner.ledger.receiving import (
    CLAIMED_KEEP,
    IN_DOUBT_SETTLED,
    STATUSES,
    UNKNOWN_KEEP,
    BacklogOutcome,
    MessageKey,
    Reply,
    ReplyOutcome,
    ReportOutcome,
    apply_backlog,
    check_region,
    ensure_backlog,
    known_refs,
    list_replies,
    normalise_sender,
    record_report,
    store_reply,
)

__all__ = ["CLAIMED_KEEP", "IN_DOUBT_SETTLED", "STATUSES", "UNKNOWN_KEEP", "BacklogOutcome", "MessageKey", "Reply",
           "ReplyOutcome", "ReportOutcome", "apply_backlog", "check_region", "ensure_backlog", "known_refs",
           "list_replies", "normalise_sender", "record_report", "store_reply"]
