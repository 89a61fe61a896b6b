"""Ledger reads and writes for the opt-out list, reports and plans, in SQL both backends run.

``?`` marks parameters (the PostgreSQL backend's connection turns them into ``%s``); ``ON CONFLICT DO
NOTHING`` is the upsert both dialects know. The methods run on ``self.db`` / ``self.transaction()`` of
the backend that mixes them in (:class:`runner.ledger.store.Ledger` and its PostgreSQL subclass).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class LedgerQueries:
    db: Any  # sqlite3.Connection, or runner.ledger.pg.connection.PgDb

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
