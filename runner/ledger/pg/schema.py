"""The PostgreSQL ledger's schema: numbered migrations, applied under a transaction-level advisory lock.

The ledger lives in a schema of its own (``smsrun`` unless the URL says ``?schema=``). Its version is
one row in ``schema_version``; a ledger whose version is higher than :data:`LATEST` was written by a
newer smsrun and is refused, never altered. A ledger that is up to date is only read: ``plan`` and
``status`` work with a role that may not write.
"""

from __future__ import annotations

from typing import Any

from runner.errors import LedgerError

MIGRATIONS: tuple[str, ...] = (
    # 1: what the SQLite ledger holds (same tables, same columns); ``rowid`` is the opaque id the send
    # loop hands back to claim and settle, as SQLite's own rowid is on the other backend
    """
    CREATE TABLE campaigns (id text PRIMARY KEY, content_hash text NOT NULL, provider text NOT NULL,
                            created_at text NOT NULL);
    CREATE TABLE texts (id bigserial PRIMARY KEY, campaign_id text NOT NULL, text text NOT NULL);
    CREATE UNIQUE INDEX texts_campaign_text ON texts (campaign_id, md5(text));
    CREATE TABLE messages (
        rowid bigserial NOT NULL,
        campaign_id text NOT NULL,
        recipient text COLLATE "C" NOT NULL,
        status text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        text_id bigint,
        parts integer,
        batch_id text,
        provider_id text,
        reason text,
        cost double precision,
        claimed_at text,
        updated_at text,
        PRIMARY KEY (campaign_id, recipient)
    );
    CREATE UNIQUE INDEX messages_rowid ON messages (rowid);
    CREATE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;
    CREATE TABLE optouts (number text PRIMARY KEY, added_at text NOT NULL, added_by text NOT NULL,
                          reason text NOT NULL, source text NOT NULL);
    CREATE TABLE optout_log (id bigserial PRIMARY KEY, number text NOT NULL, action text NOT NULL, at text NOT NULL,
                             who text NOT NULL, reason text NOT NULL, source text NOT NULL);
    CREATE TABLE replies (id bigserial PRIMARY KEY, provider text NOT NULL, provider_ref text, sender text NOT NULL,
                          text text NOT NULL, received_at text NOT NULL, opt_out integer NOT NULL,
                          UNIQUE (provider, provider_ref));
    CREATE TABLE reports (id bigserial PRIMARY KEY, provider text NOT NULL, provider_id text NOT NULL,
                          status text NOT NULL, reason text, received_at text NOT NULL);
    CREATE TABLE runs (campaign_id text PRIMARY KEY, run_id text NOT NULL, started_at text NOT NULL,
                       unrecorded integer NOT NULL);
    CREATE TABLE report_backlog (id bigserial PRIMARY KEY, label text NOT NULL, provider text NOT NULL,
                                 provider_id text, campaign_id text, recipient text, batch_id text,
                                 status text NOT NULL, reason text, received_at text NOT NULL,
                                 expires_at text NOT NULL);
    CREATE INDEX report_backlog_label ON report_backlog (label);
    CREATE TABLE test_sends (campaign_id text NOT NULL, recipient text NOT NULL, as_recipient text,
                             text text NOT NULL, status text NOT NULL, provider_id text, reason text,
                             sent_at text NOT NULL);
    """,
    # 2: runners on several machines: one lease per campaign, renewed by a heartbeat; its run id is the
    # fencing token every claim and settle checks
    """
    CREATE TABLE leases (campaign_id text PRIMARY KEY, run_id text NOT NULL, holder text NOT NULL,
                         ci_url text, since timestamptz NOT NULL, expires_at timestamptz NOT NULL);
    """,
    # 3: several receivers behind one URL: each delivery report is stored once
    """
    DELETE FROM reports WHERE id NOT IN (SELECT min(id) FROM reports
                                         GROUP BY provider, provider_id, status, coalesce(reason, ''));
    CREATE UNIQUE INDEX reports_once ON reports (provider, provider_id, status, coalesce(reason, ''));
    """,
    # 4: a settle as a heap-only update (HOT): no index on a column it changes, and room on the page for
    # the new version (fillfactor 50). A settle no longer rewrites three index entries per row (the send's
    # largest cost on the server). Delivery reports find a message by its provider id through an
    # append-only table, checked against messages.provider_id (a row settled again keeps only its
    # last id); the settle writes it in bulk, and triggers note the ids every other writer sets
    # (reports, `ledger copy`, the lost-ledger guard), so none can be missed.
    """
    CREATE TABLE provider_ids (provider_id text COLLATE "C" NOT NULL, rowid bigint NOT NULL);
    INSERT INTO provider_ids (provider_id, rowid) SELECT provider_id, rowid FROM messages
        WHERE provider_id IS NOT NULL;
    CREATE INDEX provider_ids_provider_id ON provider_ids (provider_id);
    CREATE FUNCTION note_provider_id() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        INSERT INTO provider_ids (provider_id, rowid) VALUES (NEW.provider_id, NEW.rowid);
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_note_inserted_provider_id AFTER INSERT ON messages FOR EACH ROW
        WHEN (NEW.provider_id IS NOT NULL) EXECUTE FUNCTION note_provider_id();
    CREATE TRIGGER messages_note_updated_provider_id AFTER UPDATE OF provider_id ON messages FOR EACH ROW
        WHEN (NEW.provider_id IS NOT NULL AND NEW.provider_id IS DISTINCT FROM OLD.provider_id
              AND current_setting('smsrun.noted', true) IS DISTINCT FROM 'on')
        EXECUTE FUNCTION note_provider_id();
    DROP INDEX messages_provider_id;
    ALTER TABLE messages SET (fillfactor = 50);
    """,
)
LATEST = len(MIGRATIONS)


