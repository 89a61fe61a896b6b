"""What issue 15's send-time checks cost: ``PRAGMA quick_check`` before a send, and the opt-out look
before each request (one ``max(id)``; the full list once per pass), on a ledger of N sent rows.

    python -m bench.bench_send_guards [N]   (default 1,000,000)

Prints absolute times and, beside them, the time of one plain ``SELECT count(*)`` of the campaign
measured in the same run (the machine is shared: compare ratios).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from runner.ledger.store import Ledger


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        with Ledger(state) as ledger:
            numbers = [f"+3361{i:07d}" for i in range(count)]
            for at in range(0, count, 50_000):
                ledger.claim_new("c", [(f"b{at}", [("Hello", 1, numbers[at:at + 50_000])])])
            with ledger.transaction() as db:
                db.executemany("INSERT INTO optouts (number, added_at, added_by, reason, source) VALUES "
                               "(?, 'x', 'x', 'x', 'x')", [(f"+3370{i:07d}",) for i in range(10_000)])
                db.executemany("INSERT INTO optout_log (number, action, at, who, reason, source) VALUES "
                               "(?, 'add', 'x', 'x', 'x', 'x')", [(f"+3370{i:07d}",) for i in range(10_000)])
            ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = (state / "ledger.sqlite").stat().st_size
        with Ledger(state) as ledger:
            figures: dict[str, float] = {}
            start = time.perf_counter()
            ledger.db.execute("SELECT count(*) FROM messages WHERE campaign_id = 'c'").fetchone()
            figures["count_s"] = time.perf_counter() - start
            start = time.perf_counter()
            ledger.check_integrity()
            figures["quick_check_s"] = time.perf_counter() - start
            start = time.perf_counter()
            ledger.check_readable("c")
            figures["check_readable_s"] = time.perf_counter() - start
            start = time.perf_counter()
            ledger.optout_numbers()
            figures["optout_list_10k_s"] = time.perf_counter() - start
            rounds = 10_000
            start = time.perf_counter()
            for _ in range(rounds):
                ledger.optout_generation()
            figures["generation_per_request_us"] = (time.perf_counter() - start) / rounds * 1e6
        figures["quick_check_vs_count"] = figures["quick_check_s"] / figures["count_s"]
        print(json.dumps({"rows": count, "ledger_mb": round(size / 1e6, 1),
                          **{k: round(v, 4) for k, v in figures.items()}}, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
