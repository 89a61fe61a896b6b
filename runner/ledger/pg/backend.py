"""The PostgreSQL ledger: the SQLite backend's methods, on a server every runner and receiver reaches.

:class:`PostgresLedger` subclasses :class:`runner.ledger.store.Ledger`: the SQL both dialects run is
shared (:class:`runner.ledger.base.LedgerBase`; ``?`` marks become ``%s`` in
:class:`runner.ledger.pg.connection.PgDb`); this module replaces what differs: opening (schema,
migrations), transactions (fenced by the campaign's lease), the bulk writes (arrays through ``unnest``:
one statement per request, never a round trip per recipient),
durability (a settle commits with ``synchronous_commit = off`` like SQLite's ``synchronous=NORMAL``:
the next claim's commit flushes it), and the campaign lock (a lease, :mod:`runner.ledger.pg.lease`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

from runner.errors import LedgerError
from runner.ledger.model import SettleGroups, SettleUpdate, Status, now_iso, settle_groups
from runner.ledger.pg import schema as pg_schema
from runner.ledger.pg.connection import PgDb, connect, ledger_error
from runner.ledger.pg.lease import Lease, holder_of
from runner.ledger.pg.settler import Settler
from runner.ledger.sqlite.backend import Ledger
from runner.ledger.url import configured, redact_url, split_schema


class PostgresLedger(Ledger):
    backend = "postgresql"
    db_errors: tuple[type[BaseException], ...] = (psycopg.Error,)
    write_errors: tuple[type[BaseException], ...] = ()  # PgDb's errors are clear LedgerErrors already
    TEST_SENDS_TABLE = "SELECT 1"  # part of the schema (a role without CREATE still records test sends)

    def __init__(self, state_dir: Path, url: str | None = None) -> None:
        self.state_dir = state_dir
        self.url = url or configured() or ""
        self.conninfo, self.schema = split_schema(self.url)
        self.where = redact_url(self.url)
        self.path = Path(self.where)  # for messages only: there is no file
        conn = connect(self.conninfo, self.schema)
        self.pg = PgDb(conn, self.conninfo)
        self.db = self.pg  # type: ignore[assignment]
        try:
            pg_schema.migrate(conn, self.schema, self.where)
            conn.execute(f'SET search_path TO "{self.schema}"')
        except psycopg.Error as exc:
            conn.close()
            raise ledger_error(exc, self.where, self.pg.secret) from None
        except BaseException:
            conn.close()
            raise
        self._locks: dict[str, Any] = {}
        self._leases: dict[str, Lease] = {}
        self._text_ids: dict[str, dict[str, int]] = {}
        self._depth = 0
        self._fence_campaign: str | None = None
        self._settler: Settler | None = None  # the writer thread's second connection (sibling)

    def describe(self) -> str:
        return self.where

    def sibling(self) -> Ledger:
        other = PostgresLedger(self.state_dir, self.url)
        other.fence, other._fence_campaign = self.fence, self._fence_campaign
        other._settler = Settler(other._helper)  # the send loop's writer: settles beside the claims
        return other

    def _helper(self) -> PostgresLedger:
        helper = PostgresLedger(self.state_dir, self.url)
        helper.fence, helper._fence_campaign = self.fence, self._fence_campaign
        return helper

    def _drain(self) -> None:
        if self._settler is not None:
            self._settler.drain()

    def close(self) -> None:
        if self._settler is not None:
            self._settler.close()
            self._settler = None
        for lease in self._leases.values():
            lease.release()
        self._leases.clear()
        with contextlib.suppress(psycopg.Error):
            self.db.close()

    # -- transactions, fenced by the lease ---------------------------------------------------------------
    @contextlib.contextmanager
    def _outermost(self) -> Iterator[Any]:
        self._depth = 1
        try:
            with self.pg.conn.transaction():
                if self.fence is not None:
                    self._check_fence()
                try:
                    yield self.db
                except BaseException:
                    if self._settler is not None:  # nothing of this transaction left in flight
                        self._settler.drain(quiet=True)
                    raise
                self._drain()  # the settles queued in this transaction commit before it does
        except psycopg.Error as exc:
            raise ledger_error(exc, self.where, self.pg.secret) from None
        finally:
            self._depth = 0

    def _check_fence(self) -> None:
        row = self.db.execute("SELECT 1 FROM leases WHERE campaign_id = ? AND run_id = ? AND expires_at > now() "
                              "FOR KEY SHARE", (self._fence_campaign, self.fence)).fetchone()
        if row is None:
            raise LedgerError(f"the lease of campaign {self._fence_campaign!r} in {self.where} is no longer held by "
                              "this run (expired or taken over); nothing more is written or sent")

    def set_durable(self, durable: bool) -> None:
        self.db.execute("SET synchronous_commit = " + ("on" if durable else "off"))

    def _write(self, sql: str, params: Any, many: bool = False) -> None:
        self._drain()  # a release may touch rows a queued settle is updating: after it (see settler.py)
        super()._write(sql, params, many)

    def claim_many(self, claims: Sequence[tuple[Sequence[int], str]]) -> None:
        self._drain()
        super().claim_many(claims)

    # -- the campaign lock: a lease -------------------------------------------------------------------------
    def lock_campaign(self, campaign_id: str, timeout: float = 0.0) -> None:
        lease = Lease(self.conninfo, self.schema, self.where, campaign_id, timeout=timeout)
        self._leases[campaign_id] = lease
        self.fence, self._fence_campaign = lease.run_id, campaign_id

    def check_lease(self) -> None:
        for lease in self._leases.values():
            lease.check()

    def lease_holder(self, campaign_id: str) -> dict[str, Any] | None:
        return holder_of(self.db, campaign_id)

    # -- what differs from SQLite -----------------------------------------------------------------------
    def pending_after(self, campaign_id: str, after_rowid: int, limit: int) -> list[tuple[int, str, int | None]]:
        return list(self.db.execute(
            "SELECT rowid, recipient, text_id FROM messages WHERE campaign_id = ? AND rowid > ? "
            "AND status = 'pending' ORDER BY rowid LIMIT ?", (campaign_id, after_rowid, limit)).fetchall())

    def add_pending(self, campaign_id: str, recipients: Iterable[tuple[str, str, int]], chunk: int = 50_000, *,
                    run_id: str | None = None, checkpoint: bool = True) -> int:
        text_ids = {text: i for i, text in self.texts(campaign_id).items()}
        added = 0
        batch: list[tuple[str, str, int]] = []
        stamp = now_iso()

        def flush() -> None:
            nonlocal added
            with self.transaction() as db:
                ids = [self._text_id(db, campaign_id, text, text_ids) for _, text, _ in batch]
                cursor = db.execute(
                    "INSERT INTO messages (campaign_id, recipient, status, text_id, parts, updated_at) "
                    "SELECT ?, r, 'pending', t, p, ? FROM unnest(?::text[], ?::bigint[], ?::int[]) AS u(r, t, p) "
                    "ON CONFLICT DO NOTHING", (campaign_id, stamp, [b[0] for b in batch], ids, [b[2] for b in batch]))
                self._recorded(db, campaign_id, run_id, max(cursor.rowcount, 0))
                added += max(cursor.rowcount, 0)
            batch.clear()

        for item in recipients:
            batch.append(item)
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
        return added

    def start_run(self, campaign_id: str, run_id: str, unrecorded: int) -> None:
        self._write("INSERT INTO runs (campaign_id, run_id, started_at, unrecorded) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (campaign_id) DO UPDATE SET run_id = excluded.run_id, started_at = "
                    "excluded.started_at, unrecorded = excluded.unrecorded",
                    (campaign_id, run_id, now_iso(), max(0, unrecorded)))

    @staticmethod
    def _recorded(db: Any, campaign_id: str, run_id: str | None, added: int) -> None:
        if run_id is not None and added:
            db.execute("UPDATE runs SET unrecorded = greatest(0, unrecorded - ?) WHERE campaign_id = ? AND run_id = ?",
                       (added, campaign_id, run_id))

    @staticmethod
    def _text_id(db: Any, campaign_id: str, text: str, known: dict[str, int]) -> int:
        text_id = known.get(text)
        if text_id is None:
            row = db.execute("SELECT id FROM texts WHERE campaign_id = ? AND md5(text) = md5(?) AND text = ?",
                             (campaign_id, text, text)).fetchone()
            if row is None:
                row = db.execute("INSERT INTO texts (campaign_id, text) VALUES (?, ?) RETURNING id",
                                 (campaign_id, text)).fetchone()
            text_id = known[text] = int(row[0])
        return text_id

    @staticmethod
    def _insert_claimed(db: Any, campaign_id: str, text_id: int, parts: int, batch_id: str,
                        stamp: str, numbers: list[str]) -> list[tuple[int, str]]:
        rows = db.execute(
            "INSERT INTO messages (campaign_id, recipient, status, attempts, text_id, parts, batch_id, claimed_at, "
            "updated_at) SELECT ?, r, 'claimed', 1, ?, ?, ?, ?, ? FROM unnest(?::text[]) WITH ORDINALITY AS u(r, n) "
            "ORDER BY n ON CONFLICT DO NOTHING RETURNING rowid, recipient",
            (campaign_id, text_id, parts, batch_id, stamp, stamp, numbers)).fetchall()
        return sorted(((int(r), str(n)) for r, n in rows))

    def settle(self, updates: Sequence[SettleUpdate] | SettleGroups, *,
               opted_out: Sequence[str] = (), source: str = "provider") -> None:
        if self._settler is not None and self._depth:
            self._settler.submit(updates, opted_out, source)  # committed before this transaction commits
            return
        stamp = now_iso()
        same = settle_groups(updates)
        with self.transaction() as db:
            if self._depth == 1:
                db.execute("SET LOCAL synchronous_commit = off")  # see the module docstring
            # the provider ids are noted here in one statement (schema migration 4), not row by row by
            # the trigger that notes those other writers set
            db.execute("SELECT set_config('smsrun.noted', 'on', true)")
            rowids: list[int] = []
            ids: list[str | None] = []
            for (status, reason, cost), pairs in same.items():
                rids, pids = [p[0] for p in pairs], [p[1] for p in pairs]
                db.execute("UPDATE messages SET status = ?, provider_id = u.pid, reason = ?, cost = ?, updated_at = ? "
                           "FROM unnest(?::bigint[], ?::text[]) AS u(rid, pid) WHERE messages.rowid = u.rid",
                           (status, reason, cost, stamp, rids, pids))
                rowids += rids
                ids += pids
            db.execute("INSERT INTO provider_ids (provider_id, rowid) SELECT pid, rid FROM unnest(?::bigint[], "
                       "?::text[]) AS u(rid, pid) WHERE pid IS NOT NULL", (rowids, ids))
            db.execute("SELECT set_config('smsrun.noted', '', true)")
            if opted_out:
                self.add_optout_numbers(opted_out, stamp=stamp, who="smsrun",
                                        reason="the provider reports an opt-out", source=source)

    # -- versions and checks (issue 15) -------------------------------------------------------------------
    def _check_version(self) -> None:
        with self.pg.conn.cursor() as cur:
            pg_schema.refuse_newer(pg_schema.found_version(cur, self.schema), self.where)

    def check_readable(self, campaign_id: str | None = None) -> None:
        self._check_version()
        known = tuple(s.value for s in Status)
        where, params = ("campaign_id = ? AND ", (campaign_id, list(known))) if campaign_id else ("", (list(known),))
        unknown = [r[0] for r in self.db.execute(
            f"SELECT DISTINCT status FROM messages WHERE {where}status <> ALL(?) LIMIT 5", params)]
        if unknown:
            shown = ", ".join(repr(str(u)[:40]) for u in unknown)
            raise LedgerError(f"the ledger {self.where} was written by a newer smsrun: unknown status {shown}; "
                              "upgrade smsrun (nothing was read or changed)")

    def check_integrity(self) -> None:
        """The server checks its own pages; nothing to run here."""

    def damaged(self, detail: object) -> LedgerError:
        return LedgerError(f"the PostgreSQL ledger {self.where} cannot be read: {detail}")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        yield
