"""Benchmark: the PostgreSQL ledger beside SQLite, in the same run (issue 10).

    .venv/bin/python bench/bench_ledger_pg.py [--rows N] [--runs R] [--sends S] [--backends B,...] [--no-plan]

Starts a throwaway PostgreSQL server on loopback (tests/support/pg.py: Debian's binaries, run as the
``postgres`` user, ``fsync`` on: claims are durable), then, for each ledger:

* ``smsrun send`` of the bulk campaign (the 1M-row file: ~780k valid recipients) through the OVH provider
  against bench/loopback_provider.py: the send phase's rate (recipients / the engine's elapsed time),
  checked exactly once at the loopback and ``sent`` in the ledger;
* ``smsrun plan`` of the same 1M-row campaign on an empty ledger (best of R runs).

Targets: send with PostgreSQL >= 30,000 recipients/s; plan with PostgreSQL no more than 2 s slower than
with SQLite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import SMSRUN, Loopback, check, run_measured, table, verdict
from gen_data import ensure

from tests.support.pg import Server

HERE = Path(__file__).resolve().parent

AT = "2026-11-25T10:00:00+01:00"
NO_OVH = {k: "" for k in ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY")}
TARGET_SEND, TARGET_PLAN_GAP = 30_000, 2.0


def counts(ledger: str, state: Path, campaign_id: str) -> dict[str, int]:
    sys.path.insert(0, str(HERE.parent))
    import os

    os.environ["SMSRUN_LEDGER"] = ledger
    from runner.ledger.store import Ledger

    with Ledger(state) as opened:
        return {k: v for k, v in opened.counts(campaign_id).items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2, help="plan runs per ledger (best kept)")
    parser.add_argument("--sends", type=int, default=1, help="sends per ledger (each figure printed; best kept)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="which ledgers (comma-separated)")
    parser.add_argument("--no-plan", action="store_true", help="measure send only")
    args = parser.parse_args()
    backends = [b for b in ("sqlite", "postgresql") if b in args.backends.split(",")]
    files = ensure(args.rows)
    server = Server()
    rows: list[list[str]] = [["measure", "target", "SQLite", "PostgreSQL", "verdict"]]
    try:
        send_rate: dict[str, float] = {}
        with Loopback() as loopback, tempfile.TemporaryDirectory(prefix="smsrun-bench-pg-") as tmp:
            for backend, attempt in [(b, n) for n in range(args.sends) for b in backends]:
                state = Path(tmp) / f"{backend}-{attempt}"
                ledger = (str(state / "ledger.sqlite") if backend == "sqlite"
                          else server.url(f"b_{uuid.uuid4().hex[:8]}"))
                loopback.reset()
                # the loopback keeps no history to ask (issue 11): --ignore-provider-history
                result = run_measured([SMSRUN, "send", "--yes", "--json", "--ignore-provider-history", "--state-dir",
                                       str(state), "--ledger", ledger, str(files["send"])], env=loopback.env)
                check(result, f"send ({backend})")
                report = json.loads(result.stdout)
                sent, elapsed = int(report["sent"]), float(report["elapsed_s"])
                stats = loopback.stats()
                found = counts(ledger, state, str(report["campaign"]))
                exact = stats["receivers"] == sent == stats["distinct"] and stats["repeated"] == 0
                print(f"send {backend}: sent {sent:,} in {elapsed:.2f} s (command {result.wall:.1f} s, "
                      f"{result.max_rss_mb:.0f} MB); loopback {stats['receivers']:,} receivers, {stats['repeated']} "
                      f"repeated: {'exactly once' if exact else 'NOT EXACTLY ONCE'}; ledger {found}", file=sys.stderr)
                if not exact or found != {"sent": sent}:
                    raise SystemExit(f"send ({backend}): not exactly once, or the ledger disagrees")
                print(f"send {backend} #{attempt + 1}: {sent / elapsed:,.0f}/s", file=sys.stderr)
                send_rate[backend] = max(send_rate.get(backend, 0.0), sent / elapsed)
        shown = {b: f"{send_rate[b]:,.0f}/s" if b in send_rate else "-" for b in ("sqlite", "postgresql")}
        rows.append([f"send {args.rows:,} rows (OVH -> loopback), send phase" + (
                     f", best of {args.sends}" if args.sends > 1 else ""), f">= {TARGET_SEND:,}/s (PostgreSQL)",
                     shown["sqlite"], shown["postgresql"],
                     verdict(send_rate["postgresql"], TARGET_SEND, higher_is_better=True) if "postgresql" in send_rate
                     else "-"])
        if args.no_plan or set(backends) != {"sqlite", "postgresql"}:
            print(table(rows))
            return
        plan_wall: dict[str, float] = {}
        for backend in ("sqlite", "postgresql"):
            walls = []
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory(prefix="smsrun-bench-pg-plan-") as tmp:
                    ledger = str(Path(tmp) / "ledger.sqlite") if backend == "sqlite" else server.url(
                        f"p_{uuid.uuid4().hex[:8]}")
                    result = run_measured([SMSRUN, "plan", "--json", "--state-dir", tmp, "--ledger", ledger, "--at",
                                           AT, str(files["send"])], env=NO_OVH)
                    check(result, f"plan ({backend})")
                    walls.append(result.wall)
            plan_wall[backend] = min(walls)
            print(f"plan {backend}: {', '.join(f'{w:.2f}' for w in walls)} s", file=sys.stderr)
        gap = plan_wall["postgresql"] - plan_wall["sqlite"]
        rows.append([f"plan {args.rows:,} rows, best of {args.runs}", f"PostgreSQL <= SQLite + {TARGET_PLAN_GAP:g} s",
                     f"{plan_wall['sqlite']:.2f} s", f"{plan_wall['postgresql']:.2f} s (+{gap:.2f} s)",
                     verdict(gap, TARGET_PLAN_GAP)])
    finally:
        server.stop()
    print(table(rows))


if __name__ == "__main__":
    main()
