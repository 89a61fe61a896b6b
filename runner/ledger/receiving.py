"""What the receiver (``smsrun receive``) and ``smsrun replies`` write to the ledger (both backends: the
SQL here is the common dialect of SQLite and PostgreSQL; ``?`` marks run on both).

**Delivery reports** (:func:`record_report`). Every report is appended to the ``reports`` table, then
the messages it is about are looked up, in this order, by what the gateway gave back:

1. the provider's message id (``messages.provider_id``: Twilio's SID, OVHcloud's SMS id);
2. smsrun's own message id ``<campaign_id>:<recipient>`` (Kannel's ``id``, Twilio's ``smsrun_id``), that
   is the ledger's primary key;
3. the batch id and the recipient (Kannel requests shared by several recipients).

A ``delivered``/``failed`` report sets the row's status (rows ``sent``, ``delivered``, ``failed`` and
``in_doubt``: a report for an in-doubt message proves the provider accepted it). A ``pending`` report
(buffered, accepted by the SMSC...) changes nothing, except that it settles an ``in_doubt`` row as
``sent``. The whole report is one transaction: when the function returns, it is on disk.

Rows still ``claimed`` are never touched: the sending run is about to settle them (and its settle would
overwrite the status). A fast gateway's report often overtakes that settle (Kannel's fake SMSC reports
within a millisecond of the submit), and an OVHcloud or Twilio report can arrive before the provider id
is in the ledger. Such reports are kept in a ``report_backlog`` table and applied by
:func:`apply_backlog` (the receiver runs it every second) once the rows are settled or known: reports
about claimed rows are kept up to 7 days (a dead run's claims wait for the next send to turn them
in doubt), reports about unknown messages 15 minutes. A newer report for the same message replaces a
kept one, except that a ``pending`` report never replaces a ``delivered``/``failed`` one (gateways do
not keep the order: Kannel's "SMSC submit" can come after "delivered").

**Replies** (:func:`insert_reply`). Each reply is stored once in ``replies`` (deduplicated by provider and
the provider's reference, where the provider gives one). What a reply means (an opt-out, a sender's
number) is decided above the ledger, in :mod:`runner.receiver.store`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from runner.errors import LedgerError
from runner.ledger.dbapi import DbConnection
from runner.ledger.store import Ledger, now_iso

STATUSES = ("delivered", "failed", "pending")
IN_DOUBT_SETTLED = "a delivery report shows the provider accepted it"


@dataclass(frozen=True)
class MessageKey:
    """What a delivery report says about the message it is about (any of the three ways)."""

    provider_id: str | None = None
    campaign_id: str | None = None
    recipient: str | None = None
    batch_id: str | None = None

    @classmethod
    def from_message_id(cls, message_id: str | None, **others: str | None) -> MessageKey:
        """Split smsrun's message id ``<campaign_id>:<recipient>`` (campaign ids never hold ``:``)."""
        campaign_id = recipient = None
        if message_id and ":" in message_id:
            campaign_id, _, recipient = message_id.partition(":")
        values: dict[str, str | None] = {"campaign_id": campaign_id or None, "recipient": recipient or None}
        values.update({k: v for k, v in others.items() if v is not None})
        return cls(**values)

    def label(self) -> str:
        """How the ``reports`` table names the message."""
        if self.provider_id:
            return self.provider_id
        if self.campaign_id and self.recipient:
            return f"{self.campaign_id}:{self.recipient}"
        return f"{self.batch_id or ''}:{self.recipient or ''}"

    def describe(self) -> str:
        """For log lines (the caller masks the numbers)."""
        parts = [f"{name}={value}" for name, value in (("id", self.provider_id), ("campaign", self.campaign_id),
                                                        ("batch", self.batch_id), ("to", self.recipient)) if value]
        return " ".join(parts) or "no id"


@dataclass(frozen=True)
class ReportOutcome:
    matched: int  # ledger rows the report is about (0: an unknown message, for now)
    updated: int  # rows whose status was set
    deferred: bool = False  # kept in the backlog, applied once the rows are settled (or known)


#: how long a report about a message the ledger does not know yet is kept (its send may be settling)
UNKNOWN_KEEP = timedelta(minutes=15)
#: how long a report about a message still claimed is kept (a dead run's claims wait for the next send)
CLAIMED_KEEP = timedelta(days=7)


