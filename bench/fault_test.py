"""Fault test: the real ``smsrun send`` against a faulty provider; count what the provider received.

Scenarios (each judged by the provider's own record, recipient by recipient):

* ``ovh-mix``: the loopback OVHcloud fake injects, on every API call (job POSTs and the reads of
  reconciliation alike), 10% 5xx (500/502/503), 5% 429, 2% connection dropped after the job was
  recorded, 2% answers slower than the client's timeout. Reports retries, reconciliations, the longest
  run of failed POSTs and the backoff before each retry (jittered, capped).
* ``ovh-down``: the fake fails every job POST (HTTP 500); the run must stop with a clear message after
  ``limits.max_consecutive_failures`` instead of spinning, lose nothing, then resume once it recovers.
* ``outbox``: the embedded outbox with ``SMSRUN_OUTBOX_FAULTS`` (refused batches, and batches recorded
  then failed as a dropped connection would).

Exit status 1 when a duplicate or a missing recipient is found, or a scenario misbehaves.

Usage: ``.venv/bin/python bench/fault_test.py [--recipients 10000] [--batch-size 50] [--seed 3]
[--outbox-faults retry=0.1,in_doubt_after_accept=0.02,seed=7]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.harness import (
    JOB_PATH,
    RETRYABLE_FAULTS,
    TimedFakeOvh,
    Verdict,
    inject_fault_mix,
    job_attempts,
    ledger_statuses,
    longest_failure_streak,
    make_campaign,
    outbox_record,
    ovh_provider,
    ovh_record,
    retry_gaps,
    send,
    status,
    verify,
)

RETRYABLE = RETRYABLE_FAULTS


def _line(name: str, verdict: Verdict, extra: dict[str, Any]) -> dict[str, Any]:
    return {"scenario": name, **verdict.figures(), **extra}


def ovh_mix(root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    with TimedFakeOvh() as fake:
        campaign = make_campaign(root / "mix", args.recipients, seed=args.seed,
                                 provider=ovh_provider(fake, batch_size=args.batch_size, timeout=args.timeout))
        inject_fault_mix(fake, seed=args.seed, delay=args.timeout * 1.5)
        result = send(campaign, campaign.env(fake.credentials), timeout=3600)
        fake.clear_faults()
        if result.code != 0:
            print(result.describe())
            return {"scenario": "ovh-mix", "exit": result.code}, False
        report = result.json
        verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                         status(campaign, campaign.env(fake.credentials)))
        injected = Counter(f"{'POST' if m == 'POST' else 'GET'} {f}" for _, m, _, f in fake.timeline if f)
        gaps = retry_gaps(fake, RETRYABLE)
        posts = job_attempts(fake)
        print(f"ovh-mix: {len(fake.timeline)} API calls, {sum(injected.values())} faults injected: "
              f"{dict(sorted(injected.items()))}")
        print(f"ovh-mix: {len(posts)} job POSTs, engine retries {report['retries']}, reconciled "
              f"{report['reconciled']} recipient(s), longest run of failed POSTs "
              f"{longest_failure_streak(fake, RETRYABLE)}")
        if gaps:
            print(f"ovh-mix: backoff before a retry: min {min(gaps):.3f}s, median {statistics.median(gaps):.3f}s, "
                  f"max {max(gaps):.3f}s over {len(gaps)} retries ({len({round(g, 3) for g in gaps})} distinct)")
        ok = verdict.ok and verdict.in_doubt == 0 and verdict.received_once == args.recipients
        if not ok:
            print(f"ovh-mix: FAILED: {verdict.problems()}")
        return _line("ovh-mix", verdict, {"retries": report["retries"], "reconciled": report["reconciled"],
                                          "elapsed_s": round(result.elapsed, 1)}), ok


def ovh_down(root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    limit = 5
    with TimedFakeOvh() as fake:
        campaign = make_campaign(root / "down", args.recipients, seed=args.seed, max_consecutive_failures=limit,
                                 provider=ovh_provider(fake, batch_size=args.batch_size, timeout=args.timeout))
        env = campaign.env(fake.credentials)
        fake.set_fault_rates(http_500=1.0, where=JOB_PATH)
        stopped = send(campaign, env, timeout=600)
        posts = len(job_attempts(fake))
        message = stopped.err.strip().splitlines()[-1] if stopped.err.strip() else ""
        print(f"ovh-down: exit {stopped.code} after {stopped.elapsed:.1f}s and {posts} job POSTs: {message}")
        reported = status(campaign, env)
        ok = (stopped.code == 1 and posts == limit and "Traceback" not in stopped.err
              and reported["pending"] == args.recipients and not ovh_record(fake))
        fake.clear_faults()
        resumed = send(campaign, env, timeout=3600)
        verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                         status(campaign, env))
        print(f"ovh-down: after recovery, exit {resumed.code}: {verdict.figures()}")
        ok = ok and resumed.code == 0 and verdict.ok and verdict.received_once == args.recipients
        if not ok:
            print("ovh-down: FAILED")
        return _line("ovh-down", verdict, {"retries": posts - 1, "reconciled": 0,
                                           "elapsed_s": round(stopped.elapsed + resumed.elapsed, 1)}), ok


def outbox(root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    campaign = make_campaign(root / "outbox", args.recipients, seed=args.seed,
                             provider={"name": "outbox", "batch_size": args.batch_size})
    env = campaign.env({"SMSRUN_OUTBOX_FAULTS": args.outbox_faults})
    result = send(campaign, env, timeout=3600)
    if result.code != 0:
        print(result.describe())
        return {"scenario": "outbox", "exit": result.code}, False
    report = result.json
    verdict = verify(campaign, outbox_record(campaign.state_dir, campaign.campaign_id),
                     ledger_statuses(campaign.state_dir, campaign.campaign_id), status(campaign, env))
    print(f"outbox ({args.outbox_faults}): {report['requests']} requests, retries {report['retries']}, "
          f"reconciled {report['reconciled']}")
    ok = verdict.ok and verdict.in_doubt == 0 and verdict.received_once == args.recipients
    if not ok:
        print(f"outbox: FAILED: {verdict.problems()}")
    return _line("outbox", verdict, {"retries": report["retries"], "reconciled": report["reconciled"],
                                     "elapsed_s": round(result.elapsed, 1)}), ok


COLUMNS = ("scenario", "recipients", "received_once", "duplicates", "missing", "in_doubt", "rejected", "retries",
           "reconciled", "elapsed_s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=0.5, help="the OVH client's timeout (slow = 1.5x)")
    parser.add_argument("--outbox-faults", default="retry=0.1,in_doubt_after_accept=0.02,seed=7")
    parser.add_argument("--only", choices=("ovh-mix", "ovh-down", "outbox"), action="append")
    args = parser.parse_args(argv)
    scenarios = {"ovh-mix": ovh_mix, "ovh-down": ovh_down, "outbox": outbox}
    rows: list[dict[str, Any]] = []
    all_ok = True
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smsrun-faults-") as folder:
        for name, scenario in scenarios.items():
            if args.only and name not in args.only:
                continue
            row, ok = scenario(Path(folder), args)
            rows.append(row)
            all_ok = all_ok and ok
            sys.stdout.flush()
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in COLUMNS}
    print()
    print("  ".join(c.rjust(widths[c]) for c in COLUMNS))
    for row in rows:
        print("  ".join(str(row.get(c, "")).rjust(widths[c]) for c in COLUMNS))
    print(f"\ntotal {time.monotonic() - started:.1f}s; " + ("all scenarios held" if all_ok else "FAILED"))
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
