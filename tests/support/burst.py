"""A burst of delivery reports the way a gateway sends them: many at once, a new connection each.

Shared by ``tests/receiver/test_burst.py`` (counts only) and ``bench/bench_receiver.py`` (latencies).

* :func:`seed_sent`: ``n`` messages of one campaign settled ``sent`` in the ledger, through the
  :class:`~runner.ledger.store.Ledger` API only (so the same seeding serves any ledger backend);
* :func:`burst`: ``n`` Kannel delivery reports (``GET .../kannel/dlr?id=<campaign>:<number>&status=1``,
  the query :class:`~runner.providers.kannel.KannelProvider` builds) over ``concurrency`` concurrent
  connections, each report on a connection of its own (``Connection: close``, as Kannel's smsbox
  does under load), with raw asyncio sockets so that the client is never what limits the server.
  Every report's outcome is classified: the HTTP status, or refused / reset / timed out / closed
  without an answer; the latency runs from the connect call to the end of the answer, so a SYN
  dropped by a full listen queue (retried after 1 s, 3 s...) shows in it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from runner.ledger.store import Ledger


def numbers(n: int) -> list[str]:
    return [f"+3361{i:07d}" for i in range(n)]


def seed_sent(state: Path, campaign: str, recipients: list[str]) -> None:
    """``recipients`` claimed in one request each, then settled ``sent`` (as a finished send leaves them)."""
    with Ledger(state) as ledger:
        ledger.add_pending(campaign, [(r, "Hello", 1) for r in recipients])
        rows = [row.rowid for row in ledger.rows(campaign, ["pending"])]
        ledger.claim_many([([rowid], f"{campaign}.burst.{i}") for i, rowid in enumerate(rows)])
        ledger.settle([("sent", None, None, None, rowid) for rowid in rows])


@dataclass
class BurstResult:
    outcomes: Counter[str] = field(default_factory=Counter)  # "200", "503", "refused", "reset", "timeout"...
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered report
    wall: float = 0.0
    answered_2xx: list[str] = field(default_factory=list)  # the recipients whose report got a 2xx

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def ok(self) -> int:
        return sum(v for k, v in self.outcomes.items() if k.startswith("2"))

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (f"{self.total:,} reports in {self.wall:.1f} s ({self.total / self.wall:,.0f}/s): {parts}; latency "
                f"p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms, max "
                f"{max(self.latencies, default=float('nan')) * 1000:.0f} ms")


def dlr_path(token: str, campaign: str, recipient: str) -> str:
    query = urllib.parse.urlencode({"id": f"{campaign}:{recipient}", "batch": "", "to": recipient, "status": "1",
                                    "answer": "", "ts": "1795551899"})
    return f"/{token}/kannel/dlr?{query}"


async def _one(host: str, port: int, path: str, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: Kannel/1.4.5\r\n"
               "Connection: close\r\n\r\n").encode()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            answer = await reader.read()  # the server closes after its answer (Connection: close)
    except ConnectionRefusedError:
        return "refused", time.monotonic() - started
    except ConnectionResetError:
        return "reset", time.monotonic() - started
    except TimeoutError:
        return "timeout", time.monotonic() - started
    except OSError as exc:
        return f"error {exc.errno}", time.monotonic() - started
    finally:
        if writer is not None:
            writer.close()
    elapsed = time.monotonic() - started
    if not answer.startswith(b"HTTP/1.1 "):
        return "no answer", elapsed
    return answer[9:12].decode("ascii", "replace"), elapsed


async def _burst(host: str, port: int, paths: list[tuple[str, str]], concurrency: int,
                 timeout: float) -> BurstResult:
    result = BurstResult()
    queue = iter(paths)

    async def worker() -> None:
        for recipient, path in queue:
            outcome, elapsed = await _one(host, port, path, timeout)
            result.outcomes[outcome] += 1
            if outcome.isdigit():
                result.latencies.append(elapsed)
            if outcome.startswith("2"):
                result.answered_2xx.append(recipient)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall = time.monotonic() - started
    return result


def burst(host: str, port: int, token: str, campaign: str, recipients: list[str], *, concurrency: int = 256,
          timeout: float = 60.0) -> BurstResult:
    """One delivery report per recipient, ``concurrency`` at a time, each on a new connection."""
    paths = [(r, dlr_path(token, campaign, r)) for r in recipients]
    return asyncio.run(_burst(host, port, paths, concurrency, timeout))
