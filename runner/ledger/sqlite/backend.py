"""The SQLite ledger (WAL, ``synchronous=FULL``): the record of what was sent, claimed or is in doubt.

The life of a row is told in :mod:`runner.ledger.model`; the API both backends share is
:class:`runner.ledger.base.LedgerBase`. This module is what is SQLite's own.

A send writes a recipient when it first claims it (:meth:`Ledger.claim_new`), not before: writing a
million pending rows first, then claiming them, cost a third of the send. Until then the recipient is
counted by the ``runs`` table: :meth:`Ledger.start_run` records how many recipients of the plan the
ledger does not hold, each claim or pending write takes its rows off in the same transaction, and
``smsrun status`` counts what is left as pending. A recipient a dead run never reached is simply not
in the ledger: the next plan has it to send, as before.

Claims and settles are batched (one transaction for several requests, one SQL statement per request),
never one commit per row.

Durability: every commit is ``synchronous=FULL`` (the WAL is fsynced) except settles, which are
``NORMAL``. A claim must be on disk before the provider is called; a settle need not: the next claim's
fsync writes the WAL out with every settle before it, and a settle lost to a power cut (never to a
crashed or killed process: its commit is already in the OS cache) leaves its rows ``claimed``, which
the next run turns ``in_doubt`` and reconciles - the state it would have found after a crash between
the provider's answer and the settle. A 500-row settle took 0.8-2.7 ms less (one fsync fewer).
Pending rows are inserted in 50,000-row transactions with a large ``wal_autocheckpoint`` and one
``wal_checkpoint(TRUNCATE)`` at the end (floors doc §3: 1.7x faster than checkpointing every 4 MB).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from runner.errors import CampaignLockedError, LedgerError
from runner.ledger.base import LedgerBase
from runner.ledger.model import SettleGroups, SettleUpdate, now_iso, settle_groups
from runner.ledger.sqlite.checks import SqliteChecks
from runner.ledger.sqlite.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION
from runner.ledger.statedir import ensure_state_dir
from runner.ledger.url import configured, is_postgres, sqlite_path

DATABASE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
"""Database errors a command may meet outside the ledger's own handling (the CLI makes them clear errors)."""


