"""The embedded outbox provider's own SQLite file (``outbox.sqlite`` in the state folder): its SQL lives
here with the ledger's, so that no SQL is written outside runner/ledger/.

The outbox is the provider's record, not the ledger: it stays a SQLite file beside the state whatever
ledger backend is chosen (it stands for a provider's own database).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.errors import NotSentError, SmsrunError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    commercial INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_batch ON outbox (batch_id);
"""


class OutboxStore:
    """One connection to the outbox file, opened (and checked) on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            from runner.ledger.statedir import ensure_state_dir

            try:
                ensure_state_dir(self.path.parent)  # with a .gitignore: the outbox holds phone numbers
                db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(SCHEMA)
                checked = [str(r[0]) for r in db.execute("PRAGMA quick_check(3)")]  # issue 15
            except (OSError, sqlite3.Error) as exc:
                raise NotSentError(f"the outbox {self.path} cannot be opened ({exc}): nothing was sent; move "
                                   "it away (or restore it) and run again") from None
            if checked != ["ok"]:
                db.close()
                raise NotSentError(f"the outbox {self.path} is damaged ({'; '.join(checked)[:300]}): nothing "
                                   "was sent; move it away (or restore it) and run again")
            self._db = db
        return self._db

    def insert(self, rows: Sequence[tuple[str, str, str, str, int, str, str, str]]) -> int:
        """Record (batch_id, campaign_id, recipient, sender, commercial, encoding, text, created_at) rows in one
        transaction; returns the first id given (the others follow). A failure records nothing."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                first = int(db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]) + 1
                db.executemany("INSERT INTO outbox (id, batch_id, campaign_id, recipient, sender, commercial, "
                               "encoding, text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               [(first + i, *row) for i, row in enumerate(rows)])
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:  # issue 15: rolled back, so nothing was recorded: not sent
            raise NotSentError(f"cannot write the outbox {self.path} ({exc}): nothing was sent") from None
        return first

    def batch(self, batch_id: str) -> list[tuple[int, str]]:
        """(id, recipient) of a batch's recorded messages."""
        return [(int(i), str(r)) for i, r in self.db.execute("SELECT id, recipient FROM outbox WHERE batch_id = ?",
                                                              (batch_id,))]

    def campaign(self, campaign_id: str) -> list[tuple[int, str, str]]:
        """(id, recipient, created_at) of a campaign's recorded messages, oldest first."""
        return [(int(i), str(r), str(c)) for i, r, c in self.db.execute(
            "SELECT id, recipient, created_at FROM outbox WHERE campaign_id = ? ORDER BY id", (campaign_id,))]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def list_rows(path: Path, campaign_id: str | None, limit: int | None) -> list[dict[str, Any]]:
    """Messages recorded in the outbox file, newest last ([] when there is none)."""
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(path, timeout=30.0)
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone() is None:
                return []  # created by a run killed before it wrote the schema: nothing was recorded
            db.row_factory = sqlite3.Row
            sql = ("SELECT id, batch_id, campaign_id, recipient, sender, commercial, encoding, text, created_at "
                   "FROM outbox")
            params: list[Any] = []
            if campaign_id:
                sql += " WHERE campaign_id = ?"
                params.append(campaign_id)
            sql += " ORDER BY id"
            if limit:
                sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', ' ORDER BY id DESC')} LIMIT ?) ORDER BY id"
                params.append(limit)
            return [dict(r) | {"commercial": bool(r["commercial"])} for r in db.execute(sql, params)]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:  # issue 15: a damaged outbox, a clear error
        raise SmsrunError(f"the outbox {path} is damaged or unreadable ({exc}); move it away or restore it") from None


def count_rows(path: Path, campaign_id: str | None) -> int:
    """How many messages the outbox file recorded (for one campaign, or all)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=30.0)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone() is None:
            return 0
        if campaign_id:
            return int(db.execute("SELECT count(*) FROM outbox WHERE campaign_id = ?", (campaign_id,)).fetchone()[0])
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        db.close()
