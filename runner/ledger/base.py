"""The ledger API both backends share: the SQL they both run, on ``self.db`` and ``self.transaction()``.

:class:`LedgerBase` holds what does not depend on the engine (``?`` marks, ``ON CONFLICT``, the column
``rowid``, which SQLite has of its own and PostgreSQL as a ``bigserial``). A backend supplies the
connection, its outermost transaction (:meth:`_outermost`), the bulk writes (``add_pending``,
``_insert_claimed``, ``settle``), locking and its checks: :class:`runner.ledger.sqlite.backend.Ledger`,
and :class:`runner.ledger.pg.backend.PostgresLedger` beside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from runner.errors import LedgerError
from runner.ledger.model import LedgerRow, Status, now_iso
from runner.ledger.queries import LedgerQueries

if TYPE_CHECKING:
    from runner.ledger.sqlite.backend import Ledger


class LedgerBase(LedgerQueries):
    """The backend-independent part of :class:`runner.ledger.store.Ledger`."""

    backend: str
    db: Any
    path: Path
    state_dir: Path
    db_errors: tuple[type[BaseException], ...] = ()
    write_errors: tuple[type[BaseException], ...] = ()  # the driver's errors a write turns into LedgerError
    fence: str | None = None  # the run id every claim and settle checks (the PostgreSQL lease)
    _depth: int
    _text_ids: dict[str, dict[str, int]]

    def check_lease(self) -> None:
        """Raise when this run can no longer prove it holds its campaign (PostgreSQL leases; the SQLite
        backend's lock is a file lock the OS releases only with the process)."""


    # -- transactions ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
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


    def _outermost(self) -> contextlib.AbstractContextManager[Any]:  # pragma: no cover - the backend's
        """The backend's own transaction, when none is open (sets ``_depth`` to 1 while it runs)."""
        raise NotImplementedError

    def _write(self, sql: str, params: Any, many: bool = False) -> None:
        try:
            with self.transaction() as db:
                if many:
                    db.executemany(sql, params)
                else:
                    db.execute(sql, params)
        except self.write_errors as exc:
            raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None

    @staticmethod
    def _recorded(db: Any, campaign_id: str, run_id: str | None, added: int) -> None:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _insert_claimed(db: Any, campaign_id: str, text_id: int, parts: int, batch_id: str,  # pragma: no cover
                        stamp: str, numbers: list[str]) -> list[tuple[int, str]]:
        raise NotImplementedError

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


    def texts(self, campaign_id: str) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, text FROM texts WHERE campaign_id = ?", (campaign_id,)))


    def finish_run(self, campaign_id: str, run_id: str) -> None:
        """Every recipient of the run's plan is now in the ledger."""
        self._write("UPDATE runs SET unrecorded = 0 WHERE campaign_id = ? AND run_id = ?", (campaign_id, run_id))

    def unrecorded(self, campaign_id: str) -> int:
        """Recipients the last send of the campaign planned and had not written when it stopped."""
        row = self.db.execute("SELECT unrecorded FROM runs WHERE campaign_id = ?", (campaign_id,)).fetchone()
        return int(row[0]) if row else 0


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
            if isinstance(exc, self.write_errors):
                raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None
            raise
        return out


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
        except self.write_errors as exc:
            raise LedgerError(f"cannot write the ledger ({self.path}): {exc}") from None


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
            return int(cursor.rowcount)

    def resend_in_doubt(self, campaign_id: str) -> int:
        with self.transaction() as db:
            cursor = db.execute("UPDATE messages SET status = 'pending', reason = 'in doubt: resent on request', "
                                "updated_at = ? WHERE campaign_id = ? AND status = 'in_doubt'",
                                (now_iso(), campaign_id))
            return int(cursor.rowcount)

    def record_delivery(self, provider: str, provider_id: str, status: str, reason: str | None) -> bool:
        """Store a delivery report pulled from the provider; True when it changed a message of ours. The
        one delivery-report writer is :func:`runner.ledger.receiving.record_report` (the receiver's): a
        report for an in-doubt row settles it, one for a claimed row waits in the backlog, one seen
        before is stored once."""
        from runner.ledger.receiving import MessageKey, record_report

        known = status if status in ("delivered", "failed", "pending") else "pending"
        outcome = record_report(cast("Ledger", self), provider, MessageKey(provider_id=provider_id), known, reason)
        return outcome.updated > 0 if known != "pending" else outcome.matched > 0

