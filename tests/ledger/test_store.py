"""The ledger's guarantees, on a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import CampaignLockedError, LedgerError
from runner.ledger.store import Ledger, state_dir_for


def test_claim_settle_and_counts(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        assert ledger.add_pending("c", [("+33600000001", "hi", 1), ("+33600000002", "hi", 1)]) == 2
        assert ledger.add_pending("c", [("+33600000001", "hi", 1)]) == 0  # idempotent
        rows = ledger.pending_after("c", 0, 10)
        ledger.claim([r[0] for r in rows], "b1")
        assert ledger.counts("c")["claimed"] == 2
        ledger.settle([("sent", "p1", None, 1.0, rows[0][0]), ("rejected", None, "bad", None, rows[1][0])])
        counts = ledger.counts("c")
        assert (counts["sent"], counts["rejected"], counts["claimed"]) == (1, 1, 0)


def test_claim_only_takes_pending_rows(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [("+33600000001", "hi", 1)])
        rowid = ledger.pending_after("c", 0, 1)[0][0]
        ledger.claim([rowid], "b1")
        ledger.settle([("sent", "p", None, None, rowid)])
        with pytest.raises(LedgerError, match="no longer pending"):
            ledger.claim([rowid], "b2")  # a stale claim must not reopen a sent row, nor let it be sent
        assert ledger.statuses("c") == {"+33600000001": "sent"}


def test_a_group_with_one_row_not_pending_claims_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [("+33600000001", "hi", 1), ("+33600000002", "hi", 1), ("+33600000003", "hi", 1)])
        first, second, third = (r[0] for r in ledger.pending_after("c", 0, 10))
        ledger.claim([first], "b1")
        with pytest.raises(LedgerError, match="1 of the 2 row"):
            ledger.claim_many([([third], "b2"), ([first, second], "b3")])
        assert ledger.counts("c")["pending"] == 2  # b2 was rolled back with b3


def test_settle_keeps_each_rows_values(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [(f"+3360000000{i}", "hi", 1) for i in range(1, 5)])
        rowids = [r[0] for r in ledger.pending_after("c", 0, 10)]
        ledger.claim(rowids, "b1")
        ledger.settle([("sent", "id-1", None, 0.0395, rowids[0]), ("rejected", None, "it's \"bad\"", None, rowids[1]),
                       ("in_doubt", "id-3", "no answer", None, rowids[2]), ("pending", None, None, 2.0, rowids[3])])
        got = ledger.db.execute("SELECT status, provider_id, reason, cost FROM messages ORDER BY rowid").fetchall()
        assert got == [("sent", "id-1", None, 0.0395), ("rejected", None, 'it\'s "bad"', None),
                       ("in_doubt", "id-3", "no answer", None), ("pending", None, None, 2.0)]


def test_claims_left_by_a_dead_run_become_in_doubt(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [("+33600000001", "hi", 1)])
        ledger.claim([ledger.pending_after("c", 0, 1)[0][0]], "b1")
    with Ledger(tmp_path) as ledger:
        assert ledger.stale_claims_to_in_doubt("c") == 1
        assert ledger.statuses("c") == {"+33600000001": "in_doubt"}
        assert ledger.resend_in_doubt("c") == 1
        assert ledger.statuses("c") == {"+33600000001": "pending"}


def test_content_change_after_sending_started_is_refused(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.register_campaign("c", "hash-1", "outbox")
        ledger.register_campaign("c", "hash-2", "outbox")  # nothing sent yet: allowed
        ledger.add_pending("c", [("+33600000001", "hi", 1)])
        ledger.claim([ledger.pending_after("c", 0, 1)[0][0]], "b")
        with pytest.raises(LedgerError, match="new `id`"):
            ledger.register_campaign("c", "hash-3", "outbox")
        assert ledger.content_changed("c", "hash-3")
        assert not ledger.content_changed("c", "hash-2")


@pytest.mark.sqlite_only("a dead holder's flock goes at once; a lease expires (tests/ledger/test_postgres.py)")
def test_second_lock_on_a_campaign_fails_at_once_and_is_released_by_a_dying_process(tmp_path: Path) -> None:
    first = Ledger(tmp_path)
    first.lock_campaign("c")
    with Ledger(tmp_path) as second:
        with pytest.raises(CampaignLockedError, match="already being sent"):
            second.lock_campaign("c")
        second.lock_campaign("other")  # other campaigns are independent
    first.close()
    with Ledger(tmp_path) as third:
        third.lock_campaign("c")
    # a process killed while holding the lock releases it (flock belongs to the open file)
    root = str(Path(__file__).resolve().parents[2])
    code = (f"import os, sys; sys.path.insert(0, {root!r}); from runner.ledger.store import Ledger; "
            f"l = Ledger(__import__('pathlib').Path({str(tmp_path)!r})); l.lock_campaign('k'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    with Ledger(tmp_path) as after:
        after.lock_campaign("k")


def test_fingerprint_changes_with_the_ledger(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        empty = ledger.fingerprint("c")
        ledger.add_pending("c", [("+33600000001", "hi", 1)])
        added = ledger.fingerprint("c")
        ledger.db.execute("INSERT INTO optouts VALUES ('+33600000009', '2026-01-01', 'me', 'stop', 'manual')")
        assert len({empty, added, ledger.fingerprint("c")}) == 3


def test_delivery_reports_update_sent_rows(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [("+33600000001", "hi", 1)])
        rowid = ledger.pending_after("c", 0, 1)[0][0]
        ledger.claim([rowid], "b")
        ledger.settle([("sent", "msg-1", None, None, rowid)])
        assert ledger.record_delivery("kannel", "msg-1", "delivered", None)
        assert not ledger.record_delivery("kannel", "unknown", "delivered", None)
        assert ledger.counts("c")["delivered"] == 1


@pytest.mark.sqlite_only("a file in an unwritable folder")
def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger(blocker / "state")


def test_state_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert state_dir_for(tmp_path / "x", None) == tmp_path / "x"
    monkeypatch.setenv("SMSRUN_STATE_DIR", str(tmp_path / "env"))
    assert state_dir_for(None, tmp_path) == tmp_path / "env"
    monkeypatch.delenv("SMSRUN_STATE_DIR")
    assert state_dir_for(None, tmp_path) == tmp_path / ".smsrun"


def test_a_delivery_report_finds_its_message_by_the_last_provider_id_whoever_wrote_it(tmp_path: Path) -> None:
    """The provider id that settled a row finds it (PostgreSQL: through its provider_ids table, schema
    migration 4), so does one set by another writer; an id a row no longer holds finds nothing."""
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [("+33600000001", "hi", 1), ("+33600000002", "hi", 1), ("+33600000003", "hi", 1)])
        first, second, third = (r[0] for r in ledger.pending_after("c", 0, 10))
        ledger.claim([first, second, third], "b1")
        ledger.settle({("pending", "retry", None): [(first, "old-1")], ("sent", None, 0.05): [(second, "p-2")]})
        ledger.settle([("sent", None, None, None, third)])  # accepted, its id unknown yet
        ledger.claim([first], "b2")
        ledger.settle([("sent", "new-1", None, None, first)])  # settled again: only its last id is its own
        assert ledger.set_provider_ids("c", [("+33600000003", "p-3")]) == 1
        assert ledger.record_delivery("ovh", "new-1", "delivered", None)
        assert ledger.record_delivery("ovh", "p-2", "failed", "expired")
        assert ledger.record_delivery("ovh", "p-3", "delivered", None)
        assert not ledger.record_delivery("ovh", "old-1", "failed", "expired")
        assert ledger.statuses("c") == {"+33600000001": "delivered", "+33600000002": "failed",
                                        "+33600000003": "delivered"}
