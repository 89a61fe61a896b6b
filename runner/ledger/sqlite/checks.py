"""The SQLite ledger's own checks (issue 15): versions, read-only ledgers, damaged pages.

PRAGMAs and the read-only fallback are SQLite's own: a PostgreSQL backend has no page checks to run and
keeps its version in a table of its own (:mod:`runner.ledger.pg.schema`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from runner.errors import LedgerError
from runner.ledger.model import Status
from runner.ledger.sqlite.schema import EXPECTED_COLUMNS, SCHEMA_VERSION


class SqliteChecks:
    """Mixed into :class:`runner.ledger.sqlite.backend.Ledger`."""

    db: sqlite3.Connection
    path: Path

    def _open_read_only(self, cause: BaseException) -> bool:
        """The ledger exists but cannot be opened for writing (a read-only folder or file): open it to read.
        With no ``-wal`` beside it nothing is left out of the main file, so it is opened immutable (a
        read-only folder cannot hold the ``-shm`` a WAL reader needs). Writes then fail with a clear
        :class:`LedgerError` (``transaction``)."""
        text = str(cause).lower()
        if not self.path.is_file() or not (isinstance(cause, OSError) or "readonly" in text or "read-only" in text
                                           or "unable to open" in text or "permission" in text):
            return False  # a locked or damaged ledger is not a read-only one
        with contextlib.suppress(sqlite3.Error, AttributeError):
            self.db.close()
        wal = self.path.with_name(self.path.name + "-wal")
        modes = ["mode=ro"] + ([] if wal.exists() and wal.stat().st_size else ["immutable=1"])
        for mode in modes:
            try:
                db = sqlite3.connect(f"{self.path.resolve().as_uri()}?{mode}", uri=True, timeout=30.0,
                                     isolation_level=None, check_same_thread=False)
                self.db = db
                self._check_version()
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except LedgerError:
                raise
            except sqlite3.Error:
                continue
            self.read_only = True
            return True
        return False

    read_only: bool = False  # opened read-only (issue 15)

    def _check_version(self) -> None:
        """Refuse a ledger written by a newer smsrun (a higher ``user_version``)."""
        found = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise LedgerError(f"the ledger {self.path} was written by a newer smsrun (ledger format {found}, this "
                              f"smsrun reads up to {SCHEMA_VERSION}): upgrade smsrun; nothing was read or changed")

    def _stamp_version(self) -> None:
        if int(self.db.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def check_readable(self, campaign_id: str | None = None) -> None:
        """Refuse a ledger this smsrun does not understand: a table without a column it expects (renamed by
        a newer smsrun), a status value it does not know. Reading it anyway makes counts disagree between
        commands and treats unknown rows as in doubt, or as never sent."""
        try:
            for table, columns in EXPECTED_COLUMNS.items():
                try:
                    self.db.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 0").fetchall()
                except sqlite3.OperationalError as exc:
                    if "no such" not in str(exc):
                        raise
                    raise LedgerError(f"the ledger {self.path} was written by a newer smsrun (or altered by hand): "
                                      f"{exc} in table {table}; upgrade smsrun, or restore the ledger from a "
                                      "backup") from None
            known = tuple(s.value for s in Status)
            marks = ", ".join("?" * len(known))
            where, params = ("campaign_id = ? AND ", (campaign_id, *known)) if campaign_id else ("", known)
            unknown = [row[0] for row in self.db.execute(
                f"SELECT DISTINCT status FROM messages WHERE {where}status NOT IN ({marks}) LIMIT 5", params)]
        except sqlite3.DatabaseError as exc:
            raise self.damaged(exc) from None
        if unknown:
            shown = ", ".join(repr(str(u)[:40]) for u in unknown)
            raise LedgerError(f"the ledger {self.path} was written by a newer smsrun: unknown status {shown}; "
                              "upgrade smsrun (nothing was read or changed)")

    def check_integrity(self) -> None:
        """``PRAGMA quick_check`` before a send: a damaged index can hide sent rows (and resend them)."""
        try:
            rows = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            raise self.damaged(exc) from None
        if rows != ["ok"]:
            raise self.damaged("; ".join(r[:200] for r in rows))

    def damaged(self, detail: object) -> LedgerError:
        return LedgerError(f"the ledger {self.path} is damaged ({detail}); nothing was sent. Restore it from a "
                           "backup, or recover what can be read into a new file (`sqlite3 ledger.sqlite .recover "
                           "| sqlite3 recovered.sqlite`), check it, and put it in its place")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads whose SQLite errors (a damaged page, an unreadable file) become a clear :class:`LedgerError`."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self.damaged(exc) from None
