"""Read the ledger's tables directly in tests, on whichever backend the test runs (``$SMSRUN_LEDGER``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

COLUMNS = {"messages": "campaign_id, recipient, status, attempts, text_id, parts, batch_id, provider_id, reason, "
                       "cost, claimed_at, updated_at"}


def _pg() -> tuple[str, str] | None:
    url = os.environ.get("SMSRUN_LEDGER", "")
    if not url.startswith(("postgresql://", "postgres://")):
        return None
    from runner.ledger.url import split_schema

    return split_schema(url)


def is_postgres() -> bool:
    return _pg() is not None


def exists(state_dir: Path) -> bool:
    return _pg() is not None or (state_dir / "ledger.sqlite").exists()


def query(state_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` marks); [] when there is no ledger (or no such table) yet."""
    pg = _pg()
    if pg is not None:
        import psycopg

        conninfo, schema = pg
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
        except psycopg.errors.UndefinedTable:
            return []
    path = state_dir / "ledger.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=30.0)
    try:
        return list(db.execute(sql, params))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()


def table(state_dir: Path, name: str) -> list[tuple[Any, ...]]:
    """Every row of a ledger table, in insertion order, with the SQLite backend's columns."""
    columns = COLUMNS.get(name, "*")
    order = "rowid" if _pg() is None else ("rowid" if name == "messages" else
                                         "id" if name in ("reports", "replies", "optout_log", "report_backlog",
                                                          "texts") else "1")
    return query(state_dir, f"SELECT {columns} FROM {name} ORDER BY {order}")


def drop() -> None:
    """Drop the PostgreSQL ledger's schema (a lost ledger)."""
    import psycopg

    pg = _pg()
    assert pg is not None
    conninfo, schema = pg
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
