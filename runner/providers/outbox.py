"""The embedded ``outbox`` provider: messages go into a local SQLite outbox instead of a network.

It behaves like a real provider where it matters: it accepts a batch in one transaction, gives every
message an id, and can tell after a crash which messages of a batch it accepted (reconciliation by
batch tag), so the quick start needs no account and still exercises exactly-once.

``SMSRUN_OUTBOX_FAULTS`` (tests and benchmarks only) injects faults, e.g.
``retry=0.1,in_doubt_after_accept=0.02,seed=7``: ``retry`` refuses a batch before recording it;
``in_doubt_after_accept`` records the batch, then fails as a dropped connection would.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.campaign.model import Sender
from runner.errors import ConfigError, InDoubtError, NotSentError, RetryableError, SmsrunError
from runner.providers.base import (
    Batch,
    Capabilities,
    Outcome,
    Provider,
    ProviderHistory,
    RecipientResult,
    SentTrace,
)
from runner.providers.settings import ProviderSettings, setting
from runner.providers.spec import ProviderSpec

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


def outbox_path(state_dir: Path) -> Path:
    return state_dir / "outbox.sqlite"


def _faults() -> dict[str, float]:
    raw = os.environ.get("SMSRUN_OUTBOX_FAULTS", "")
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"SMSRUN_OUTBOX_FAULTS: {item!r} is not key=number") from None
    return out


@dataclass(frozen=True)
class OutboxSettings(ProviderSettings):
    batch_size: int = setting(500, "messages per batch (default 500)", minimum=1)


def capabilities(settings: OutboxSettings) -> Capabilities:
    return Capabilities(max_recipients_per_request=settings.batch_size, one_text_many_recipients=True,
                        stop_mention=None, can_reconcile=True)


PROVIDER = ProviderSpec(
    name="outbox",
    title="the outbox",
    description="a local SQLite outbox (smsrun outbox); reconciles by batch",
    factory="runner.providers.outbox:OutboxProvider",
    settings=OutboxSettings,
    capabilities=capabilities,
    env=("SMSRUN_OUTBOX_FAULTS",),
)


class OutboxProvider(Provider):
    name = "outbox"
    spec = PROVIDER
    capabilities = capabilities(OutboxSettings())

    def __init__(self, settings: Mapping[str, Any] | None = None, *, state_dir: Path | None = None) -> None:
        super().__init__(settings, state_dir=state_dir)
        if state_dir is None:
            raise ConfigError("the outbox provider needs a state folder")
        self.path = outbox_path(state_dir)
        self._db: sqlite3.Connection | None = None
        self._faults = _faults()
        self._random = random.Random(self._faults.get("seed"))
        self._first = 0  # the id of the last batch's first message
        if self.path.exists():
            _ = self.db  # issue 15: a damaged outbox is refused before anything is claimed

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

    def send(self, batch: Batch) -> list[RecipientResult]:
        if self._random.random() < self._faults.get("retry", 0.0):
            raise RetryableError("outbox: injected temporary failure", retry_after=0.0)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        sender = batch.sender.value or "short-code"
        db = self.db
        try:
            self._insert(db, batch, sender, stamp)
        except sqlite3.Error as exc:  # issue 15: rolled back, so nothing was recorded: not sent
            raise NotSentError(f"cannot write the outbox {self.path} ({exc}): nothing was sent") from None
        first = self._first
        if self._random.random() < self._faults.get("in_doubt_after_accept", 0.0):
            raise InDoubtError("outbox: injected connection drop after the batch was accepted")
        return [RecipientResult(m.recipient, Outcome.SENT, provider_id=f"outbox-{first + i}", cost=None)
                for i, m in enumerate(batch.messages)]

    def _insert(self, db: sqlite3.Connection, batch: Batch, sender: str, stamp: str) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            cursor = db.execute("SELECT coalesce(max(id), 0) FROM outbox")
            first = int(cursor.fetchone()[0]) + 1
            db.executemany(
                "INSERT INTO outbox (id, batch_id, campaign_id, recipient, sender, commercial, encoding, text, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(first + i, batch.batch_id, batch.campaign_id, m.recipient, sender, int(batch.commercial),
                  batch.encoding, m.text, stamp) for i, m in enumerate(batch.messages)])
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._first = first

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        found: dict[str, RecipientResult] = {}
        for row_id, recipient in self.db.execute("SELECT id, recipient FROM outbox WHERE batch_id = ?",
                                                 (batch.batch_id,)):
            found[recipient] = RecipientResult(recipient, Outcome.SENT, provider_id=f"outbox-{row_id}")
        return found

    def history(self, campaign_id: str, sender: Sender, wanted: Mapping[str, str],
                since: datetime) -> ProviderHistory | None:
        """The outbox's own table, by campaign id (issue 11)."""
        if not self.path.exists():
            return ProviderHistory("the outbox", [], 0, None, since)
        traces: list[SentTrace] = []
        for row_id, recipient, created in self.db.execute(
                "SELECT id, recipient, created_at FROM outbox WHERE campaign_id = ? ORDER BY id", (campaign_id,)):
            if recipient in wanted:
                traces.append(SentTrace(recipient, f"outbox-{row_id}", datetime.fromisoformat(created)))
        oldest = min((t.at for t in traces if t.at), default=None)
        return ProviderHistory("the outbox", traces, len(traces), oldest, since, requests=1)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def list_outbox(state_dir: Path, *, campaign_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Messages recorded in the outbox, newest last."""
    path = outbox_path(state_dir)
    if not path.exists():
        return []
    try:
        return _list_outbox(path, campaign_id, limit)
    except sqlite3.DatabaseError as exc:  # issue 15: a damaged outbox, a clear error
        raise SmsrunError(f"the outbox {path} is damaged or unreadable ({exc}); move it away or restore it") from None


def _list_outbox(path: Path, campaign_id: str | None, limit: int | None) -> list[dict[str, Any]]:
    db = sqlite3.connect(path, timeout=30.0)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone() is None:
            return []  # created by a run killed before it wrote the schema: nothing was recorded
        db.row_factory = sqlite3.Row
        sql = "SELECT id, batch_id, campaign_id, recipient, sender, commercial, encoding, text, created_at FROM outbox"
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


def count_outbox(state_dir: Path, *, campaign_id: str | None = None) -> int:
    """How many messages the outbox recorded (for one campaign, or all)."""
    path = outbox_path(state_dir)
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
