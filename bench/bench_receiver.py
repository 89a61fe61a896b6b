"""Burst of delivery reports against the real ``smsrun receive`` (issue 10 §5).

20,000 Kannel delivery reports over 256 concurrent connections, a new connection each (as gateways
do), against one receiver process on a fresh SQLite ledger. Prints how many were answered 2xx, how
many refused / reset / timed out, the latency p50 / p99 / max (a full listen queue shows as SYN
retries: latencies of 1 s, 3 s, 7 s...), and how many reports the ledger holds afterwards (every 2xx
must be there). Target: every report 2xx, p99 under 1 s, none refused or reset, all stored.

    .venv/bin/python bench/bench_receiver.py [--reports 20000] [--concurrency 256]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SMSRUN
from runner.ledger.status import campaign_status
from tests.support.burst import burst, numbers, seed_sent

TOKEN = "bench-receiver-token-0123456789"
CAMPAIGN = "burst"


def start_receiver(state: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The real ``smsrun receive`` on a free port; its log (a line per request) goes to ``log``."""
    env = {**os.environ, "SMSRUN_RECEIVER_TOKEN": TOKEN, "SMSRUN_STATE_DIR": str(state)}
    with log.open("wb") as err:
        proc = subprocess.Popen([SMSRUN, "receive", "--listen", "127.0.0.1:0", "--state-dir", str(state)],
                                stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("smsrun receive did not start:\n" + log.read_text(errors="replace"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="smsrun-bench-receiver-") as tmp:
        state = Path(tmp) / "state"
        recipients = numbers(args.reports)
        seed_sent(state, CAMPAIGN, recipients)
        log = Path(tmp) / "receiver.log"
        proc, port = start_receiver(state, log)
        try:
            result = burst("127.0.0.1", port, TOKEN, CAMPAIGN, recipients, concurrency=args.concurrency)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            err = log.read_text(errors="replace")
        delivered = campaign_status(state, CAMPAIGN)["delivered"]
    print(f"receiver: {args.reports:,} reports over {args.concurrency} concurrent connections, a new one each")
    print("  " + result.summary())
    refused = sum(v for k, v in result.outcomes.items() if not k.isdigit())
    p99 = result.percentile(99)
    print(f"  in the ledger: {delivered:,} delivered of {result.ok:,} answered 2xx "
          f"({'every 2xx stored' if delivered >= result.ok else 'MISSING ' + str(result.ok - delivered)})")
    ok = result.ok == args.reports and refused == 0 and p99 < 1.0 and delivered >= result.ok
    print(f"  target: all 2xx, none refused/reset/timed out, p99 < 1 s, all stored: {'OK' if ok else 'MISSED'}")
    print(f"  receiver exit code {proc.returncode}; load after: {os.getloadavg()[0]:.2f}")
    if proc.returncode != 0:
        print(err[-2000:])


if __name__ == "__main__":
    main()
