"""The ledger writer thread: order, group commits, durability of claims, failures that stop the run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runner.errors import LedgerError
from runner.ledger.status import campaign_status
from runner.ledger.store import Ledger
from runner.send.writer import LedgerWriter

NUMBERS = [f"+3361234{i:04d}" for i in range(10)]


def _rows(ledger: Ledger) -> list[tuple[str, str, str | None, str | None]]:
    return ledger.db.execute("SELECT recipient, status, batch_id, provider_id FROM messages ORDER BY rowid").fetchall()


@pytest.mark.parametrize("background", [True, False])
def test_claims_then_settles_in_order(tmp_path: Path, background: bool) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.start_run("c", "r1", len(NUMBERS))
        writer = LedgerWriter(ledger, background=background)
        first = writer.claim("c", [("b1", [("Hi", 1, NUMBERS[:4])]), ("b2", [("Hi", 1, NUMBERS[4:6])])],
                             new=True, run_id="r1")
        claimed = first.result()
        assert [[r for _, r in rows] for rows in claimed] == [NUMBERS[:4], NUMBERS[4:6]]
        rowids = [rowid for rows in claimed for rowid, _ in rows]
        settled: list[str] = []
        writer.settle({("sent", None, 0.04): [(rowid, f"id{rowid}") for rowid in rowids]},
                      then=lambda: settled.append(threading.current_thread().name))
        writer.close()
        assert [(r[0], r[1], r[2]) for r in _rows(ledger)] == (
            [(n, "sent", "b1") for n in NUMBERS[:4]] + [(n, "sent", "b2") for n in NUMBERS[4:6]])
        assert [r[3] for r in _rows(ledger)] == [f"id{rowid}" for rowid in rowids]
        assert len(settled) == 1
        # the four recipients never reached are still counted, as pending
        assert campaign_status(tmp_path, "c")["pending"] == 4
        assert ledger.unrecorded("c") == 4


def test_a_new_recipient_already_in_the_ledger_is_not_claimed_again(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [(NUMBERS[1], "Hi", 1), (NUMBERS[3], "Hi", 1)])
        writer = LedgerWriter(ledger, background=True)
        claimed = writer.claim("c", [("b1", [("Hi", 1, NUMBERS[:5])])], new=True).result()
        writer.close()
        # the fallback lookup (rowids not consecutive with the JSON list) gives the right pairs
        assert [r for _, r in claimed[0]] == [NUMBERS[0], NUMBERS[2], NUMBERS[4]]
        by_number = dict(ledger.db.execute("SELECT recipient, rowid FROM messages"))
        assert all(by_number[r] == rowid for rowid, r in claimed[0])
        assert ledger.statuses("c") == {NUMBERS[0]: "claimed", NUMBERS[1]: "pending", NUMBERS[2]: "claimed",
                                        NUMBERS[3]: "pending", NUMBERS[4]: "claimed"}


def test_one_request_with_several_texts(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        writer = LedgerWriter(ledger, background=True)
        claimed = writer.claim("c", [("b1", [("Hi Ann", 1, [NUMBERS[0]]), ("Hi Bob", 2, [NUMBERS[1]])])],
                               new=True).result()
        writer.close()
        assert [r for _, r in claimed[0]] == NUMBERS[:2]
        texts = ledger.texts("c")
        got = ledger.db.execute("SELECT recipient, text_id, parts FROM messages ORDER BY rowid").fetchall()
        assert [(r, texts[t], p) for r, t, p in got] == [(NUMBERS[0], "Hi Ann", 1), (NUMBERS[1], "Hi Bob", 2)]


def test_a_failed_write_fails_every_later_one_and_the_close(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [(n, "Hi", 1) for n in NUMBERS[:3]])
        rowids = [r[0] for r in ledger.pending_after("c", 0, 10)]
        writer = LedgerWriter(ledger, background=True)
        writer.claim("c", [("b1", [(rowids[0], NUMBERS[0], "Hi")])], new=False).result()
        # a second claim of the same row is refused (it would be sent twice), and nothing after it commits
        refused = writer.claim("c", [("b2", [(rowids[0], NUMBERS[0], "Hi"), (rowids[1], NUMBERS[1], "Hi")])],
                               new=False)
        with pytest.raises(LedgerError, match="no longer pending"):
            refused.result()
        with pytest.raises(LedgerError, match="no longer pending"):
            writer.claim("c", [("b3", [(rowids[2], NUMBERS[2], "Hi")])], new=False)
        with pytest.raises(LedgerError):
            writer.close()
        assert ledger.statuses("c") == {NUMBERS[0]: "claimed", NUMBERS[1]: "pending", NUMBERS[2]: "pending"}


@pytest.mark.sqlite_only("it reads SQLite's statement trace")
def test_queued_writes_share_a_transaction_and_keep_their_order(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.add_pending("c", [(n, "Hi", 1) for n in NUMBERS])
        rowids = [r[0] for r in ledger.pending_after("c", 0, 20)]
        writer = LedgerWriter(ledger, background=True)
        statements: list[str] = []
        assert writer._own is not None
        writer._own.db.set_trace_callback(statements.append)
        gate = threading.Event()
        blocked = writer._submit(lambda _: gate.wait(5), durable=False)  # holds the thread: the rest queues up
        futures = [writer.claim("c", [(f"b{i}", [(rowid, NUMBERS[i], "Hi")])], new=False)
                   for i, rowid in enumerate(rowids[:5])]
        futures.append(writer.settle([("sent", "p0", None, None, rowids[0])]))
        assert not any(f.done() for f in futures)
        gate.set()
        writer.release([rowids[4]], "pending", "given back")  # waits for everything before it
        assert blocked.done() and all(f.done() for f in futures)
        writer.close()
        # the five claims and the settle queued behind the gate share a transaction (with the gate's, or
        # the release's, by timing): one or two commits, not eight
        assert 1 <= statements.count("COMMIT") <= 2, statements
        statuses = ledger.statuses("c")
        assert statuses[NUMBERS[0]] == "sent" and statuses[NUMBERS[4]] == "pending"
        assert [statuses[n] for n in NUMBERS[1:4]] == ["claimed"] * 3


def test_the_switch_interval_is_restored(tmp_path: Path) -> None:
    import sys

    before = sys.getswitchinterval()
    with Ledger(tmp_path) as ledger:
        writer = LedgerWriter(ledger, background=True)
        assert sys.getswitchinterval() < before
        writer.close()
    assert sys.getswitchinterval() == before
