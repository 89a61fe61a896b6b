"""What only the PostgreSQL ledger has: its schema's migrations, roles, connection errors and leases."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runner.errors import CampaignLockedError, LedgerError
from runner.ledger.pg import schema as pg_schema
from runner.ledger.store import Ledger
from runner.ledger.url import split_schema
from tests.support.repo import Repo, french_mobiles

pytestmark = pytest.mark.postgresql_only("the PostgreSQL server's own behaviour")

CAMPAIGN = "id: c\nsender: ACME\nmessage: Hello\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def _admin() -> tuple[psycopg.Connection[Any], str]:
    conninfo, schema = split_schema(os.environ["SMSRUN_LEDGER"])
    return psycopg.connect(conninfo, autocommit=True), schema


def _shape(conn: psycopg.Connection[Any], schema: str) -> tuple[list[Any], list[Any]]:
    columns = conn.execute("SELECT table_name, column_name, data_type, is_nullable, collation_name, "
                           "regexp_replace(coalesce(column_default, ''), '\"?[a-z0-9_]+\"?\\.', '') "
                           "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
                           (schema,)).fetchall()
    indexes = conn.execute("SELECT tablename, indexname, replace(indexdef, %s, 'S') FROM pg_indexes "
                           "WHERE schemaname = %s ORDER BY 1, 2", (f'"{schema}".', schema)).fetchall()
    indexes = [(t, i, d.replace(f"{schema}.", "S.")) for t, i, d in indexes]
    return columns, indexes


def test_every_migration_in_turn_builds_the_schema_a_fresh_ledger_has(tmp_path: Path) -> None:
    conn, fresh = _admin()
    old = fresh + "_old"
    with Ledger(tmp_path):  # a fresh ledger: every migration at once
        pass
    with conn.transaction():  # a ledger an older smsrun made: migration 1 only
        conn.execute(f'CREATE SCHEMA "{old}"')
        conn.execute(f'CREATE TABLE "{old}".schema_version (version integer PRIMARY KEY, applied_at timestamptz '
                     "NOT NULL DEFAULT now())")
        conn.execute(f'SET LOCAL search_path TO "{old}"')
        conn.execute(pg_schema.MIGRATIONS[0])
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    with conn.transaction():
        conn.execute(f'SET LOCAL search_path TO "{old}"')
        conn.execute("INSERT INTO campaigns VALUES ('kept', 'h', 'outbox', 'then')")
    url = os.environ["SMSRUN_LEDGER"].replace(f"schema={fresh}", f"schema={old}")
    os.environ["SMSRUN_LEDGER"] = url
    try:
        with Ledger(tmp_path) as ledger:
            assert ledger.campaign_hash("kept") == "h"  # migrated, not rebuilt
    finally:
        os.environ["SMSRUN_LEDGER"] = url.replace(f"schema={old}", f"schema={fresh}")
    assert _shape(conn, old) == _shape(conn, fresh)
    assert conn.execute(f'SELECT max(version) FROM "{old}".schema_version').fetchone()[0] == pg_schema.LATEST
    conn.execute(f'DROP SCHEMA "{old}" CASCADE')


def test_a_ledger_written_by_a_newer_smsrun_is_refused_and_left_alone(repo: Repo) -> None:
    with Ledger(repo.state):
        pass
    conn, schema = _admin()
    conn.execute(f'INSERT INTO "{schema}".schema_version (version) VALUES (%s)', (pg_schema.LATEST + 1,))
    with pytest.raises(LedgerError, match="written by a newer smsrun"):
        Ledger(repo.state)
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(2)) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    for args in (("plan", "c.yaml"), ("send", "c.yaml", "--yes"), ("status", "c")):
        result = repo.run(*args)
        assert result.code == 1 and "newer smsrun" in result.err and "Traceback" not in result.both, result.both
    assert conn.execute(f'SELECT count(*) FROM "{schema}".campaigns').fetchone()[0] == 0


@pytest.mark.parametrize("url, expected", [
    ("postgresql://smsrun:pa55-w0rd-secret@127.0.0.1:{closed}/ledger", "cannot open the PostgreSQL ledger"),
    ("{base}nosuchdb", "does not exist"),
])
def test_connection_errors_are_clear_exit_1_and_never_show_the_password(repo: Repo, url: str, expected: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    server = split_schema(os.environ["SMSRUN_LEDGER"])[0].rsplit("/", 1)[0]
    base = server.replace("postgres@", "postgres:pa55-w0rd-secret@") + "/"
    ledger = url.format(closed=closed, base=base)
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(2)) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    for args in (("plan", "c.yaml"), ("send", "c.yaml", "--yes"), ("status", "c"), ("optout", "list")):
        result = repo.run(*args, "--ledger", ledger)
        assert result.code == 1, (args, result.both)
        assert expected in result.err and "Traceback" not in result.both, result.both
        assert "pa55-w0rd-secret" not in result.both and "***" in result.err, result.both


def test_plan_and_status_work_with_a_read_only_role(repo: Repo) -> None:
    numbers = french_mobiles(3)
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    assert repo.run("send", "c.yaml", "--yes").code == 0
    conn, schema = _admin()
    role = f"ro_{schema}"[:60]
    conn.execute(f"CREATE ROLE {role} LOGIN")
    conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
    conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
    read_only = os.environ["SMSRUN_LEDGER"].replace("postgres@", f"{role}@")
    try:
        plan = repo.run("plan", "c.yaml", "--ledger", read_only)
        assert plan.code == 0 and "Traceback" not in plan.both, plan.both
        status = repo.run("status", "c", "--json", "--ledger", read_only)
        assert status.code == 0 and '"sent": 3' in status.out, status.both
        refused = repo.run("optout", "add", numbers[0], "--reason", "asked", "--ledger", read_only)
        assert refused.code == 1 and "permission denied" in refused.err and "Traceback" not in refused.both
    finally:
        conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}')
        conn.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}')
        conn.execute(f"DROP ROLE {role}")


def test_plan_and_status_of_a_ledger_not_created_yet_read_it_as_empty_and_create_nothing(repo: Repo) -> None:
    """As a SQLite dry run writes no file: a fresh PostgreSQL ledger gets no schema from a reader, and a
    read-only role (no CREATE on the database) plans against it too."""
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(2)) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    conn, schema = _admin()
    role = f"ro_{schema}"[:60]
    conn.execute(f"CREATE ROLE {role} LOGIN")
    read_only = os.environ["SMSRUN_LEDGER"].replace("postgres@", f"{role}@")
    try:
        for ledger in (os.environ["SMSRUN_LEDGER"], read_only):
            plan = repo.run("plan", "c.yaml", "--json", "--ledger", ledger)
            assert plan.code == 0 and "Traceback" not in plan.both, plan.both
            assert json.loads(plan.out)["recipients"]["to_send"] == 2, plan.out
            status = repo.run("status", "c", "--json", "--ledger", ledger)
            assert status.code == 0 and '"known": false' in status.out, status.both
            listed = repo.run("optout", "list", "--ledger", ledger)
            assert listed.code == 0, listed.both
            assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()[0] == 0
    finally:
        conn.execute(f"DROP ROLE {role}")
    assert repo.run("send", "c.yaml", "--yes").code == 0  # a writer creates it on first use
    assert conn.execute(f'SELECT count(*) FROM "{schema}".messages').fetchone()[0] == 2


def test_a_lease_names_its_holder_and_is_taken_over_once_expired(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSRUN_LEASE_SECONDS", "1")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/sms")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    first = Ledger(tmp_path)
    first.lock_campaign("c")
    first.add_pending("c", [("+33600000001", "hi", 1)])
    writer = first.sibling()
    with Ledger(tmp_path) as second:
        with pytest.raises(CampaignLockedError, match=r"pid \d+ since .* CI job https://github.example/acme/sms/"
                                                      r"actions/runs/42"):
            second.lock_campaign("c")
        assert second.lease_holder("c") is not None
        second.lock_campaign("other")  # other campaigns are independent
    # the holder freezes: no heartbeat (its thread is stopped), the lease expires, another run takes over
    lease = first._leases["c"]  # type: ignore[attr-defined]
    lease._stop.set()
    lease._thread.join()
    time.sleep(1.3)
    with pytest.raises(LedgerError, match="no longer held"):
        first.check_lease()  # the frozen run may not call the provider again
    with Ledger(tmp_path) as third:
        third.lock_campaign("c")
        rowid = third.pending_after("c", 0, 1)[0][0]
        with pytest.raises(LedgerError, match="no longer held"):
            writer.claim([rowid], "b-old")  # fenced: the old run's writes are refused
        third.claim([rowid], "b-new")
        assert third.statuses("c") == {"+33600000001": "claimed"}
    writer.close()
    first.close()


def test_a_session_ended_for_idling_in_a_transaction_is_a_lost_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # a process paused (SIGSTOP, a frozen VM) between two statements of a transaction: the server ends its
    # session after the lease's time to live, and the error on resuming says the connection was lost
    from runner.ledger.pg.connection import PgDb, connect

    monkeypatch.setenv("SMSRUN_LEASE_SECONDS", "1")
    url = os.environ["SMSRUN_LEDGER"]
    conninfo, schema = split_schema(url)
    db = PgDb(connect(conninfo, schema), url)
    pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    db.execute("BEGIN")
    db.execute("SELECT 1")
    admin, _ = _admin()
    with admin:
        deadline = time.monotonic() + 60
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the server never ended the idle session"
            time.sleep(0.05)
    with pytest.raises(LedgerError, match=r"lost or refused connection .*idle-in-transaction timeout .*lease's 1 s"):
        db.execute("SELECT 1")
    db.close()
