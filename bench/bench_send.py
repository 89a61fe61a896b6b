"""Benchmark: ``smsrun send`` of the 1,000,000-row campaign, one text to all, 500 per request.

    .venv/bin/python bench/bench_send.py [--rows N] [--skip-outbox]

Runs the real ``smsrun send --yes --json`` in a subprocess, on a fresh state folder:

* provider ``ovh`` (signed httpx client, one POST /jobs per 500 recipients) against
  bench/loopback_provider.py, a minimal loopback OVHcloud API in its own process;
* provider ``outbox`` (the embedded SQLite outbox), same list.

Each run claims (committed, synchronous=FULL) before every request and settles after it, as in
production: recipients are written when claimed, and the claims and settles are written by the
ledger writer thread beside the HTTP (runner/send/writer.py). Printed: the send phase's rate
(recipients sent / the engine's elapsed time: ordering, claims, requests, settles), the whole
command's rate (plan included), peak RSS, and checks: every recipient reached the loopback exactly
once and every ledger row is ``sent``. In the same run, a bare httpx loop posting the same
500-receiver bodies to the same server gives the HTTP ceiling. The in-process breakdown times the
send loop's steps and, apart, the writer thread's (they overlap), with the CPU both processes used.

Target (issue 5): >= 100,000 recipients/s end to end including the ledger writes. Floors
(shared/reference/performance-floors.md): httpx -> uvicorn at batch 500, c=1: 1,422 req/s (711k
receivers/s); SQLite, tuned, one transaction: 481k-522k inserts/s; 500-row updates: 376k/s (FULL)
to 572k/s (NORMAL, one UPDATE ... IN).
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

TARGET = 100_000
FLOOR_HTTPX_REQ = 1_422  # req/s, batch 500, c=1 (floors §4)


def send_once(campaign: Path, env: dict[str, str]) -> tuple[dict[str, object], float, float, dict[str, int]]:
    with tempfile.TemporaryDirectory(prefix="smsrun-bench-send-") as tmp:
        state = Path(tmp)
        result = run_measured([SMSRUN, "send", "--yes", "--json", "--state-dir", str(state), str(campaign)],
                              env=env)
        check(result, f"send {campaign.name}")
        report: dict[str, object] = json.loads(result.stdout)
        counts = ledger_counts(state, str(report["campaign"]))
    return report, result.wall, result.max_rss_mb, counts


def breakdown(campaign: Path, env: dict[str, str]) -> tuple[int, float, dict[str, float]]:
    """The same send in this process, timing the ledger and provider calls (seconds per step)."""
    import os
    import time
    from collections.abc import Callable
    from typing import Any

    from runner.check import load_campaign
    from runner.ledger.store import Ledger
    from runner.plan import PlanOptions, build_plan
    from runner.providers.ovh import OvhProvider
    from runner.send import SendOptions, send_plan

    spent: dict[str, float] = {}

    def timed(cls: type, name: str, label: str) -> Callable[[], None]:
        original = getattr(cls, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started

        setattr(cls, name, wrapper)
        return lambda: setattr(cls, name, original)

    from runner.send import claims

    os.environ.update(env)
    # on the send loop's thread; the writer thread's work (claims, settles) overlaps it and is shown apart
    undo = [timed(claims.Groups, "claimed", "wait for the claim (writer thread)"),
            timed(claims.Groups, "__init__", "order the new recipients"),
            timed(claims.Groups, "next", "next group (pages, batches)"),
            timed(Ledger, "pending_after", "ledger: read pages"),
            timed(OvhProvider, "send", "provider (HTTP, JSON, signing)"),
            timed(Ledger, "claim_new", "writer: claims of new recipients"),
            timed(Ledger, "claim_many", "writer: claims of pending rows"),
            timed(Ledger, "settle", "writer: settles")]
    try:
        with tempfile.TemporaryDirectory(prefix="smsrun-bench-send-") as tmp:
            plan = build_plan(load_campaign(campaign), PlanOptions(state_dir=Path(tmp), check_provider=False))
            started, cpu = time.perf_counter(), os.times()
            report = send_plan(plan, SendOptions(handle_sigint=False))
            elapsed = time.perf_counter() - started
            used = os.times()
            print(f"  (send phase CPU in this process: {used.user - cpu.user + used.system - cpu.system:.2f} s "
                  f"for {elapsed:.2f} s wall on {os.cpu_count()} cores)")
    finally:
        for restore in undo:
            restore()
    spent["engine (results, rest)"] = elapsed - sum(v for k, v in spent.items()
                                                   if not k.startswith(("writer:", "ledger: read")))
    return report.sent, elapsed, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-outbox", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process run that times each step")
    args = parser.parse_args()
    files = ensure(args.rows)

    rows: list[list[str]] = [["measure", "target", "measured", "floor / baseline", "verdict"]]
    with Loopback() as loopback:
        receivers = [f"+336{i:08d}" for i in range(500)]
        body = json.dumps({"message": "x" * 95, "receivers": receivers, "charset": "UTF-8", "coding": "7bit",
                           "noStopClause": True, "priority": "high", "tag": "bench"}).encode()
        bare_req, _ = bare_httpx(loopback.base_url, [body])
        loopback.reset()
        rows.append(["bare httpx loop, 500 receivers/request", "", f"{bare_req:,.0f} req/s "
                     f"({bare_req * 500:,.0f} recipients/s)", f"{FLOOR_HTTPX_REQ:,} req/s (floors §4)", ""])

        runs = [("ovh -> loopback", files["send"], loopback.env)]
        if not args.skip_outbox:
            runs.append(("outbox", files["outbox"], {}))
        for label, campaign, env in runs:
            loopback.reset()
            report, wall, rss, counts = send_once(campaign, env)
            sent = int(str(report["sent"]))
            elapsed = float(str(report["elapsed_s"]))
            phase = sent / elapsed if elapsed else 0.0
            stats = loopback.stats()
            checks = [f"ledger {counts}"]
            if env:
                exact = stats["receivers"] == sent == stats["distinct"] and stats["repeated"] == 0
                checks.append(f"loopback got {stats['receivers']:,} receivers in {stats['requests']:,} requests, "
                              f"{stats['repeated']} repeated: {'exactly once' if exact else 'NOT EXACTLY ONCE'}")
            print(f"{label}: sent {sent:,}, requests {report['requests']}, engine {elapsed:.2f} s, command "
                  f"{wall:.2f} s; " + "; ".join(checks), file=sys.stderr)
            if counts.get("sent") != sent or len(counts) != 1:
                raise SystemExit(f"{label}: the ledger does not say every recipient was sent: {counts}")
            rows.append([f"send {label}: send phase (ledger + HTTP)", f">= {TARGET:,}/s",
                         f"{phase:,.0f} recipients/s", f"{FLOOR_HTTPX_REQ * 500:,}/s HTTP, 376k-572k/s ledger",
                         verdict(phase, TARGET, higher_is_better=True)])
            rows.append([f"send {label}: whole command (plan included)", "", f"{sent / wall:,.0f} recipients/s "
                         f"({wall:.1f} s)", "", ""])
            rows.append([f"send {label}: peak RSS", "", f"{rss:.0f} MB", "", ""])
        if not args.no_breakdown:
            loopback.reset()
            server_cpu = _cpu_seconds(loopback.process.pid)
            sent, elapsed, spent = breakdown(files["send"], loopback.env)
            print(f"  (the loopback server used {_cpu_seconds(loopback.process.pid) - server_cpu:.2f} s of CPU "
                  "meanwhile)")
    print(table(rows))
    if not args.no_breakdown:
        print(f"\nwhere the send phase goes (OVH provider, in-process, {sent:,} recipients in {elapsed:.2f} s = "
              f"{sent / elapsed:,.0f}/s):")
        for label, seconds in spent.items():
            print(f"  {label:34s} {seconds:6.2f} s  {seconds / elapsed:4.0%}  {sent / seconds:>12,.0f} recipients/s")


def _cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
