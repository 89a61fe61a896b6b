"""Benchmark: 3,000 messages through a real Kannel (bearerbox + smsbox + fakesmsc on loopback).

    .venv/bin/python bench/bench_kannel.py [--messages N]

Moved here from tests/providers/test_kannel.py (issue 13), which asserted "< 20 s" and failed on busy
machines: the test keeps the exactly-once checks, this prints the time. Sends N messages (default 3,000;
every 7th personalised) in requests of 500 through KannelProvider, then waits until fakesmsc received all.
Prints the send time, the time until the last one arrived, and messages per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.campaign.model import Sender  # noqa: E402
from runner.providers.base import Batch, OutgoingMessage  # noqa: E402
from runner.providers.kannel import KannelProvider  # noqa: E402
from tests.support.kannel import KannelGateway, kannel_env, kannel_missing  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    missing = kannel_missing()
    if missing:
        raise SystemExit(f"Kannel is not available: {missing}")
    n = args.messages
    numbers = [f"+33612{i:06d}" for i in range(n)]
    texts = [f"Hi #{i}, sale -20% today" if i % 7 == 0 else "Sale -20% today at ACME, see you!" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="smsrun-bench-kannel-") as tmp, KannelGateway(Path(tmp)) as gateway:
        os.environ.update(kannel_env(gateway))
        since = gateway.mark()
        started = time.perf_counter()
        with KannelProvider({"url": gateway.sendsms_url, "short_code": "36180"}) as provider:
            for lo in range(0, n, 500):
                messages = [OutgoingMessage(numbers[i], texts[i], f"bench:{numbers[i]}")
                            for i in range(lo, min(lo + 500, n))]
                provider.send(Batch("bench", f"b{lo}", Sender("short-code"), False, "GSM-7", messages))
        sent = time.perf_counter() - started
        got = gateway.wait_for_messages(n, since=since, timeout=300)
        arrived = time.perf_counter() - started
    print(f"{n:,} messages through Kannel: sent in {sent:.1f} s ({n / sent:,.0f}/s), all {len(got):,} at fakesmsc "
          f"after {arrived:.1f} s ({n / arrived:,.0f}/s); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
