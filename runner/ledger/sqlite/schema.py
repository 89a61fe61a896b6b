"""The SQLite ledger's schema: the tables (format 1), then numbered migrations stamped in ``user_version``."""

from __future__ import annotations

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

