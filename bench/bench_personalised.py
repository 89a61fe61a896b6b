"""Benchmark: ``smsrun send`` of 50,000 personalised messages, one request per recipient.

    .venv/bin/python bench/bench_personalised.py [--recipients N]

The campaign's template is ``Hello {{ first_name }}, your ACME voucher {{ code }}…``: every text is
distinct, so the OVH provider (one ``POST /jobs`` per distinct text) makes one request per recipient,
each claimed before and settled after, against bench/loopback_provider.py (its own process).

Printed, from the same run: the send phase's requests/s (requests / the engine's elapsed time, from
``send --json``), and a bare sequential httpx loop posting one-receiver bodies of the same shape to
the same server; the target is >= 0.7x the bare loop. Also checked: every recipient reached the
loopback exactly once and every ledger row is ``sent``.

Floors (shared/reference/performance-floors.md §4): httpx -> uvicorn at batch 1, c=1: 1,492 req/s
(~0.6 ms of client CPU per request); a durable (FULL) commit costs an fsync, 0.15-0.2 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SMSRUN, Loopback, bare_httpx, check, ledger_counts, run_measured, table, verdict
from gen_data import ensure

RATIO = 0.7
FLOOR_HTTPX_REQ = 1_492  # req/s, batch 1, c=1 (floors §4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    args = parser.parse_args()
    files = ensure(personalised=args.recipients)
    campaign = files["personalised"]

    with Loopback() as loopback:
        bodies = [json.dumps({"message": f"Hello Marie, your ACME voucher P{i:07d} is ready: show it in store.",
                              "receivers": [f"+336{i:08d}"], "charset": "UTF-8", "coding": "7bit",
                              "noStopClause": True, "priority": "high", "tag": "bench"}).encode()
                  for i in range(1000)]
        bare_before, _ = bare_httpx(loopback.base_url, bodies)
        loopback.reset()
        with tempfile.TemporaryDirectory(prefix="smsrun-bench-pers-") as tmp:
            state = Path(tmp)
            result = run_measured([SMSRUN, "send", "--yes", "--json", "--state-dir", str(state), str(campaign)],
                                  env=loopback.env)
            check(result, f"send {campaign.name}")
            report = json.loads(result.stdout)
            counts = ledger_counts(state, str(report["campaign"]))
        stats = loopback.stats()
        loopback.reset()
        bare_after, _ = bare_httpx(loopback.base_url, bodies)

    sent, requests, elapsed = int(report["sent"]), int(report["requests"]), float(report["elapsed_s"])
    exact = stats["receivers"] == sent == stats["distinct"] and stats["repeated"] == 0
    print(f"sent {sent:,} in {requests:,} requests, engine {elapsed:.2f} s, command {result.wall:.2f} s, peak RSS "
          f"{result.max_rss_mb:.0f} MB; ledger {counts}; loopback: {stats['receivers']:,} receivers, "
          f"{stats['repeated']} repeated: {'exactly once' if exact else 'NOT EXACTLY ONCE'}", file=sys.stderr)
    if counts.get("sent") != sent or len(counts) != 1 or not exact:
        raise SystemExit("not every recipient was sent exactly once")
    rate = requests / elapsed
    bare = (bare_before + bare_after) / 2
    rows = [["measure", "target", "measured", "floor / baseline", "verdict"],
            ["bare httpx loop, 1 receiver/request (before, after)", "",
             f"{bare_before:,.0f}, {bare_after:,.0f} req/s", f"{FLOOR_HTTPX_REQ:,} req/s (floors §4)", ""],
            [f"send {sent:,} personalised: send phase", f">= {RATIO}x bare = {RATIO * bare:,.0f} req/s",
             f"{rate:,.0f} req/s = {rate / bare:.2f}x bare", "", verdict(rate, RATIO * bare, higher_is_better=True)],
            ["  per request: engine time / requests", "", f"{elapsed / requests * 1e3:.2f} ms",
             f"bare loop {1e3 / bare:.2f} ms", ""],
            ["send: whole command (plan included)", "", f"{sent / result.wall:,.0f} recipients/s "
             f"({result.wall:.1f} s)", "", ""]]
    print(table(rows))


if __name__ == "__main__":
    main()