def ensure_backlog(ledger: Ledger) -> None:
    """Create the receiver's backlog table (reports that came before their message was settled)."""
    ledger.ensure_backlog()  # part of the schema since format 2; kept for callers


def _rows(db: DbConnection, key: MessageKey) -> list[tuple[int, str]]:
    """(rowid, status) of the messages a report is about; see the module docstring for the order."""
    if key.provider_id:
        lookup = getattr(db, "PROVIDER_ID_LOOKUP", "SELECT rowid, status FROM messages WHERE provider_id = ?")
        found = db.execute(lookup, (key.provider_id,)).fetchall()
        if found:
            return list(found)
    if key.campaign_id and key.recipient:
        found = db.execute("SELECT rowid, status FROM messages WHERE campaign_id = ? AND recipient = ?",
                           (key.campaign_id, key.recipient)).fetchall()
        if found:
            return list(found)
    if key.batch_id and key.recipient and key.batch_id.count(".") >= 2:
        # batch ids are "<campaign_id>.<run>.<sequence>": the primary key finds the row
        campaign = key.batch_id.rsplit(".", 2)[0]
        return list(db.execute("SELECT rowid, status FROM messages WHERE campaign_id = ? AND recipient = ? "
                          "AND batch_id = ?", (campaign, key.recipient, key.batch_id)).fetchall())
    return []


def _apply(db: DbConnection, rowids: list[int], key: MessageKey, status: str, reason: str | None,
           stamp: str) -> int:
    if not rowids:
        return 0
    marks = ",".join("?" * len(rowids))
    if status in ("delivered", "failed"):
        cursor = db.execute(
            f"UPDATE messages SET status = ?, reason = ?, provider_id = coalesce(provider_id, ?), updated_at = ? "
            f"WHERE rowid IN ({marks}) AND status IN ('sent', 'delivered', 'failed', 'in_doubt')",
            (status, reason, key.provider_id, stamp, *rowids))
    else:
        cursor = db.execute(
            f"UPDATE messages SET status = 'sent', reason = ?, provider_id = coalesce(provider_id, ?), "
            f"updated_at = ? WHERE rowid IN ({marks}) AND status = 'in_doubt'",
            (IN_DOUBT_SETTLED, key.provider_id, stamp, *rowids))
    return int(max(cursor.rowcount, 0))


def record_report(ledger: Ledger, provider: str, key: MessageKey, status: str, reason: str | None) -> ReportOutcome:
    """Store one delivery report and apply it to the messages it is about (see the module docstring).

    A report about a row still ``claimed`` (a gateway's report can overtake the sending run's settle) or
    about a message the ledger does not know yet is kept in a backlog table and applied by
    :func:`apply_backlog` once the row is settled (or appears); a newer report for the same message
    replaces it."""
    if status not in STATUSES:
        raise ValueError(f"unknown delivery status {status!r}")
    now = datetime.now(UTC)
    stamp = now_iso()
    label = key.label()
    try:
        with ledger.transaction() as db:
            fresh = db.execute("INSERT INTO reports (provider, provider_id, status, reason, received_at) "
                               "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               (provider, label, status, reason, stamp)).rowcount
            if not fresh:  # the same report again (a gateway's retry, another receiver): stored once
                return ReportOutcome(len(_rows(db, key)), 0)
            rows = _rows(db, key)
            final = status != "pending"
            # older news of this message is obsolete, except a final report against a later "pending"
            # (Kannel's "SMSC submit" can arrive after "delivered")
            db.execute("DELETE FROM report_backlog WHERE label = ?" + ("" if final else " AND status = 'pending'"),
                       (label,))
            claimed = [rowid for rowid, st in rows if st == "claimed"]
            updated = _apply(db, [rowid for rowid, st in rows if st != "claimed"], key, status, reason, stamp)
            if rows and not claimed:
                return ReportOutcome(len(rows), updated)
            if not final and db.execute("SELECT 1 FROM report_backlog WHERE label = ?", (label,)).fetchone():
                return ReportOutcome(len(rows), updated, deferred=True)  # a final report is already kept
            keep = CLAIMED_KEEP if claimed else UNKNOWN_KEEP
            db.execute("INSERT INTO report_backlog (label, provider, provider_id, campaign_id, recipient, batch_id, "
                       "status, reason, received_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (label, provider, key.provider_id, key.campaign_id, key.recipient, key.batch_id, status,
                        reason, stamp, (now + keep).isoformat(timespec="milliseconds")))
            return ReportOutcome(len(rows), updated, deferred=True)
    except ledger.db_errors as exc:
        raise LedgerError(f"cannot write the ledger ({ledger.describe()}): {exc}") from None


