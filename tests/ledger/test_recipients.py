"""`smsrun status CAMPAIGN --recipients`: one line per recipient, streamed in constant memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import pytest

from runner.cli.listing import write_csv, write_json
from runner.errors import SmsrunError
from runner.ledger.recipients import FIELDS, iter_recipients, parse_statuses
from runner.ledger.store import Ledger
from tests.support.repo import Repo, french_mobiles


def seed(state: Path, n: int) -> list[str]:
    """``n`` recipients: one in four failed (with a reason), one delivered, one sent, one pending."""
    numbers = french_mobiles(n)
    with Ledger(state) as ledger:
        ledger.add_pending("c", [(x, "hi", 1) for x in numbers])
        rows = ledger.pending_after("c", 0, n)
        ledger.claim([r[0] for r in rows], "b1")
        ledger.settle([("sent", f"id-{i}", None, 0.04, r[0]) for i, r in enumerate(rows) if i % 4 != 3])
        ledger.settle([("rejected", None, "invalid number", None, r[0]) for i, r in enumerate(rows) if i % 4 == 3])
        for i in range(0, n, 4):
            ledger.record_delivery("outbox", f"id-{i}", "delivered", None)
        for i in range(1, n, 4):
            ledger.record_delivery("outbox", f"id-{i}", "failed", "absent subscriber")
    return numbers


def test_each_recipient_with_its_status_reason_provider_id_cost_and_times(tmp_path: Path) -> None:
    numbers = seed(tmp_path, 8)
    rows = list(iter_recipients(tmp_path, "c", show_numbers=True))
    assert [r["recipient"] for r in rows] == sorted(numbers)
    by = {r["recipient"]: r for r in rows}
    assert by[numbers[0]]["status"] == "delivered" and by[numbers[0]]["delivered_at"]
    assert by[numbers[1]]["status"] == "failed" and by[numbers[1]]["reason"] == "absent subscriber"
    assert by[numbers[2]]["status"] == "sent" and by[numbers[2]]["sent_at"] and by[numbers[2]]["provider_id"] == "id-2"
    assert by[numbers[2]]["cost"] == 0.04 and by[numbers[2]]["parts"] == 1 and by[numbers[2]]["claimed_at"]
    assert by[numbers[3]]["status"] == "rejected" and by[numbers[3]]["reason"] == "invalid number"
    masked = list(iter_recipients(tmp_path, "c"))
    assert all(numbers[0] != r["recipient"] and "•" in r["recipient"] for r in masked)


def test_status_filter(tmp_path: Path) -> None:
    seed(tmp_path, 8)
    got = list(iter_recipients(tmp_path, "c", statuses=parse_statuses("failed,rejected")))
    assert sorted(r["status"] for r in got) == ["failed", "failed", "rejected", "rejected"]
    with pytest.raises(SmsrunError, match="unknown status 'faild'"):
        parse_statuses("faild")


def test_pages_bound_the_rows_held_and_the_queries_made(tmp_path: Path) -> None:
    """The listing reads one page at a time: the rows fetched per step are bounded by the page, and
    the memory used does not grow with the number of recipients."""
    seed(tmp_path, 2000)
    fetched: list[int] = []
    original = Ledger.recipients_page

    def spy(self: Ledger, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        rows = original(self, *args, **kwargs)  # type: ignore[arg-type]
        fetched.append(len(rows))
        return rows

    Ledger.recipients_page = spy  # type: ignore[method-assign]
    try:
        assert sum(1 for _ in iter_recipients(tmp_path, "c", page=100)) == 2000
    finally:
        Ledger.recipients_page = original  # type: ignore[method-assign]
    assert max(fetched) == 100 and len(fetched) == 21  # 20 full pages, then an empty one


def _peak_listing(state: Path, out: io.StringIO | None = None) -> int:
    sink = out or _Discard()
    tracemalloc.start()
    try:
        write_json(iter_recipients(state, "c", page=200), sink)  # type: ignore[arg-type]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _Discard:
    def write(self, text: str) -> int:
        return len(text)


def test_memory_does_not_grow_with_the_recipients(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    seed(small, 1000)
    seed(large, 20_000)
    peak_small, peak_large = _peak_listing(small), _peak_listing(large)
    # twenty times the rows, about the same peak (one page of 200 rows and one JSON line)
    assert peak_large < peak_small * 1.5 + 64_000, (peak_small, peak_large)


def test_csv_and_json_are_well_formed(tmp_path: Path) -> None:
    seed(tmp_path, 5)
    out = io.StringIO()
    assert write_csv(iter_recipients(tmp_path, "c"), FIELDS, out) == 5
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(table) == 5 and list(table[0]) == list(FIELDS)
    out = io.StringIO()
    write_json(iter_recipients(tmp_path, "c"), out)
    assert len(json.loads(out.getvalue())) == 5
    empty = io.StringIO()
    write_json(iter_recipients(tmp_path / "none", "other"), empty)
    assert json.loads(empty.getvalue()) == []


def test_the_command(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    numbers = seed(repo.state, 8)
    result = repo.run("status", "c", "--recipients", "--format", "csv", "--status", "failed", "--show-numbers")
    assert result.code == 0, result.both
    table = list(csv.DictReader(io.StringIO(result.out)))
    assert [r["recipient"] for r in table] == [numbers[1], numbers[5]]
    assert {r["reason"] for r in table} == {"absent subscriber"}
    text = repo.run("status", "c", "--recipients")
    assert text.code == 0 and len(text.out.splitlines()) == 9 and numbers[0] not in text.out
    bad = repo.run("status", "c", "--recipients", "--status", "nope")
    assert bad.code == 1 and "unknown status 'nope'" in bad.err
