"""A psycopg 3 connection that runs the ledger's portable SQL (``?`` marks) and speaks in clear errors.

Every database error becomes a :class:`LedgerError` naming the ledger by its URL without password: an
unreachable server, a refused password, a missing database, a connection lost mid-send. The send stops
at the first one (nothing is sent after the connection is lost) and the next run resumes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors

from runner.errors import LedgerError
from runner.ledger.url import redact_url

_CACHE: dict[str, str] = {}
_PASSWORD = re.compile(r"(password=)\S+", re.IGNORECASE)


def portable(sql: str) -> str:
    """``?`` -> ``%s`` (and a literal ``%`` kept): the SQLite parameter style in psycopg's."""
    out = _CACHE.get(sql)
    if out is None:
        out = _CACHE[sql] = sql.replace("%", "%%").replace("?", "%s")
    return out


def clean(exc: BaseException, secret: str | None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = _PASSWORD.sub(r"\1***", text)
    if secret:
        text = text.replace(secret, "***")
    return text


def ledger_error(exc: BaseException, where: str, secret: str | None) -> LedgerError:
    detail = clean(exc, secret)
    lost = isinstance(exc, psycopg.OperationalError)
    if isinstance(exc, psycopg.errors.IdleInTransactionSessionTimeout):
        # SQLSTATE class 25 (psycopg's InternalError), yet the server has closed the session: a lost connection
        detail += (f" (this run stopped for longer than the lease's {idle_timeout():g} s inside a transaction, "
                   "as a paused process or machine does; another run may have taken the campaign over)")
        lost = True
    if lost:
        return LedgerError(f"lost or refused connection to the PostgreSQL ledger {where}: {detail}. Nothing more was "
                           "sent; run the same command again to resume once the server is reachable")
    return LedgerError(f"the PostgreSQL ledger {where} refused the operation: {detail}")


def connect(url: str, schema: str) -> psycopg.Connection[Any]:
    """Open a connection (autocommit: transactions are explicit) with the ledger's schema on its path."""
    where = redact_url(url)
    secret = _secret(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="smsrun",
                               keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
        # a frozen or cut-off smsrun must not keep rows locked for ever: the server ends a session idle
        # in a transaction (a frozen process between two statements) after the lease's time to live
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle_timeout() * 1000)}")
    except psycopg.Error as exc:
        raise LedgerError(f"cannot open the PostgreSQL ledger {where}: {clean(exc, secret)}") from None
    return conn


def idle_timeout() -> float:
    from runner.ledger.pg.lease import lease_ttl

    return max(1.0, lease_ttl())


def _secret(url: str) -> str | None:
    found = re.match(r"^[a-z0-9+]+://[^:/@]*:([^@]+)@", url, re.IGNORECASE)
    return found.group(1) if found else None


class PgDb:
    """``execute``/``executemany`` as the ledger calls them on SQLite, on a psycopg connection."""

    # messages by provider id (runner.ledger.receiving): through the table schema migration 4 keeps,
    # checked against the message's own (current) id
    PROVIDER_ID_LOOKUP = ("SELECT DISTINCT m.rowid, m.status FROM provider_ids p JOIN messages m ON m.rowid = p.rowid "
                          "WHERE p.provider_id = ? AND m.provider_id COLLATE \"C\" = p.provider_id")

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self.conn = conn
        self.where = redact_url(url)
        self.secret = _secret(url)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        try:
            return self.conn.execute(portable(sql), params)  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise ledger_error(exc, self.where, self.secret) from None

    def executemany(self, sql: str, params: Any) -> psycopg.Cursor[Any]:
        try:
            cur = self.conn.cursor()
            cur.executemany(portable(sql), list(params))
            return cur
        except psycopg.Error as exc:
            raise ledger_error(exc, self.where, self.secret) from None

    def close(self) -> None:
        self.conn.close()
