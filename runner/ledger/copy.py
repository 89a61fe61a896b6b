"""``smsrun ledger copy FROM TO``: everything one ledger holds, into another (SQLite <-> PostgreSQL).

Campaigns, their recipients with their states, texts, runs, test sends, opt-outs with their log,
replies, delivery reports and the receiver's backlog. The target may already hold other campaigns (and
opt-outs, replies...: those are merged, a number already opted out stays as it is); it is refused when
it holds a campaign the copy would overwrite. The copy is one transaction on the target: all or nothing.
Then the rows are counted on both sides and the counts printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from runner.errors import LedgerError
from runner.ledger.store import Ledger
from runner.ledger.url import is_postgres, redact_url

PER_CAMPAIGN = {  # table -> columns (rows that belong to campaigns)
    "campaigns": ("id", "content_hash", "provider", "created_at"),
    "runs": ("campaign_id", "run_id", "started_at", "unrecorded"),
    "test_sends": ("campaign_id", "recipient", "as_recipient", "text", "status", "provider_id", "reason", "sent_at"),
}
MESSAGE_COLUMNS = ("campaign_id", "recipient", "status", "attempts", "text_id", "parts", "batch_id", "provider_id",
                   "reason", "cost", "claimed_at", "updated_at")
SHARED = {  # table -> (columns, conflict handling): rows every campaign shares
    "optouts": ("number", "added_at", "added_by", "reason", "source"),
    "optout_log": ("number", "action", "at", "who", "reason", "source"),
    "replies": ("provider", "provider_ref", "sender", "text", "received_at", "opt_out"),
    "reports": ("provider", "provider_id", "status", "reason", "received_at"),
    "report_backlog": ("label", "provider", "provider_id", "campaign_id", "recipient", "batch_id", "status", "reason",
                       "received_at", "expires_at"),
}
CHUNK = 20_000


def open_ledger(where: str, state_dir: Path) -> Ledger:
    """A ledger by URL (``postgresql://…``) or SQLite path, whatever ``$SMSRUN_LEDGER`` says."""
    if is_postgres(where):
        from runner.ledger.pg.backend import PostgresLedger

        return PostgresLedger(state_dir, where)
    path = Path(where).expanduser()
    return Ledger(path.parent, path=path)


def copy_ledger(source: str, target: str, state_dir: Path) -> dict[str, tuple[int, int]]:
    """Copy everything; returns table -> (rows in the source, rows the target now holds of them)."""
    if not is_postgres(source) and not Path(source).expanduser().is_file():
        raise LedgerError(f"{source}: no such ledger file")
    with open_ledger(source, state_dir) as src, open_ledger(target, state_dir) as dst:
        campaigns = [str(r[0]) for r in src.db.execute("SELECT id FROM campaigns ORDER BY id")]
        campaigns += [str(r[0]) for r in src.db.execute("SELECT DISTINCT campaign_id FROM messages")
                      if str(r[0]) not in campaigns]
        taken = [c for c in campaigns if dst.db.execute(
            "SELECT 1 FROM campaigns WHERE id = ? UNION ALL SELECT 1 FROM messages WHERE campaign_id = ? LIMIT 1",
            (c, c)).fetchone()]
        if taken:
            raise LedgerError(f"the target {redact_url(target)} already holds campaign(s) {', '.join(taken)}: "
                              "nothing was copied (copy into an empty ledger, or remove them there first)")
        counts: dict[str, tuple[int, int]] = {}
        before = {table: _count(dst, table) for table in SHARED}
        with dst.transaction():
            for table, columns in PER_CAMPAIGN.items():
                rows = _rows(src, table, columns)
                _insert(dst, table, columns, rows)
                counts[table] = (len(rows), 0)
            text_ids = _copy_texts(src, dst)
            counts["texts"] = (len(text_ids), 0)
            moved = 0
            for chunk in _chunks(src.db.execute(f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages ORDER BY rowid")):
                mapped = [(*r[:4], text_ids.get(r[4]) if r[4] is not None else None, *r[5:]) for r in chunk]
                _insert(dst, "messages", MESSAGE_COLUMNS, mapped)
                moved += len(mapped)
            counts["messages"] = (moved, 0)
            for table, columns in SHARED.items():
                rows = _rows(src, table, columns, order="id" if table != "optouts" else "number")
                _insert(dst, table, columns, rows, ignore_conflicts=table in ("optouts", "replies"))
                counts[table] = (len(rows), 0)
        return _verify(dst, campaigns, counts, before)


def _rows(ledger: Ledger, table: str, columns: Sequence[str], order: str = "1") -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ledger.db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")]


def _chunks(rows: Iterable[Any]) -> Iterable[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(tuple(row))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _copy_texts(src: Ledger, dst: Ledger) -> dict[int, int]:
    """Texts get new ids in the target: old id -> new id."""
    mapping: dict[int, int] = {}
    for old, campaign_id, text in src.db.execute("SELECT id, campaign_id, text FROM texts ORDER BY id").fetchall():
        row = dst.db.execute("INSERT INTO texts (campaign_id, text) VALUES (?, ?) RETURNING id",
                             (campaign_id, text)).fetchone()
        mapping[int(old)] = int(row[0])
    return mapping


def _insert(ledger: Ledger, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *,
            ignore_conflicts: bool = False) -> None:
    if not rows:
        return
    if ledger.backend == "postgresql" and not ignore_conflicts:
        with ledger.pg.conn.cursor() as cur, cur.copy(  # type: ignore[attr-defined]
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    ledger.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                          + (" ON CONFLICT DO NOTHING" if ignore_conflicts else ""), rows)


def _count(ledger: Ledger, table: str) -> int:
    return int(ledger.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _verify(dst: Ledger, campaigns: list[str], counts: dict[str, tuple[int, int]],
            before: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Count what the target holds of what was copied: the campaigns' rows, and the rows the shared tables
    gained (opt-outs and replies the target already had are merged, not added twice)."""
    out: dict[str, tuple[int, int]] = {}
    for table, (copied, _) in counts.items():
        if table in SHARED:
            found = _count(dst, table) - before[table]
        else:
            key = "id" if table == "campaigns" else "campaign_id"
            found = sum(int(dst.db.execute(f"SELECT count(*) FROM {table} WHERE {key} = ?", (c,)).fetchone()[0])
                        for c in campaigns)
        out[table] = (copied, found)
    wrong = {t: c for t, c in out.items() if c[0] != c[1] and t not in ("optouts", "replies")}
    if wrong:
        raise LedgerError(f"the copy does not match the source (table: copied, found): {wrong}")
    return out
