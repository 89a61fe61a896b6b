"""Ledger reads and writes for the opt-out list, reports and plans, in SQL both backends run.

``?`` marks parameters (the PostgreSQL backend's connection turns them into ``%s``); ``ON CONFLICT DO
NOTHING`` is the upsert both dialects know. The methods run on ``self.db`` / ``self.transaction()`` of
the backend that mixes them in (:class:`runner.ledger.base.LedgerBase`, under both backends).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from runner.errors import LedgerError
from runner.ledger.model import now_iso


class LedgerQueries:
    db: Any  # sqlite3.Connection, or runner.ledger.pg.connection.PgDb
    path: Path
    db_errors: tuple[type[BaseException], ...]
    write_errors: tuple[type[BaseException], ...]
    _text_ids: dict[str, dict[str, int]]

    @staticmethod
    def _text_id(db: Any, campaign_id: str, text: str, known: dict[str, int]) -> int:  # pragma: no cover
        raise NotImplementedError

    def transaction(self) -> Any:  # pragma: no cover - the backend's
        raise NotImplementedError

    # -- the suppression list (runner.optout.store) -------------------------------------------------------
    def add_optout_numbers(self, numbers: Iterable[str], *, stamp: str, who: str, reason: str, source: str) -> int:
        """Add numbers, logging each new one; returns how many were new (one transaction)."""
        added = 0
        with self.transaction() as db:
            for number in numbers:
                cursor = db.execute("INSERT INTO optouts (number, added_at, added_by, reason, source) "
                                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                    (number, stamp, who, reason, source))
                if cursor.rowcount:
                    added += 1
                    db.execute("INSERT INTO optout_log (number, action, at, who, reason, source) "
                               "VALUES (?, 'add', ?, ?, ?, ?)", (number, stamp, who, reason, source))
        return added

    def remove_optout_number(self, number: str, *, stamp: str, who: str, reason: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM optouts WHERE number = ?", (number,))
            if cursor.rowcount:
                db.execute("INSERT INTO optout_log (number, action, at, who, reason, source) "
                           "VALUES (?, 'remove', ?, ?, ?, 'manual')", (number, stamp, who, reason))
            return bool(cursor.rowcount > 0)

    def optout_rows(self) -> list[tuple[str, str, str, str, str]]:
        """(number, added_at, added_by, reason, source), oldest first."""
        return [tuple(r) for r in self.db.execute(  # type: ignore[misc]
            "SELECT number, added_at, added_by, reason, source FROM optouts ORDER BY added_at, number")]

    def optout_sources(self) -> dict[str, str]:
        """number -> source of every opt-out (``plan``'s suppression)."""
        return {str(n): str(s) for n, s in self.db.execute("SELECT number, source FROM optouts")}

    # -- delivery reports -----------------------------------------------------------------------------------
    def sent_provider_ids(self, campaign_id: str) -> list[str]:
        """Provider ids of the campaign's messages sent and not yet final (``status --refresh``)."""
        return [str(r[0]) for r in self.db.execute(
            "SELECT provider_id FROM messages WHERE campaign_id = ? AND status = 'sent' AND provider_id IS NOT NULL",
            (campaign_id,))]

    def report_count(self) -> int:
        """How many delivery reports the ledger holds (the receiver's health check reads it)."""
        return int(self.db.execute("SELECT count(*) FROM reports").fetchone()[0])

    def ensure_backlog(self) -> None:
        """The receiver's backlog table is part of the schema (both backends)."""

    def optout_generation(self) -> int:
        """Grows whenever the suppression list changes (every change is logged in ``optout_log``)."""
        row = self.db.execute("SELECT coalesce(max(id), 0) FROM optout_log").fetchone()
        return int(row[0])

    def optout_numbers(self) -> set[str]:
        return {str(r[0]) for r in self.db.execute("SELECT number FROM optouts")}

    def optout_changes(self, since: int) -> list[tuple[int, str, str]]:
        """(id, number, action 'add'|'remove') of the suppression-list changes after generation ``since``."""
        return [(int(i), str(n), str(a)) for i, n, a in self.db.execute(
            "SELECT id, number, action FROM optout_log WHERE id > ? ORDER BY id", (since,))]

    # -- issue 13: per-recipient listing (`status --recipients`) ---------------------------------------------------
    # Plain SQL PostgreSQL also runs: keyset pages over the primary key (campaign_id, recipient), so a million
    # rows list in constant memory (one page at a time) without OFFSET scans.
    RECIPIENT_COLUMNS = ("recipient", "status", "reason", "provider_id", "cost", "parts", "attempts", "batch_id",
                         "claimed_at", "updated_at")

    def recipients_page(self, campaign_id: str, after: str, limit: int,
                        statuses: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows of ``campaign_id`` whose recipient sorts after ``after``, in recipient order
        (columns: :attr:`RECIPIENT_COLUMNS`)."""
        sql = ("SELECT recipient, status, reason, provider_id, cost, parts, attempts, batch_id, claimed_at, updated_at "
               "FROM messages WHERE campaign_id = ? AND recipient > ?")
        params: list[Any] = [campaign_id, after]
        if statuses:
            sql += " AND status IN (" + ", ".join("?" for _ in statuses) + ")"
            params += list(statuses)
        sql += " ORDER BY recipient LIMIT ?"
        params.append(limit)
        return list(self.db.execute(sql, params).fetchall())

    # -- issue 13: test sends (`send --test-to`), kept apart from the campaign's messages --------------------------
    # Never in `messages`, never registering the campaign: a test send counts for nobody and blocks nothing.
    TEST_SENDS_TABLE = ("CREATE TABLE IF NOT EXISTS test_sends (campaign_id TEXT NOT NULL, recipient TEXT NOT NULL, "
                        "as_recipient TEXT, text TEXT NOT NULL, status TEXT NOT NULL, provider_id TEXT, reason TEXT, "
                        "sent_at TEXT NOT NULL)")

    def record_test_sends(self, campaign_id: str, rows: Sequence[tuple[str, str, str | None, str | None]], *,
                          text: str, as_recipient: str | None, at: str) -> None:
        """Store one test send: (recipient, status, provider_id, reason) per test number."""
        with self.transaction() as db:
            db.execute(self.TEST_SENDS_TABLE)
            db.executemany("INSERT INTO test_sends (campaign_id, recipient, as_recipient, text, status, provider_id, "
                           "reason, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(campaign_id, n, as_recipient, text, status, pid, reason, at)
                            for n, status, pid, reason in rows])

    def test_sends(self, campaign_id: str, limit: int = 10) -> list[tuple[str, str, str | None, str | None, str]]:
        """The last test sends of a campaign, newest first: (recipient, status, provider_id, reason, sent_at)."""
        try:
            return list(self.db.execute("SELECT recipient, status, provider_id, reason, sent_at FROM test_sends "
                                        "WHERE campaign_id = ? ORDER BY sent_at DESC LIMIT ?",
                                        (campaign_id, limit)).fetchall())
        except self.db_errors as exc:  # SQLite: no test send yet, the first one makes the table
            if "no such table" not in str(exc):
                raise
            return []

    def opted_out(self, numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` are on the suppression list."""
        if not numbers:
            return set()
        marks = ", ".join("?" for _ in numbers)
        return {row[0] for row in self.db.execute(f"SELECT number FROM optouts WHERE number IN ({marks})",
                                                  list(numbers))}

    # -- issue 11: the lost-ledger guard ----------------------------------------------------------------
    # (kept together so that the PostgreSQL backend can port it; plain SQL that PostgreSQL runs too)
    def campaign_seen(self, campaign_id: str) -> bool:
        """Has this ledger ever held a message of the campaign (whatever its status)? A send of a campaign
        it never saw asks the provider first (runner.send.history)."""
        row = self.db.execute("SELECT 1 FROM messages WHERE campaign_id = ? LIMIT 1", (campaign_id,)).fetchone()
        return row is not None

    def adopt_sent(self, campaign_id: str, rows: Sequence[tuple[str, str, int, str | None, str | None]],
                   reason: str) -> int:
        """Write recipients the provider's own record shows as already sent: (recipient, text, parts,
        provider_id, sent_at) rows become ``sent`` with their provider ids, in one transaction. A
        recipient already in the ledger is left alone. Returns how many were written."""
        stamp = now_iso()
        known = self._text_ids.setdefault(campaign_id, {})
        try:
            with self.transaction() as db:
                written = 0
                for recipient, text, parts, provider_id, sent_at in rows:
                    text_id = self._text_id(db, campaign_id, text, known)
                    written += db.execute(
                        "INSERT INTO messages (campaign_id, recipient, status, attempts, text_id, parts, batch_id, "
                        "provider_id, reason, claimed_at, updated_at) VALUES (?, ?, 'sent', 1, ?, ?, 'adopted', ?, ?, "
                        "?, ?) ON CONFLICT (campaign_id, recipient) DO NOTHING",
                        (campaign_id, recipient, text_id, parts, provider_id, reason, sent_at or stamp, stamp)).rowcount
                return written
        except BaseException as exc:
            self._text_ids.pop(campaign_id, None)
            if isinstance(exc, self.write_errors):
                raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
            raise

    def sent_without_provider_id(self, campaign_id: str) -> list[tuple[str, str, str | None]]:
        """(batch_id, recipient, claimed_at) of sent rows a reconciliation settled without a provider id."""
        return list(self.db.execute(
            "SELECT batch_id, recipient, claimed_at FROM messages WHERE campaign_id = ? AND status = 'sent' "
            "AND provider_id IS NULL AND batch_id IS NOT NULL AND batch_id != 'adopted' ORDER BY batch_id",
            (campaign_id,)).fetchall())

    def set_provider_ids(self, campaign_id: str, pairs: Sequence[tuple[str, str]]) -> int:
        """(recipient, provider_id): record ids learnt later, on rows that have none."""
        with self.transaction() as db:
            cursor = db.executemany("UPDATE messages SET provider_id = ? WHERE campaign_id = ? AND recipient = ? "
                                    "AND provider_id IS NULL", [(pid, campaign_id, r) for r, pid in pairs])
            return int(cursor.rowcount)