@dataclass(frozen=True)
class BacklogOutcome:
    applied: int  # reports applied to rows now settled (or now known)
    expired: int  # reports dropped: their message never showed up, or stayed claimed too long
    waiting: int  # reports still kept


def apply_backlog(ledger: Ledger, *, now: datetime | None = None) -> BacklogOutcome:
    """Apply the kept reports whose rows are no longer claimed; drop the expired ones (oldest first)."""
    moment = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    stamp = now_iso()
    applied = expired = waiting = 0
    try:
        with ledger.transaction() as db:
            entries = db.execute("SELECT id, provider_id, campaign_id, recipient, batch_id, status, reason, expires_at "
                                 "FROM report_backlog ORDER BY id").fetchall()
            for ident, provider_id, campaign_id, recipient, batch_id, status, reason, expires_at in entries:
                key = MessageKey(provider_id, campaign_id, recipient, batch_id)
                rows = _rows(db, key)
                if rows and not any(st == "claimed" for _, st in rows):
                    _apply(db, [rowid for rowid, _ in rows], key, status, reason, stamp)
                    db.execute("DELETE FROM report_backlog WHERE id = ?", (ident,))
                    applied += 1
                elif expires_at <= moment:
                    db.execute("DELETE FROM report_backlog WHERE id = ?", (ident,))
                    expired += 1
                else:
                    waiting += 1
    except ledger.db_errors as exc:
        raise LedgerError(f"cannot write the ledger ({ledger.describe()}): {exc}") from None
    return BacklogOutcome(applied, expired, waiting)


# -- replies ------------------------------------------------------------------------------------------


def reply_stored(ledger: Ledger, provider: str, provider_ref: str | None) -> bool:
    """Whether the reply ``provider_ref`` of ``provider`` is already in the ledger (False without a ref)."""
    if provider_ref is None:
        return False
    try:
        return ledger.db.execute("SELECT 1 FROM replies WHERE provider = ? AND provider_ref = ?",
                                 (provider, provider_ref)).fetchone() is not None
    except ledger.db_errors as exc:
        raise LedgerError(f"cannot read the ledger ({ledger.describe()}): {exc}") from None


def insert_reply(ledger: Ledger, provider: str, provider_ref: str | None, sender: str, text: str,
                 received_at: str | None, opt_out: bool) -> bool:
    """Store one reply, once (by provider and reference): True when this call stored it."""
    try:
        with ledger.transaction() as db:
            cursor = db.execute(
                "INSERT INTO replies (provider, provider_ref, sender, text, received_at, opt_out) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (provider, provider_ref, sender, text, received_at or now_iso(), int(opt_out)))
            return bool(cursor.rowcount > 0)
    except ledger.db_errors as exc:
        raise LedgerError(f"cannot write the ledger ({ledger.describe()}): {exc}") from None


def known_refs(ledger: Ledger, provider: str) -> set[str]:
    """References of the replies of ``provider`` already stored."""
    return {r[0] for r in ledger.db.execute(
        "SELECT provider_ref FROM replies WHERE provider = ? AND provider_ref IS NOT NULL", (provider,))}


def list_replies(ledger: Ledger, *, provider: str | None = None, limit: int | None = None) -> list[dict[str, object]]:
    """Stored replies, oldest first (the last ``limit`` when given)."""
    where, params = ("WHERE provider = ?", [provider]) if provider else ("", [])
    sql = (f"SELECT id, provider, provider_ref, sender, text, received_at, opt_out FROM replies {where} "
           "ORDER BY id DESC" + (" LIMIT ?" if limit else ""))
    rows: Iterable[tuple[object, ...]] = ledger.db.execute(sql, [*params, *([limit] if limit else [])])
    out = [{"id": r[0], "provider": r[1], "provider_ref": r[2], "sender": r[3], "text": r[4], "received_at": r[5],
            "opt_out": bool(r[6])} for r in rows]
    out.reverse()
    return out