class Ledger(SqliteChecks, LedgerBase):
    """The SQLite backend: one file, ``ledger.sqlite`` in the state folder (or ``$SMSRUN_LEDGER``), shared
    by every campaign. ``Ledger(state_dir)`` opens the configured backend: with a ``postgresql://`` URL in
    ``--ledger``/``$SMSRUN_LEDGER`` it is a :class:`runner.ledger.pg.backend.PostgresLedger`, which runs
    the same methods on PostgreSQL (the portable SQL of :class:`LedgerBase`, its own where the dialects differ)."""

    backend = "sqlite"
    db: sqlite3.Connection
    db_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    write_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __new__(cls, state_dir: Path, *args: Any, **kwargs: Any) -> Ledger:
        if cls is Ledger and kwargs.get("path") is None and is_postgres(configured()):
            from runner.ledger.pg.backend import PostgresLedger

            return super().__new__(PostgresLedger)
        return super().__new__(cls)

    def sibling(self) -> Ledger:
        """A second connection to the same ledger, holding the same fence (the send loop's writer thread)."""
        other = Ledger(self.state_dir)
        other.fence = self.fence
        return other

    def describe(self) -> str:
        return str(self.path)

    def set_durable(self, durable: bool) -> None:
        """Commits wait for the disk (claims) or not (settles: see the module docstring)."""
        self.db.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))

    def lease_holder(self, campaign_id: str) -> dict[str, Any] | None:
        """Who is sending the campaign now (``smsrun status``), if anyone."""
        lock = self.state_dir / "locks" / f"{campaign_id}.lock"
        if not lock.exists():
            return None
        try:
            with open(lock) as handle:  # read only: status works on a read-only state folder
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return {"holder": handle.read().strip(), "ci_url": None, "since": None}
        except OSError:
            return None
        return None

    def __init__(self, state_dir: Path, *, path: Path | None = None) -> None:
        self.state_dir = state_dir
        self.path = path or sqlite_path(state_dir)
        try:
            ensure_state_dir(state_dir)  # with a .gitignore: the ledger holds phone numbers
            if self.path.parent != state_dir:  # a ledger file chosen by --ledger / $SMSRUN_LEDGER
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.execute("PRAGMA cache_size=-65536")
            self.db.execute("PRAGMA wal_autocheckpoint=100000")  # pages (~400 MB); see add_pending
            self._check_version()  # issue 15: before the schema touches a newer smsrun's ledger
            found = int(self.db.execute("PRAGMA user_version").fetchone()[0])
            self.db.executescript(SCHEMA)
            for number in range(max(found, 1) + 1, SCHEMA_VERSION + 1):
                self.db.executescript(MIGRATIONS[number])
            self._stamp_version()
        except LedgerError:
            raise
        except (OSError, sqlite3.Error) as exc:
            if not self._open_read_only(exc):  # issue 15: status and plan still read a read-only ledger
                raise LedgerError(f"cannot open the ledger in {state_dir}: {exc}") from None
        self._locks: dict[str, IO[str]] = {}
        self._text_ids: dict[str, dict[str, int]] = {}  # campaign -> text -> id, for claim_new
        self._depth = 0  # nesting of transaction()

    def close(self) -> None:
        for handle in self._locks.values():
            handle.close()
        self._locks.clear()
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _outermost(self) -> Iterator[sqlite3.Connection]:
        """The backend's own transaction, when none is open (sets ``_depth`` to 1 while it runs)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LedgerError(f"the ledger is not writable ({self.path}): {exc}") from None
        self._depth = 1
        try:
            yield self.db
        except BaseException as exc:
            self._depth = 0
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):  # e.g. a read-only ledger refuses the first UPDATE
                raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
            raise
        self._depth = 0
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None

    # -- locking -----------------------------------------------------------------------------------
    def lock_campaign(self, campaign_id: str, timeout: float = 0.0) -> None:
        """Hold an exclusive lock for this campaign until :meth:`close` (released by the OS on a crash);
        wait up to ``timeout`` seconds for another run to release it."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._lock_campaign(campaign_id)
            except CampaignLockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))

    def _lock_campaign(self, campaign_id: str) -> None:
        folder = self.state_dir / "locks"
        try:
            folder.mkdir(exist_ok=True)
            handle = open(folder / f"{campaign_id}.lock", "a+")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise LedgerError(f"cannot create a lock in {folder}: {exc.strerror}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise CampaignLockedError(
                f"campaign {campaign_id!r} is already being sent by another smsrun process"
                + (f" ({holder})" if holder else "") + "; wait for it to finish, then run again") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {now_iso()} on {socket.gethostname()}")
            handle.flush()
        except OSError as exc:  # disk full: a clear error, not a traceback
            with contextlib.suppress(OSError):  # closes the file (and the lock) even if the flush fails
                handle.close()
            raise LedgerError(f"cannot write the lock {handle.name}: {exc.strerror}") from None
        self._locks[campaign_id] = handle

    def pending_after(self, campaign_id: str, after_rowid: int, limit: int) -> list[tuple[int, str, int | None]]:
        """(rowid, recipient, text_id) of pending rows after ``after_rowid``, in insertion order.

        Walks the table by rowid from ``after_rowid`` (``+campaign_id`` keeps SQLite off the primary-key
        index, which would read and sort every row of the campaign for each page: quadratic in the list).
        """
        return self.db.execute(
            "SELECT rowid, recipient, text_id FROM messages WHERE rowid > ? AND +campaign_id = ? "
            "AND status = 'pending' ORDER BY rowid LIMIT ?", (after_rowid, campaign_id, limit)).fetchall()

    # -- writing -----------------------------------------------------------------------------------
    def add_pending(self, campaign_id: str, recipients: Iterable[tuple[str, str, int]], chunk: int = 50_000, *,
                    run_id: str | None = None, checkpoint: bool = True) -> int:
        """Insert (recipient, text, parts) rows not yet in the ledger as pending; returns how many.
        ``run_id``: they were counted unrecorded by that run (:meth:`start_run`)."""
        text_ids = {text: i for i, text in self.texts(campaign_id).items()}
        added = 0
        batch: list[tuple[str, str, int, str]] = []  # (recipient, text, parts, stamp)
        stamp = now_iso()

        def flush() -> None:
            nonlocal added
            with self.transaction() as db:  # new texts and their rows in one commit: personalised texts
                rows = []                   # are one per recipient, so never a commit per text
                for recipient, text, parts, when in batch:
                    rows.append((campaign_id, recipient, self._text_id(db, campaign_id, text, text_ids), parts, when))
                before = db.total_changes
                db.executemany("INSERT OR IGNORE INTO messages (campaign_id, recipient, status, text_id, parts, "
                               "updated_at) VALUES (?, ?, 'pending', ?, ?, ?)", rows)
                added_now = db.total_changes - before
                self._recorded(db, campaign_id, run_id, added_now)
                added += added_now
            batch.clear()

        try:
            for recipient, text, parts in recipients:
                batch.append((recipient, text, parts, stamp))
                if len(batch) >= chunk:
                    flush()
            if batch:
                flush()
            if checkpoint:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the end of a phase: fold the WAL back
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
        return added

    # -- runs: recipients a send has planned but not yet written ----------------------------------------
    def start_run(self, campaign_id: str, run_id: str, unrecorded: int) -> None:
        """A send starts: ``unrecorded`` recipients of its plan are not in the ledger yet (they are written
        when claimed, or as pending when held), and count as pending in :meth:`unrecorded` until then."""
        self._write("INSERT OR REPLACE INTO runs (campaign_id, run_id, started_at, unrecorded) VALUES (?, ?, ?, ?)",
                    (campaign_id, run_id, now_iso(), max(0, unrecorded)))

    @staticmethod
    def _recorded(db: sqlite3.Connection, campaign_id: str, run_id: str | None, added: int) -> None:
        if run_id is not None and added:
            db.execute("UPDATE runs SET unrecorded = max(0, unrecorded - ?) WHERE campaign_id = ? AND run_id = ?",
                       (added, campaign_id, run_id))

    @staticmethod
    def _text_id(db: sqlite3.Connection, campaign_id: str, text: str, known: dict[str, int]) -> int:
        """The id of a campaign's text, written on first use; ``known`` caches them (text -> id)."""
        text_id = known.get(text)
        if text_id is None:
            row = db.execute("SELECT id FROM texts WHERE campaign_id = ? AND text = ?", (campaign_id, text)).fetchone()
            if row is None:
                cursor = db.execute("INSERT INTO texts (campaign_id, text) VALUES (?, ?)", (campaign_id, text))
                row = (cursor.lastrowid,)
            text_id = known[text] = int(row[0])
        return text_id

    @staticmethod
    def _insert_claimed(db: sqlite3.Connection, campaign_id: str, text_id: int, parts: int, batch_id: str,
                        stamp: str, numbers: list[str]) -> list[tuple[int, str]]:
        """Insert these numbers as claimed rows; their (rowid, recipient), skipping those already there.

        No ``RETURNING`` and no row-by-row fetch: each fetched row is a step that gives the GIL up and
        takes it back, which a writer thread beside a busy send loop waits for (2.4x slower, measured).
        One statement inserts its rows with consecutive rowids in the order of the JSON list; that is
        checked with one aggregate read, and a plain lookup is the fallback."""
        payload = json.dumps(numbers)
        cursor = db.execute(
            "INSERT OR IGNORE INTO messages (campaign_id, recipient, status, attempts, text_id, parts, batch_id, "
            "claimed_at, updated_at) SELECT ?, value, 'claimed', 1, ?, ?, ?, ?, ? FROM json_each(?)",
            (campaign_id, text_id, parts, batch_id, stamp, stamp, payload))
        count = cursor.rowcount
        if count <= 0:
            return []
        last = int(cursor.lastrowid or 0)
        if count == len(numbers):
            first = last - count + 1
            row = db.execute("SELECT group_concat(recipient, ' ') FROM (SELECT recipient FROM messages "
                             "WHERE rowid BETWEEN ? AND ? ORDER BY rowid)", (first, last)).fetchone()
            if row[0] == " ".join(numbers):
                return list(zip(range(first, last + 1), numbers, strict=True))
        return db.execute("SELECT rowid, recipient FROM messages WHERE campaign_id = ? AND batch_id = ? AND "
                          "recipient IN (SELECT value FROM json_each(?)) ORDER BY rowid",
                          (campaign_id, batch_id, payload)).fetchall()

    def settle(self, updates: Sequence[SettleUpdate] | SettleGroups, *,
               opted_out: Sequence[str] = (), source: str = "provider") -> None:
        """(status, provider_id, reason, cost, rowid) for each settled row, in one transaction; numbers the
        provider reported as unsubscribed join the suppression list in the same transaction.
        Committed with ``synchronous=NORMAL``: see the module docstring.

        ``updates`` can also come grouped, {(status, reason, cost): [(rowid, provider_id), ...]}, as the
        send loop builds them: one statement per group, with no work per row left to this call."""
        stamp = now_iso()
        nested = self._depth > 0  # part of a bigger transaction, which decides its own durability
        try:
            if not nested:
                self.db.execute("PRAGMA synchronous=NORMAL")
            # one statement per (status, reason, cost), usually one for a whole request: SQLite does the
            # work in one step, without the GIL, so a writer thread (runner.send.writer) overlaps it with
            # the next request's HTTP
            same = settle_groups(updates)
            with self.transaction() as db:
                for (status, reason, cost), pairs in same.items():
                    db.execute("UPDATE messages SET status = ?, provider_id = json_extract(j.value, '$[1]'), "
                               "reason = ?, cost = ?, updated_at = ? FROM json_each(?) AS j "
                               "WHERE messages.rowid = json_extract(j.value, '$[0]')",
                               (status, reason, cost, stamp, json.dumps(pairs)))
                for number in opted_out:
                    cursor = db.execute("INSERT OR IGNORE INTO optouts (number, added_at, added_by, reason, source) "
                                        "VALUES (?, ?, 'smsrun', 'the provider reports an opt-out', ?)",
                                        (number, stamp, source))
                    if cursor.rowcount:
                        db.execute("INSERT INTO optout_log (number, action, at, who, reason, source) VALUES "
                                   "(?, 'add', ?, 'smsrun', 'the provider reports an opt-out', ?)",
                                   (number, stamp, source))
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
        finally:
            if not nested:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("PRAGMA synchronous=FULL")

