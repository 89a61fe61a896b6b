"""The ledger's vocabulary, shared by every backend: statuses, settle shapes, one row, the clock.

Life of a row::

    (not in the ledger) --claim_new: written claimed (committed BEFORE the provider call)--> claimed
    (not in the ledger) --held back by its window--> pending --claim (committed BEFORE the call)--> claimed
    claimed --settle--> sent | rejected | pending
           \\--crash--> in_doubt --reconcile--> sent | pending
    sent --delivery report--> delivered | failed

A ``claimed`` row found by a later run belongs to a run that died between claim and settle: nobody
knows whether the provider accepted it, so it becomes ``in_doubt``; it is reconciled with the provider
where the provider can tell, and is never resent unless the user says so (``--resend-in-doubt``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


class Status(str, enum.Enum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    REJECTED = "rejected"
    IN_DOUBT = "in_doubt"
    DELIVERED = "delivered"
    FAILED = "failed"  # the provider reported the delivery failed


SettleUpdate = tuple[str, str | None, str | None, float | None, int]
"""(status, provider_id, reason, cost, rowid) of one settled row."""

SettleGroups = dict[tuple[str, str | None, float | None], list[tuple[int, str | None]]]
"""Settles grouped by (status, reason, cost): [(rowid, provider_id), ...] for each group."""


def settle_groups(updates: Sequence[SettleUpdate] | SettleGroups) -> SettleGroups:
    """``updates`` grouped by (status, reason, cost), as each backend writes them (one statement a group);
    already grouped ones (the send loop builds them so) as they are."""
    if isinstance(updates, dict):
        return updates
    same: SettleGroups = {}
    for status, provider_id, reason, cost, rowid in updates:
        same.setdefault((status, reason, cost), []).append((rowid, provider_id))
    return same


FINAL_STATUSES = frozenset({Status.SENT.value, Status.REJECTED.value, Status.DELIVERED.value, Status.FAILED.value})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LedgerRow:
    rowid: int
    recipient: str
    status: str
    attempts: int
    text_id: int | None
    batch_id: str | None
    provider_id: str | None
    reason: str | None
    claimed_at: str | None