def found_version(cur: Any, schema: str) -> int:
    """The schema's version (0: no ledger there yet)."""
    cur.execute("SELECT to_regclass(%s)", (f"{schema}.schema_version",))
    if cur.fetchone()[0] is None:
        return 0
    cur.execute(f'SELECT max(version) FROM "{schema}".schema_version')
    return int(cur.fetchone()[0] or 0)


def ledger_schema_exists(url: str) -> bool:
    """Whether the ledger's schema holds a ledger (of any version: a newer one is refused on open)."""
    import psycopg

    from runner.ledger.pg.connection import _secret, connect, ledger_error
    from runner.ledger.url import redact_url, split_schema

    conninfo, schema = split_schema(url)
    conn = connect(conninfo, schema)
    try:
        with conn.cursor() as cur:
            return found_version(cur, schema) > 0
    except psycopg.Error as exc:
        raise ledger_error(exc, redact_url(url), _secret(conninfo)) from None
    finally:
        conn.close()


def refuse_newer(version: int, where: str) -> None:
    if version > LATEST:
        raise LedgerError(f"the ledger {where} was written by a newer smsrun (ledger format {version}, this smsrun "
                          f"reads up to {LATEST}): upgrade smsrun; nothing was read or changed")


def migrate(conn: Any, schema: str, where: str) -> None:
    """Bring ``schema`` to :data:`LATEST`: create it on first use, apply the missing migrations in order.
    Several smsrun starting at once take the same transaction-level advisory lock, so one migrates and
    the others find it done (a transaction lock is released by COMMIT or by a dead session's rollback:
    nothing is left held through a pool or by a cancelled CI job)."""
    with conn.cursor() as cur:
        version = found_version(cur, schema)
        refuse_newer(version, where)
        if version == LATEST:
            return
        with conn.transaction():
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"smsrun-migrate:{schema}",))
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cur.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".schema_version (version integer PRIMARY KEY, '
                        "applied_at timestamptz NOT NULL DEFAULT now())")
            version = found_version(cur, schema)
            refuse_newer(version, where)
            cur.execute(f'SET LOCAL search_path TO "{schema}"')
            for number in range(version + 1, LATEST + 1):
                cur.execute(MIGRATIONS[number - 1])
                cur.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
