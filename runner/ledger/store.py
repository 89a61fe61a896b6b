"""SQLite ledger (WAL, ``synchronous=FULL``): the record of what was sent, claimed or is in doubt.

Life of a row::

    (not in the ledger) --claim_new: written claimed (committed BEFORE the provider call)--> claimed
    (not in the ledger) --held back by its window--> pending --claim (committed BEFORE the call)--> claimed
    claimed --settle--> sent | rejected | pending
           \\--crash--> in_doubt --reconcile--> sent | pending
    sent --delivery report--> delivered | failed

A ``claimed`` row found by a later run belongs to a run that died between claim and settle: nobody
knows whether the provider accepted it, so it becomes ``in_doubt``; it is reconciled with the provider
where the provider can tell, and is never resent unless the user says so (``--resend-in-doubt``).

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
import enum
import fcntl
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from runner.errors import CampaignLockedError, LedgerError
from runner.ledger.queries import LedgerQueries
from runner.ledger.statedir import ensure_state_dir
from runner.ledger.url import configured, is_postgres, sqlite_path


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

DATABASE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
"""Database errors a command may meet outside the ledger's own handling (the CLI makes them clear errors)."""

FINAL_STATUSES = frozenset({Status.SENT.value, Status.REJECTED.value, Status.DELIVERED.value, Status.FAILED.value})

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS texts (
    id INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (campaign_id, text)
);
CREATE TABLE IF NOT EXISTS messages (
    campaign_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    text_id INTEGER,
    parts INTEGER,
    batch_id TEXT,
    provider_id TEXT,
    reason TEXT,
    cost REAL,
    claimed_at TEXT,
    updated_at TEXT,
    PRIMARY KEY (campaign_id, recipient)
);
CREATE TABLE IF NOT EXISTS optouts (
    number TEXT PRIMARY KEY,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS optout_log (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replies (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_ref TEXT,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    received_at TEXT NOT NULL,
    opt_out INTEGER NOT NULL,
    UNIQUE (provider, provider_ref)
);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    campaign_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    unrecorded INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS report_backlog (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_id TEXT,
    campaign_id TEXT,
    recipient TEXT,
    batch_id TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    received_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS report_backlog_label ON report_backlog (label);
CREATE TABLE IF NOT EXISTS test_sends (campaign_id TEXT NOT NULL, recipient TEXT NOT NULL, as_recipient TEXT,
    text TEXT NOT NULL, status TEXT NOT NULL, provider_id TEXT, reason TEXT, sent_at TEXT NOT NULL);
"""


SCHEMA_VERSION = 2  # PRAGMA user_version: a ledger with a higher one was written by a newer smsrun (issue 15)
MIGRATIONS: dict[int, str] = {
    # numbered migrations after SCHEMA (format 1), applied in order on open; PostgreSQL's are the same steps
    # in runner/ledger/pg/schema.py
    2: """
    -- several receivers on one ledger (or a gateway's retry): each delivery report is stored once
    DELETE FROM reports WHERE id NOT IN (SELECT min(id) FROM reports
                                         GROUP BY provider, provider_id, status, coalesce(reason, ''));
    CREATE UNIQUE INDEX IF NOT EXISTS reports_once ON reports (provider, provider_id, status, coalesce(reason, ''));
    """,
}
EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {  # what this smsrun reads (issue 15: refuse a renamed column)
    "campaigns": ("id", "content_hash", "provider", "created_at"),
    "texts": ("id", "campaign_id", "text"),
    "messages": ("campaign_id", "recipient", "status", "attempts", "text_id", "parts", "batch_id", "provider_id",
                 "reason", "cost", "claimed_at", "updated_at"),
    "optouts": ("number", "added_at", "added_by", "reason", "source"),
    "optout_log": ("id", "number", "action", "at", "who", "reason", "source"),
    "runs": ("campaign_id", "run_id", "started_at", "unrecorded"),
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def state_dir_for(explicit: Path | str | None, repo_root: Path | None) -> Path:
    """``--state-dir``, else ``$SMSRUN_STATE_DIR``, else ``.smsrun/`` at the repository root.

    A relative folder is taken from the repository root, not the working directory (issue 15): the same
    ``SMSRUN_STATE_DIR=state`` used from the root and from ``campaigns/`` must be one ledger, not two
    (two ledgers send everything twice)."""
    root = repo_root or Path.cwd()
    chosen = explicit or os.environ.get("SMSRUN_STATE_DIR")
    if chosen:
        folder = Path(chosen).expanduser()
        return folder if folder.is_absolute() else root / folder
    return root / ".smsrun"


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


class Ledger(LedgerQueries):
    """The SQLite backend: one file, ``ledger.sqlite`` in the state folder (or ``$SMSRUN_LEDGER``), shared
    by every campaign. ``Ledger(state_dir)`` opens the configured backend: with a ``postgresql://`` URL in
    ``--ledger``/``$SMSRUN_LEDGER`` it is a :class:`runner.ledger.pg.backend.PostgresLedger`, which runs
    the same methods on PostgreSQL (the portable SQL here, its own where the dialects differ)."""

    backend = "sqlite"
    db: sqlite3.Connection
    db_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    fence: str | None = None  # the run id every claim and settle checks (the PostgreSQL lease)

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

    def check_lease(self) -> None:
        """Raise when this run can no longer prove it holds its campaign (PostgreSQL leases; the SQLite
        backend's lock is a file lock the OS releases only with the process)."""

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

    # -- transactions ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; inside another, a part of it (committed, or rolled back, with it)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        with self._outermost() as db:
            yield db

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

    def _write(self, sql: str, params: Any, many: bool = False) -> None:
        try:
            with self.transaction() as db:
                if many:
                    db.executemany(sql, params)
                else:
                    db.execute(sql, params)
        except sqlite3.Error as exc:
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

    # -- campaigns ---------------------------------------------------------------------------------
    def campaign_hash(self, campaign_id: str) -> str | None:
        row = self.db.execute("SELECT content_hash FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        return row[0] if row else None

    def register_campaign(self, campaign_id: str, content_hash: str, provider: str) -> None:
        """Record the content hash; refuse a changed message/sender/commercial flag once sending started."""
        known = self.campaign_hash(campaign_id)
        if known is None:
            self._write("INSERT INTO campaigns (id, content_hash, provider, created_at) VALUES (?, ?, ?, ?)",
                        (campaign_id, content_hash, provider, now_iso()))
            return
        if known == content_hash:
            return
        started = self.db.execute(
            "SELECT 1 FROM messages WHERE campaign_id = ? AND status != 'pending' LIMIT 1", (campaign_id,)).fetchone()
        if started:
            raise LedgerError(
                f"campaign {campaign_id!r} changed its message, sender or commercial flag after sending started; "
                "that would send different texts to one audience. Give the campaign a new `id` to make a new campaign.")
        self._write("UPDATE campaigns SET content_hash = ?, provider = ? WHERE id = ?",
                    (content_hash, provider, campaign_id))

    def content_changed(self, campaign_id: str, content_hash: str) -> bool:
        known = self.campaign_hash(campaign_id)
        if known is None or known == content_hash:
            return False
        return self.db.execute("SELECT 1 FROM messages WHERE campaign_id = ? AND status != 'pending' LIMIT 1",
                               (campaign_id,)).fetchone() is not None

    # -- reading -----------------------------------------------------------------------------------
    def statuses(self, campaign_id: str) -> dict[str, str]:
        """recipient -> status for every row of the campaign."""
        return dict(self.db.execute("SELECT recipient, status FROM messages WHERE campaign_id = ?", (campaign_id,)))

    def counts(self, campaign_id: str) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for status, n in self.db.execute(
                "SELECT status, count(*) FROM messages WHERE campaign_id = ? GROUP BY status", (campaign_id,)):
            out[status] = n
        return out

    def fingerprint(self, campaign_id: str) -> str:
        """Changes whenever a row of the campaign changes status (for stale-plan detection)."""
        row = self.db.execute(
            "SELECT count(*), coalesce(max(updated_at), ''), "
            "coalesce(sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN status IN ('sent','delivered','failed') THEN 1 ELSE 0 END), 0) "
            "FROM messages WHERE campaign_id = ?",
            (campaign_id,)).fetchone()
        optouts = self.db.execute("SELECT count(*), coalesce(max(added_at), '') FROM optouts").fetchone()
        return f"{row[0]}:{row[1]}:{row[2]}:{row[3]}:{optouts[0]}:{optouts[1]}"

    def rows(self, campaign_id: str, statuses: Iterable[str]) -> list[LedgerRow]:
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        return [LedgerRow(*r) for r in self.db.execute(
            f"SELECT rowid, recipient, status, attempts, text_id, batch_id, provider_id, reason, claimed_at "
            f"FROM messages WHERE campaign_id = ? AND status IN ({marks}) ORDER BY rowid", (campaign_id, *wanted))]

    def pending_after(self, campaign_id: str, after_rowid: int, limit: int) -> list[tuple[int, str, int | None]]:
        """(rowid, recipient, text_id) of pending rows after ``after_rowid``, in insertion order.

        Walks the table by rowid from ``after_rowid`` (``+campaign_id`` keeps SQLite off the primary-key
        index, which would read and sort every row of the campaign for each page: quadratic in the list).
        """
        return self.db.execute(
            "SELECT rowid, recipient, text_id FROM messages WHERE rowid > ? AND +campaign_id = ? "
            "AND status = 'pending' ORDER BY rowid LIMIT ?", (after_rowid, campaign_id, limit)).fetchall()

    def texts(self, campaign_id: str) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, text FROM texts WHERE campaign_id = ?", (campaign_id,)))

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

    def finish_run(self, campaign_id: str, run_id: str) -> None:
        """Every recipient of the run's plan is now in the ledger."""
        self._write("UPDATE runs SET unrecorded = 0 WHERE campaign_id = ? AND run_id = ?", (campaign_id, run_id))

    def unrecorded(self, campaign_id: str) -> int:
        """Recipients the last send of the campaign planned and had not written when it stopped."""
        row = self.db.execute("SELECT unrecorded FROM runs WHERE campaign_id = ?", (campaign_id,)).fetchone()
        return int(row[0]) if row else 0

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

    def claim_new(self, campaign_id: str, requests: Sequence[tuple[str, Sequence[tuple[str, int, list[str]]]]],
                  run_id: str | None = None) -> list[list[tuple[int, str]]]:
        """Write recipients not yet in the ledger straight as ``claimed`` (the claim *is* their first
        write), one transaction for several requests, committed before the provider is called. A request
        is (batch_id, [(text, parts, [recipient, ...]), ...]): its recipients by text (a request usually
        has one text for all, or one recipient). Returns each request's claimed (rowid, recipient): a
        recipient already in the ledger (whatever its status) is left alone and not claimed.

        A send writes the recipients it reaches in the order of their numbers: the primary-key index
        then grows at its end, where 500 random numbers per commit would rewrite ~500 index pages each
        (3.4x slower for a million, measured)."""
        stamp = now_iso()
        known = self._text_ids.setdefault(campaign_id, {})
        out: list[list[tuple[int, str]]] = []
        try:
            with self.transaction() as db:
                added = 0
                for batch_id, by_text in requests:
                    # one statement per text, over a flat JSON list of numbers
                    claimed: list[tuple[int, str]] = []
                    for text, parts, numbers in by_text:
                        claimed += self._insert_claimed(db, campaign_id, self._text_id(db, campaign_id, text, known),
                                                        parts, batch_id, stamp, numbers)
                    out.append(claimed)
                    added += len(claimed)
                self._recorded(db, campaign_id, run_id, added)
        except BaseException as exc:
            self._text_ids.pop(campaign_id, None)  # texts written by a rolled-back transaction are gone
            if isinstance(exc, sqlite3.Error):
                raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
            raise
        return out

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

    def claim(self, rowids: Sequence[int], batch_id: str) -> None:
        """Commit the claim of these rows before the provider is called."""
        self.claim_many([(rowids, batch_id)])

    def claim_many(self, claims: Sequence[tuple[Sequence[int], str]]) -> None:
        """Commit the claims of several batches (rowids, batch_id) in one transaction (one fsync), before
        the provider is called for any of them."""
        stamp = now_iso()
        try:
            with self.transaction() as db:
                for rowids, batch_id in claims:
                    marks = ",".join("?" * len(rowids))
                    cursor = db.execute(
                        f"UPDATE messages SET status = 'claimed', attempts = attempts + 1, batch_id = ?, "
                        f"claimed_at = ?, updated_at = ? WHERE rowid IN ({marks}) AND status = 'pending'",
                        (batch_id, stamp, stamp, *rowids))
                    if cursor.rowcount != len(set(rowids)):  # rolled back: nothing of this group is claimed
                        raise LedgerError(
                            f"{len(set(rowids)) - cursor.rowcount} of the {len(set(rowids))} row(s) of batch "
                            f"{batch_id} are no longer pending; nothing was claimed or sent")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None

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
            if isinstance(updates, dict):
                same = updates
            else:
                same = {}
                for status, provider_id, reason, cost, rowid in updates:
                    same.setdefault((status, reason, cost), []).append((rowid, provider_id))
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

    def release(self, rowids: Sequence[int], status: str = "pending", reason: str | None = None) -> None:
        """Put claimed rows back (the provider said nothing was accepted) or mark them (in_doubt...)."""
        marks = ",".join("?" * len(rowids))
        self._write(f"UPDATE messages SET status = ?, reason = ?, updated_at = ? WHERE rowid IN ({marks})",
                    (status, reason, now_iso(), *rowids))

    def stale_claims_to_in_doubt(self, campaign_id: str) -> int:
        """Rows left ``claimed`` by a run that died: nobody knows if they went out."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE messages SET status = 'in_doubt', reason = 'run interrupted between claim and "
                                "settle', updated_at = ? WHERE campaign_id = ? AND status = 'claimed'",
                                (now_iso(), campaign_id))
            return cursor.rowcount

    def resend_in_doubt(self, campaign_id: str) -> int:
        with self.transaction() as db:
            cursor = db.execute("UPDATE messages SET status = 'pending', reason = 'in doubt: resent on request', "
                                "updated_at = ? WHERE campaign_id = ? AND status = 'in_doubt'",
                                (now_iso(), campaign_id))
            return cursor.rowcount

    def record_delivery(self, provider: str, provider_id: str, status: str, reason: str | None) -> bool:
        """Store a delivery report pulled from the provider; True when it changed a message of ours. The
        one delivery-report writer is :func:`runner.ledger.receiving.record_report` (the receiver's): a
        report for an in-doubt row settles it, one for a claimed row waits in the backlog, one seen
        before is stored once."""
        from runner.ledger.receiving import MessageKey, record_report

        known = status if status in ("delivered", "failed", "pending") else "pending"
        outcome = record_report(self, provider, MessageKey(provider_id=provider_id), known, reason)
        return outcome.updated > 0 if known != "pending" else outcome.matched > 0

    # == issue 15: integrity, versions, read-only ledgers, the opt-out generation ===========================
    # Plain SQL where it applies (PostgreSQL can run it); PRAGMAs and the read-only fallback are SQLite's
    # own (a PostgreSQL backend has no page checks to run and keeps its version in a table of its own).

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
    # == end issue 15 =========================================================================================

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
        return self.db.execute(sql, params).fetchall()

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
            return self.db.execute("SELECT recipient, status, provider_id, reason, sent_at FROM test_sends "
                                   "WHERE campaign_id = ? ORDER BY sent_at DESC LIMIT ?",
                                   (campaign_id, limit)).fetchall()
        except sqlite3.OperationalError as exc:  # no test send yet: the first one makes the table
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
            if isinstance(exc, sqlite3.Error):
                raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
            raise

    def sent_without_provider_id(self, campaign_id: str) -> list[tuple[str, str, str | None]]:
        """(batch_id, recipient, claimed_at) of sent rows a reconciliation settled without a provider id."""
        return self.db.execute(
            "SELECT batch_id, recipient, claimed_at FROM messages WHERE campaign_id = ? AND status = 'sent' "
            "AND provider_id IS NULL AND batch_id IS NOT NULL AND batch_id != 'adopted' ORDER BY batch_id",
            (campaign_id,)).fetchall()

    def set_provider_ids(self, campaign_id: str, pairs: Sequence[tuple[str, str]]) -> int:
        """(recipient, provider_id): record ids learnt later, on rows that have none."""
        with self.transaction() as db:
            cursor = db.executemany("UPDATE messages SET provider_id = ? WHERE campaign_id = ? AND recipient = ? "
                                    "AND provider_id IS NULL", [(pid, campaign_id, r) for r, pid in pairs])
            return cursor.rowcount
